"""The zero-egress lint: clean on every offline example, one failing spec per leak class.

Every finding must point at the node, the file and the line where the host really is.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from generator.cli import cli
from generator.offline.lint import IMAGE, Reach, lint
from generator.refs import url_host
from generator.render import RenderOptions, render

from .support.counting import renders_per_node
from .support.nodedata import files
from .support.repo import EXAMPLES, REPO, calico_fixture
from .support.specs import Rendered, example, render_spec, write_spec

AIRGAP = REPO / "examples" / "airgap-mirror.yaml"
OFFLINE_EXAMPLES = [p for p in EXAMPLES if example(p.stem)["spec"].get("offline")]


def spec_file(tmp_path: Path, data: dict[str, Any], name: str = "leak.yaml") -> Path:
    return write_spec(tmp_path, data, name)


def findings_of(rendered: Rendered) -> list[Reach]:
    return list(lint(rendered.cluster, rendered.artifacts.values()).findings)


def text_of(rendered: Rendered, finding: Reach) -> str:
    if finding.file == "user-data":
        return rendered.text(f"nodes/{finding.node}/user-data")
    return str(files(rendered, finding.node)[finding.file]["content"])


def assert_located(rendered: Rendered, findings: list[Reach]) -> None:
    """Each finding's file and line really hold the host it names."""
    assert findings
    for finding in findings:
        line = text_of(rendered, finding).splitlines()[finding.line - 1]
        assert finding.host in line, (finding, line)


def test_there_is_an_offline_example() -> None:
    assert AIRGAP in OFFLINE_EXAMPLES


@pytest.mark.parametrize("spec", OFFLINE_EXAMPLES, ids=lambda p: p.stem)
def test_offline_examples_are_clean(spec: Path) -> None:
    rendered = render_spec(spec)
    report = lint(rendered.cluster, rendered.artifacts.values())
    assert report.findings == ()
    assert report.nodes == len(rendered.cluster.nodes)
    assert report.reaches > 0
    assert report.summary().startswith("zero-egress lint: clean (")


def without(path: str) -> dict[str, Any]:
    data = example("airgap-mirror")
    *parents, last = path.split(".")
    target = data
    for part in parents:
        target = target[part]
    del target[last]
    return data


def test_leak_pause_image(tmp_path: Path) -> None:
    """imageRepository from a preset (not named by the spec): pause and control plane leak."""
    data = without("spec.mirrors.images")
    data["spec"]["mirrors"]["preset"] = "aliyun"
    rendered = render_spec(spec_file(tmp_path, data))
    findings = findings_of(rendered)
    assert_located(rendered, findings)
    assert {f.host for f in findings} == {"registry.aliyuncs.com"}
    places = {(f.node, f.file) for f in findings}
    for node in ("cp1", "w1", "w2"):
        assert (node, "/etc/k8sgen/containerd/config-v2.toml") in places
        assert (node, "/etc/k8sgen/containerd/config-v3.toml") in places
    assert ("cp1", "/etc/k8sgen/kubeadm.yaml") in places
    sandbox = next(f for f in findings if f.file.endswith("config-v2.toml") and f.node == "w1")
    assert "sandbox_image" in text_of(rendered, sandbox).splitlines()[sandbox.line - 1]


def test_leak_cni_image(tmp_path: Path) -> None:
    """Calico images left on docker.io with no docker.io mirror on the nodes."""
    data = without("spec.mirrors.calicoImages")
    del data["spec"]["mirrors"]["registries"]["docker.io"]
    rendered = render_spec(spec_file(tmp_path, data))
    findings = findings_of(rendered)
    assert_located(rendered, findings)
    assert {f.host for f in findings} == {"docker.io"}
    assert {f.file for f in findings} == {"/usr/local/sbin/k8sgen-bootstrap"}
    assert {f.node for f in findings} == {"cp1", "w1", "w2"}


