"""Calico against its real release manifests (../shared/fixtures/calico/)."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from generator import model, versions
from generator.calico_patch import POOL_VARIABLE, PatchError, main, patch_manifest
from generator.cli import cli
from generator.offline.bundle import _calico_manifest as bundle_manifest
from generator.offline.bundle.tools import BundleError
from generator.offline.lint import lint
from generator.refs import url_host

from .support.calico_download import run_calico_download
from .support.loopback import file_server
from .support.nodedata import files, scripts, shell_function
from .support.readyz_servers import closed_port
from .support.repo import CALICO_FIXTURE_VERSIONS, REPO, calico_fixture
from .support.specs import Rendered, example, render_spec, write_spec


def pool_cidrs(text: str) -> list[str]:
    for document in yaml.load_all(text, Loader=yaml.CSafeLoader):
        if not document or document["kind"] != "DaemonSet":
            continue
        if document["metadata"]["name"] == "calico-node":
            containers = document["spec"]["template"]["spec"]["containers"]
            (container,) = [c for c in containers if c["name"] == "calico-node"]
            return [e["value"] for e in container["env"] if e["name"] == POOL_VARIABLE]
    raise AssertionError("no calico-node DaemonSet")


@pytest.mark.parametrize("version", CALICO_FIXTURE_VERSIONS)
def test_real_manifests_ship_the_pool_commented_out_and_patch_sets_it(version: str) -> None:
    text = calico_fixture(version).read_text()
    assert pool_cidrs(text) == []
    assert f"# - name: {POOL_VARIABLE}" in text
    patched = patch_manifest(text, "10.244.0.0/16")
    assert pool_cidrs(patched) == ["10.244.0.0/16"]
    # Patching twice replaces, never duplicates.
    assert pool_cidrs(patch_manifest(patched, "172.20.0.0/16")) == ["172.20.0.0/16"]
    before = [d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d]
    after = [d for d in yaml.load_all(patched, Loader=yaml.CSafeLoader) if d]
    assert [(d["kind"], d["metadata"]["name"]) for d in before] == [
        (d["kind"], d["metadata"]["name"]) for d in after
    ]


@pytest.mark.parametrize("version", CALICO_FIXTURE_VERSIONS)
def test_image_table_matches_the_real_manifest(version: str) -> None:
    release = versions.CALICO[versions.calico_minor_of(version)]
    text = calico_fixture(version).read_text()
    images = set(re.findall(r"^\s*image:\s*(\S+)\s*$", text, re.MULTILINE))
    assert images == set(release.images(version))


def test_every_default_calico_has_a_real_manifest_to_test_against() -> None:
    for minor in versions.KUBERNETES.values():
        assert minor.calico_default in CALICO_FIXTURE_VERSIONS, minor.name
        assert versions.calico_minor_of(minor.calico_default) in versions.CALICO


def test_not_a_calico_manifest_is_refused() -> None:
    with pytest.raises(PatchError, match="no DaemonSet calico-node"):
        patch_manifest("kind: ConfigMap\nmetadata: {name: x}\n", "10.0.0.0/16")
    with pytest.raises(PatchError, match="not a YAML manifest"):
        patch_manifest("a: [", "10.0.0.0/16")


def test_node_side_command(tmp_path: Path) -> None:
    target = tmp_path / "out.yaml"
    source = calico_fixture(CALICO_FIXTURE_VERSIONS[0])
    assert main(["--pod-cidr", "10.9.0.0/16", str(source), str(target)]) == 0
    assert pool_cidrs(target.read_text()) == ["10.9.0.0/16"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\n")
    assert main(["--pod-cidr", "10.9.0.0/16", str(bad), str(target)]) == 1


def embedded_spec(tmp_path: Path, manifest: Path) -> Path:
    version = manifest.stem.removeprefix("calico-")
    data = example("single", spec__cni={"calico": {"version": version, "manifest": manifest.name}})
    (tmp_path / manifest.name).write_bytes(manifest.read_bytes())
    return write_spec(tmp_path, data, "embedded.yaml")


def test_local_manifest_is_patched_and_embedded(tmp_path: Path) -> None:
    manifest = calico_fixture("v3.30.7")
    rendered = render_spec(embedded_spec(tmp_path, manifest))
    init = files(rendered, "master1")
    embedded = init["/etc/k8sgen/calico/calico-patched.yaml"]
    assert pool_cidrs(embedded["content"]) == ["10.244.0.0/16"]
    assert "/usr/local/lib/k8sgen/calico_patch.py" not in init
    script = scripts(rendered, "master1")["/usr/local/sbin/k8sgen-bootstrap"]
    assert "curl" not in script.split("phase_cni()")[1].split("}")[0]
    for worker in ("node1", "node2"):
        assert "/etc/k8sgen/calico/calico-patched.yaml" not in files(rendered, worker)


BOOTSTRAP = "/usr/local/sbin/k8sgen-bootstrap"


def test_url_manifest_is_downloaded_verified_and_patched_on_the_node() -> None:
    rendered = render_spec(REPO / "examples" / "single.yaml")
    calico = rendered.cluster.calico
    init = files(rendered, "master1")
    assert init["/usr/local/lib/k8sgen/calico_patch.py"]["permissions"] == "0755"
    script = scripts(rendered, "master1")[BOOTSTRAP]
    cni = shell_function(script, "phase_cni")
    assert "retry calico_download" in cni
    assert "--pod-cidr 10.244.0.0/16" in cni
    download = shell_function(script, "calico_download")
    # Mirrors that answer from mainland China first, GitHub last; each verified the same way.
    assert calico.manifest_urls == tuple(
        url.format(version=calico.version) for url in model.CALICO_MANIFEST_MIRRORS
    )
    assert calico.manifest_urls[-1].startswith("https://raw.githubusercontent.com/")
    assert f"local urls=({' '.join(calico.manifest_urls)}) url error" in download
    assert calico.manifest_sha256 == versions.CALICO_MANIFEST_SHA256[calico.version]
    assert f"printf '%s  %s\\n' {calico.manifest_sha256} " in download


@pytest.mark.parametrize("version", CALICO_FIXTURE_VERSIONS)
def test_known_hashes_are_those_of_the_real_release_manifests(version: str) -> None:
    digest = hashlib.sha256(calico_fixture(version).read_bytes()).hexdigest()
    assert versions.CALICO_MANIFEST_SHA256[version] == digest


def download_spec(tmp_path: Path, **calico: Any) -> Path:
    data = example("single", spec__cni={"calico": {"version": "v3.30.7", **calico}})
    return write_spec(tmp_path, data, "download.yaml")


def run_download(rendered: Rendered, config_dir: Path) -> subprocess.CompletedProcess[str]:
    return run_calico_download(scripts(rendered, "master1")[BOOTSTRAP], config_dir)


@pytest.fixture
def manifest_servers(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A mirror serving a tampered calico.yaml, a dead one, and a good one, on 127.0.0.1."""
    release = calico_fixture("v3.30.7").read_bytes()
    path = "gh/projectcalico/calico@v3.30.7/manifests/calico.yaml"
    for name, content in (
        ("tampered", release.replace(b"calico/node", b"evil/node")),
        ("good", release),
    ):
        (tmp_path / name / path).parent.mkdir(parents=True)
        (tmp_path / name / path).write_bytes(content)
    with file_server(tmp_path / "tampered") as tampered, file_server(tmp_path / "good") as good:
        yield {
            "tampered": f"{tampered}/{path}",
            "dead": f"http://127.0.0.1:{closed_port()}/{path}",
            "good": f"{good}/{path}",
        }


def test_node_takes_the_first_mirror_that_serves_the_release(
    tmp_path: Path, manifest_servers: dict[str, str]
) -> None:
    urls = [manifest_servers[name] for name in ("tampered", "dead", "good")]
    rendered = render_spec(download_spec(tmp_path, manifestMirrors=urls))
    config = tmp_path / "etc"
    (config / "calico").mkdir(parents=True)
    result = run_download(rendered, config)
    assert result.returncode == 0, result.stderr
    release = calico_fixture("v3.30.7").read_bytes()
    assert (config / "calico" / "calico.yaml").read_bytes() == release
    log = result.stderr.splitlines()
    assert "served a file whose sha256 is not ed105288" in log[0] and urls[0] in log[0]
    assert f"calico.yaml: {urls[1]} failed (curl: (7)" in log[1]
    assert log[2] == f"calico.yaml: from {urls[2]}, sha256 verified"


@pytest.mark.parametrize(
    ("mirrors", "last_line"),
    [
        # A mirror answered with another file: a checksum error, which no retry fixes.
        (("tampered", "dead"), "error: checksum: no URL served calico.yaml with sha256 "),
        # Only dead URLs: a network failure, retried.
        (("dead",), "error: no URL served calico.yaml with sha256 "),
    ],
)
def test_node_applies_nothing_when_no_mirror_serves_the_release(
    tmp_path: Path, manifest_servers: dict[str, str], mirrors: tuple[str, ...], last_line: str
) -> None:
    urls = [manifest_servers[name] for name in mirrors]
    rendered = render_spec(download_spec(tmp_path, manifestMirrors=urls))
    assert rendered.cluster.calico.manifest_urls == tuple(urls)
    config = tmp_path / "etc"
    (config / "calico").mkdir(parents=True)
    result = run_download(rendered, config)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith(last_line)
    assert list((config / "calico").iterdir()) == []