def test_leak_cni_image_in_an_embedded_manifest(tmp_path: Path) -> None:
    data = without("spec.mirrors.calicoImages")
    del data["spec"]["mirrors"]["registries"]["docker.io"]
    data["spec"]["cni"]["calico"]["manifest"] = "calico.yaml"
    (tmp_path / "calico.yaml").write_bytes(calico_fixture("v3.30.7").read_bytes())
    rendered = render_spec(spec_file(tmp_path, data))
    findings = [f for f in findings_of(rendered) if f.file.endswith("calico-patched.yaml")]
    assert_located(rendered, findings)
    assert len(findings) >= 3  # cni and node (init containers too), kube-controllers
    assert {(f.node, f.host) for f in findings} == {("cp1", "docker.io")}


def test_leak_manifest_url(tmp_path: Path) -> None:
    """No manifest named: the init node would download calico.yaml from the public mirrors."""
    rendered = render_spec(spec_file(tmp_path, without("spec.cni.calico.manifest")))
    findings = findings_of(rendered)
    assert_located(rendered, findings)
    mirrors = [url_host(u) for u in rendered.cluster.calico.manifest_urls]
    assert "raw.githubusercontent.com" in mirrors and len(mirrors) > 1
    assert sorted((f.node, f.file, f.host, f.what) for f in findings) == sorted(
        ("cp1", "/usr/local/sbin/k8sgen-bootstrap", host, "URL") for host in mirrors
    )


def test_leak_package_repository(tmp_path: Path) -> None:
    """Package mirrors from a preset: repository lists and key downloads leak."""
    data = without("spec.mirrors.packages")
    del data["spec"]["mirrors"]["containerd"]
    data["spec"]["mirrors"]["preset"] = "upstream"
    rendered = render_spec(spec_file(tmp_path, data))
    findings = findings_of(rendered)
    assert_located(rendered, findings)
    assert {f.host for f in findings} == {"pkgs.k8s.io", "download.docker.com"}
    assert {f.file for f in findings} == {
        "/etc/k8sgen/apt/kubernetes.list",
        "/etc/k8sgen/apt/containerd.list",
        "/usr/local/sbin/k8sgen-bootstrap",  # the repository keys
    }


def test_leak_ntp_server(tmp_path: Path) -> None:
    """No ntp named: the default public server would be used."""
    rendered = render_spec(spec_file(tmp_path, without("spec.ntp")))
    findings = findings_of(rendered)
    assert_located(rendered, findings)
    assert [(f.file, f.host, f.what) for f in findings] == [
        ("user-data", "ntp.aliyun.com", "NTP server")
    ] * 3


def test_allowed_hosts_admit_a_leak(tmp_path: Path) -> None:
    data = without("spec.ntp")
    data["spec"]["offline"]["allowedHosts"] = ["ntp.aliyun.com"]
    assert findings_of(render_spec(spec_file(tmp_path, data))) == []


def test_without_the_guarantee_containerd_falls_back_upstream(tmp_path: Path) -> None:
    data = example("airgap-mirror")
    data["spec"]["offline"]["enabled"] = False
    rendered = render_spec(spec_file(tmp_path, data))
    findings = findings_of(rendered)
    assert_located(rendered, findings)
    assert {f.host for f in findings} == {
        "registry-1.docker.io",
        "quay.io",
        "ghcr.io",
        "registry.k8s.io",
    }
    assert all(f.file.endswith("/hosts.toml") for f in findings)


def test_image_pattern_is_not_fooled_by_paths_and_subnets() -> None:
    line = "install -m 0644 /etc/containerd/certs.d/x --pod-cidr 10.244.0.0/16 https://a.example/b"
    assert IMAGE.findall(line) == []
    assert [
        m.group(0) for m in IMAGE.finditer("for i in 'r.example:5000/k8s/pause:3.10' ; do")
    ] == ["r.example:5000/k8s/pause:3.10"]


def test_render_refuses_to_write_a_leaking_offline_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_file(tmp_path, without("spec.ntp"), "cluster.yaml")
    out = tmp_path / "out"
    counts = renders_per_node(monkeypatch)
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(out)])
    assert result.exit_code == 1
    assert counts == {"cp1": 1, "w1": 1, "w2": 1}  # the preflight; the write pass never began
    assert not out.exists()
    assert not (tmp_path / "cluster.secrets.yaml").exists()  # no secrets either
    lines = result.stderr.splitlines()
    assert lines[0] == "error: zero-egress lint failed (offline.enabled), render wrote no output:"
    assert "  cp1: user-data:" in result.stderr and "ntp.aliyun.com (NTP server)" in result.stderr
    assert lines[-1].startswith("zero-egress lint: 3 reaches to hosts outside the allowed set")


def test_render_of_a_clean_offline_spec_ends_with_the_lint_summary(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, example("airgap-mirror"), "cluster.yaml")
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("zero-egress lint: clean (3 nodes,")


def test_lint_command(tmp_path: Path) -> None:
    runner = CliRunner()
    clean = runner.invoke(cli, ["lint", str(AIRGAP)])
    assert clean.exit_code == 0, clean.output
    assert clean.stderr == ""
    assert clean.stdout.count("\n") == 1 and clean.stdout.startswith("zero-egress lint: clean")
    leaking = runner.invoke(cli, ["lint", str(spec_file(tmp_path, without("spec.ntp")))])
    assert leaking.exit_code == 1
    pattern = re.compile(r"^(cp1|w1|w2): user-data:\d+: ntp\.aliyun\.com \(NTP server\)$")
    assert [bool(pattern.match(line)) for line in leaking.stdout.splitlines()] == [True] * 3
    assert leaking.stderr.startswith("zero-egress lint: 3 reaches to hosts outside")
    online = runner.invoke(cli, ["lint", str(REPO / "examples" / "single.yaml")])
    assert online.exit_code == 1
    assert "offline.enabled is false: render does not enforce this" in online.stderr


def with_vip(image: str | None) -> dict[str, Any]:
    data = example("airgap-mirror")
    vip: dict[str, Any] = {"address": "10.30.0.100", "interface": "ens3"}
    if image:
        vip["image"] = image
    data["spec"]["controlPlane"] = {"vip": vip}
    del data["spec"]["mirrors"]["registries"]["ghcr.io"]
    return data


def test_leak_kube_vip_image(tmp_path: Path) -> None:
    """kube-vip from ghcr.io with no ghcr.io mirror: its static pod and pre-pull leak."""
    rendered = render_spec(spec_file(tmp_path, with_vip(None)))
    findings = findings_of(rendered)
    assert_located(rendered, findings)
    assert {f.host for f in findings} == {"ghcr.io"}
    assert {f.node for f in findings} == {"cp1"}


def test_kube_vip_image_on_the_mirror_is_clean(tmp_path: Path) -> None:
    image = "registry.airgap.example/kube-vip/kube-vip:v0.8.9"
    rendered = render_spec(spec_file(tmp_path, with_vip(image)))
    assert findings_of(rendered) == []


def test_leak_rpm_package_repository(tmp_path: Path) -> None:
    """rpm families: cloud-init's yum_repos (in the cloud-config itself) are read too."""
    data = without("spec.mirrors.packages")
    del data["spec"]["mirrors"]["containerd"]
    data["spec"]["mirrors"]["preset"] = "aliyun"
    data["spec"]["os"] = {"family": "rocky", "version": "9"}
    rendered = render_spec(spec_file(tmp_path, data))
    findings = findings_of(rendered)
    assert_located(rendered, findings)
    assert {(f.file, f.host) for f in findings} == {("user-data", "mirrors.aliyun.com")}
    assert {f.node for f in findings} == {"cp1", "w1", "w2"}


def test_a_write_files_source_url_is_a_reach() -> None:
    rendered = render_spec(AIRGAP)
    artifact = rendered.artifacts["nodes/w1/user-data"]
    config = yaml.safe_load(artifact.content)
    config["write_files"].append(
        {"path": "/etc/extra", "source": {"uri": "https://files.example.net/extra"}}
    )
    text = "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False)
    changed = replace(artifact, content=text.encode())
    report = lint(rendered.cluster, [changed])
    assert [(f.node, f.file, f.host) for f in report.findings] == [
        ("w1", "user-data", "files.example.net")
    ]
    line = text.splitlines()[report.findings[0].line - 1]
    assert "https://files.example.net/extra" in line


def test_gzipped_user_data_is_read_too() -> None:
    rendered = render_spec(AIRGAP)
    plain = lint(rendered.cluster, rendered.artifacts.values())
    packed = lint(
        rendered.cluster, render(rendered.cluster, rendered.secrets, RenderOptions(gzip=True))
    )
    assert packed == plain and plain.reaches > 0