def test_an_explicit_sha256_is_what_the_node_checks(tmp_path: Path) -> None:
    rendered = render_spec(download_spec(tmp_path, version="v3.29.3", sha256="ab" * 32))
    assert rendered.cluster.calico.manifest_sha256 == "ab" * 32
    assert f"{'ab' * 32} " in shell_function(
        scripts(rendered, "master1")[BOOTSTRAP], "calico_download"
    )


def test_a_release_without_a_known_hash_needs_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(download_spec(tmp_path, version="v3.29.3"))])
    assert result.exit_code == 1
    assert (
        "spec.cni.calico: k8sgen knows no sha256 of Calico v3.29.3's calico.yaml" in result.stderr
    )
    assert "set cni.calico.sha256" in result.stderr


def test_default_specs_validate_without_warnings() -> None:
    for name in ("single.yaml", "ha-vip.yaml", "rocky9.yaml"):
        result = CliRunner().invoke(cli, ["validate", str(REPO / "examples" / name)])
        assert result.exit_code == 0, result.stderr
        assert "warning" not in result.stderr.lower(), result.stderr


def test_the_zero_egress_lint_sees_every_mirror(tmp_path: Path) -> None:
    rendered = render_spec(REPO / "examples" / "single.yaml")
    report = lint(rendered.cluster, rendered.artifacts.values())
    for url in rendered.cluster.calico.manifest_urls:
        assert url_host(url) in report.hosts


# --- hostile and malformed manifests (a mirror or a local file k8sgen did not write) ----------

BILLION_LAUGHS = "".join(
    [
        "kind: DaemonSet\nmetadata: {name: calico-node}\n",
        "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
        *(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)),
        "spec: {template: {spec: {containers: [{name: calico-node, env: *a9}]}}}\n",
    ]
)
PATCH_SCRIPT = REPO / "generator" / "calico_patch.py"
CALICO_NODE = "kind: DaemonSet\nmetadata: {name: calico-node}\n"


def test_yaml_aliases_are_refused_before_they_expand() -> None:
    """10**10 list items behind nine aliases: refused at the first alias, in well under a second."""
    started = time.monotonic()
    with pytest.raises(
        PatchError, match=r"^line 3: YAML alias of the node at this line: aliases are refused"
    ):
        patch_manifest(BILLION_LAUGHS, "10.0.0.0/16", "harbor.example/calico")
    assert time.monotonic() - started < 1
    merged = (
        CALICO_NODE
        + "base: &base {name: calico-node}\nspec: {template: {spec: {containers: [{<<: *base}]}}}\n"
    )
    with pytest.raises(PatchError, match="YAML alias"):
        patch_manifest(merged, "10.0.0.0/16")


@pytest.mark.parametrize("version", CALICO_FIXTURE_VERSIONS)
def test_real_manifests_have_no_yaml_aliases(version: str) -> None:
    """What makes refusing aliases safe: no release manifest uses one (nor an anchor)."""
    events = yaml.parse(calico_fixture(version).read_text(), Loader=yaml.CSafeLoader)
    assert not [e for e in events if isinstance(e, yaml.AliasEvent) or getattr(e, "anchor", None)]


MALFORMED = {
    "spec: {}": (
        "spec: {}\n",
        "DaemonSet calico-node: spec.template: expected a mapping, found nothing",
    ),
    "env: [hello]": (
        "spec: {template: {spec: {containers: [{name: calico-node, env: [hello]}]}}}\n",
        "spec.template.spec.containers[calico-node].env[0]: expected a mapping, found str 'hello'",
    ),
    "env: a mapping": (
        "spec: {template: {spec: {containers: [{name: calico-node, env: {a: b}}]}}}\n",
        "containers[calico-node].env: expected a list, found dict",
    ),
    "containers: a string": (
        "spec: {template: {spec: {containers: calico-node}}}\n",
        "spec.template.spec.containers: expected a list, found str 'calico-node'",
    ),
    "container: a list": (
        "spec: {template: {spec: {containers: [[name, calico-node]]}}}\n",
        "spec.template.spec.containers[0]: expected a mapping, found list",
    ),
    "metadata: a list": ("", "metadata: expected a mapping, found list"),
    "nested too deeply": ("x: " + "[" * 5000 + "]" * 5000 + "\n", "not a YAML manifest: "),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_manifest_is_a_one_line_error(name: str, tmp_path: Path) -> None:
    body, says = MALFORMED[name]
    text = CALICO_NODE + body if name != "metadata: a list" else "kind: DaemonSet\nmetadata: [a]\n"
    with pytest.raises(PatchError, match=re.escape(says)):
        patch_manifest(text, "10.0.0.0/16")
    # On the node: the shipped script, one line on stderr, exit 1, no traceback.
    source, target = tmp_path / "calico.yaml", tmp_path / "out.yaml"
    source.write_text(text)
    result = subprocess.run(
        [sys.executable, str(PATCH_SCRIPT), "--pod-cidr", "10.0.0.0/16", str(source), str(target)],
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(f"calico_patch: {source}: "), result.stderr
    assert says in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not target.exists()


def test_malformed_local_manifest_is_a_render_error(tmp_path: Path) -> None:
    """Render time: the same message after the file's path, no traceback (k8sgen exit 1)."""
    manifest = tmp_path / "calico.yaml"
    manifest.write_text(CALICO_NODE + "spec: {}\n")
    spec = embedded_spec(tmp_path, calico_fixture("v3.30.7"))
    data = yaml.safe_load(spec.read_text())
    data["spec"]["cni"]["calico"]["manifest"] = "calico.yaml"
    spec.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"{manifest}: DaemonSet calico-node: spec.template: expected a mapping" in result.stderr
    assert not (tmp_path / "out").exists()


def test_bundle_downloads_like_the_node(tmp_path: Path, manifest_servers: dict[str, str]) -> None:
    """k8sgen bundle takes the first URL with the release's sha256, and refuses the others."""
    urls = [manifest_servers[name] for name in ("tampered", "dead", "good")]
    cluster = render_spec(download_spec(tmp_path, manifestMirrors=urls)).cluster
    assert bundle_manifest(cluster) == calico_fixture("v3.30.7").read_text()
    refused = dataclasses.replace(
        cluster, calico=dataclasses.replace(cluster.calico, manifest_urls=tuple(urls[:2]))
    )
    with pytest.raises(BundleError) as caught:
        bundle_manifest(refused)
    lines = str(caught.value).splitlines()
    assert lines[0] == "cannot download calico.yaml:"
    assert lines[1] == f"  {urls[0]}: sha256 is not {versions.CALICO_MANIFEST_SHA256['v3.30.7']}"
    assert lines[2].startswith(f"  {urls[1]}: ")
