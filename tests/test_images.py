"""`k8sgen images`: every image a cluster pulls, checked against kubeadm's rules, the rendered
configuration, real Calico manifests and a real sync with skopeo into a loopback registry."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator import versions
from generator.calico_patch import main as patch_main
from generator.calico_patch import patch_manifest
from generator.cli import cli
from generator.offline.images import cluster_images
from generator.render.node import plan

from .support.loopback import running_registry, write_oci_image
from .support.nodedata import files, kubeadm_documents, scripts
from .support.repo import CALICO_FIXTURE_VERSIONS, EXAMPLES, REPO, calico_fixture
from .support.specs import Rendered, example, render_spec, write_spec
from .support.tools import need

AIRGAP = REPO / "examples" / "airgap-mirror.yaml"


def manifest_images(text: str) -> set[str]:
    return set(re.findall(r"^\s*image:\s*(\S+)\s*$", text, re.MULTILINE))


def test_kubeadm_images_with_a_custom_repository() -> None:
    cluster = render_spec(AIRGAP).cluster
    tags = versions.image_tags("1.33.6")
    refs = {i.component: i.reference for i in cluster_images(cluster)}
    repo = "registry.airgap.example/k8s"
    assert refs["kube-apiserver"] == f"{repo}/kube-apiserver:v1.33.6"
    assert refs["kube-proxy"] == f"{repo}/kube-proxy:v1.33.6"
    # kubeadm's rule: a custom repository serves CoreDNS as <repo>/coredns:<tag>.
    assert refs["coredns"] == f"{repo}/coredns:{tags.coredns}"
    assert refs["pause"] == f"{repo}/pause:{tags.pause}"
    assert refs["etcd"] == f"{repo}/etcd:{tags.etcd}"
    upstream = {i.component: i.upstream for i in cluster_images(cluster)}
    assert upstream["coredns"] == f"registry.k8s.io/coredns/coredns:{tags.coredns}"
    assert list(refs)[:7] == [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
        "coredns",
        "pause",
        "etcd",
    ]


def test_kubeadm_images_from_registry_k8s_io_keep_the_coredns_path() -> None:
    cluster = render_spec(REPO / "examples" / "debian12-k8s130.yaml").cluster
    image = next(i for i in cluster_images(cluster) if i.component == "coredns")
    assert image.reference == image.upstream == "registry.k8s.io/coredns/coredns:v1.11.3"
    assert image.mirror is None
    assert image.pull_from == ("registry.k8s.io",)


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.stem)
def test_every_image_a_node_names_is_listed(spec: Path) -> None:
    rendered = render_spec(spec)
    listed = {i.reference for i in cluster_images(rendered.cluster)}
    for node in rendered.cluster.nodes:
        assert set(plan(rendered.cluster, node).images) <= listed
        assert rendered.cluster.pause_image in listed
    init = rendered.cluster.init_node.name
    repository = kubeadm_documents(rendered, init)[1]["imageRepository"]
    assert {i.reference.rsplit("/", 1)[0] for i in cluster_images(rendered.cluster)[:4]} == {
        repository
    }


@pytest.mark.parametrize("version", CALICO_FIXTURE_VERSIONS)
def test_calico_images_move_to_the_mirror_in_real_manifests(version: str) -> None:
    manifest = calico_fixture(version)
    release = versions.CALICO[versions.calico_minor_of(version)]
    patched = patch_manifest(manifest.read_text(), "10.244.0.0/16", "harbor.example/calico")
    expected = {f"harbor.example/calico/{name}:{version}" for name in versions.CALICO_IMAGE_NAMES}
    assert manifest_images(patched) == expected
    # Without a repository the images stay where the release put them.
    unchanged = patch_manifest(manifest.read_text(), "10.244.0.0/16")
    assert manifest_images(unchanged) == set(release.images(version))


def test_embedded_manifest_images_are_the_listed_ones(tmp_path: Path) -> None:
    data = example("airgap-mirror", spec__cni__calico__manifest="calico.yaml")
    (tmp_path / "calico.yaml").write_bytes(calico_fixture("v3.30.7").read_bytes())
    rendered = render_spec(write_spec(tmp_path, data, "embedded.yaml"))
    embedded = files(rendered, "cp1")["/etc/k8sgen/calico/calico-patched.yaml"]["content"]
    calico = {i.reference for i in cluster_images(rendered.cluster) if i.group == "calico"}
    assert manifest_images(embedded) == calico
    assert all(ref.startswith("registry.airgap.example/calico/") for ref in calico)


def test_downloaded_manifest_is_moved_on_the_node(tmp_path: Path) -> None:
    rendered = render_spec(AIRGAP)
    cni = scripts(rendered, "cp1")["/usr/local/sbin/k8sgen-bootstrap"].split("phase_cni()")[1]
    assert "--image-repository registry.airgap.example/calico" in cni
    target = tmp_path / "patched.yaml"
    source = str(calico_fixture("v3.30.7"))
    argv = ["--pod-cidr", "10.244.0.0/16", "--image-repository", "registry.airgap.example/calico"]
    assert patch_main([*argv, source, str(target)]) == 0
    calico = {i.reference for i in cluster_images(rendered.cluster) if i.group == "calico"}
    assert manifest_images(target.read_text()) == calico


def test_images_command_names_the_patch_whose_tags_it_used(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, example("airgap-mirror", spec__kubernetes__version="1.33.4"))
    listed = CliRunner().invoke(cli, ["images", str(spec)])
    assert listed.exit_code == 0, listed.output
    assert "kubeadm 1.33.6, the nearest known patch" in listed.stderr


def test_images_command_formats() -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["images", str(AIRGAP)])
    assert listed.exit_code == 0, listed.output
    assert listed.stderr == ""  # 1.33.6 is in the image table
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["IMAGE", "UPSTREAM", "PULLED", "FROM"]
    assert len(lines) == 1 + 7 + 3
    assert lines[5].split() == [
        "registry.airgap.example/k8s/coredns:v1.12.0",
        "registry.k8s.io/coredns/coredns:v1.12.0",
        "registry.airgap.example",
    ]
    as_json = runner.invoke(cli, ["images", str(AIRGAP), "--format", "json"])
    data = json.loads(as_json.stdout)
    assert data["kubernetesVersion"] == "1.33.6"
    assert [i["reference"] for i in data["images"]] == [line.split()[0] for line in lines[1:]]
    bad = runner.invoke(cli, ["images", str(AIRGAP), "--format", "xml"])
    assert bad.exit_code == 2


def test_registry_mirrors_are_where_images_are_pulled_from() -> None:
    cluster = render_spec(REPO / "examples" / "single.yaml").cluster
    node = next(i for i in cluster_images(cluster) if i.component == "calico/node")
    assert node.pull_from == ("docker.m.daocloud.io", "docker.io")
    assert node.mirror == "docker.m.daocloud.io/calico/node:v3.30.7"


def test_offline_mirrors_have_no_upstream_fallback() -> None:
    rendered: Rendered = render_spec(AIRGAP)
    for image in cluster_images(rendered.cluster):
        assert image.pull_from == ("registry.airgap.example",)


def sync_spec(tmp_path: Path, registry: str) -> Path:
    data = example(
        "airgap-mirror",
        spec__mirrors__images=f"{registry}/k8s",
        spec__mirrors__calicoImages=f"{registry}/calico",
    )
    return write_spec(tmp_path, data, "sync.yaml")


def test_skopeo_sync_script_fills_a_real_registry(tmp_path: Path) -> None:
    """The script runs with real skopeo; upstream registries are rewritten to loopback."""
    need("skopeo")
    layout = tmp_path / "layout"
    write_oci_image(layout, "test", "k8sgen sync test", ("amd64", "arm64"))
    with running_registry(tmp_path / "registry") as registry:
        spec = sync_spec(tmp_path, registry.host)
        result = CliRunner().invoke(cli, ["images", str(spec), "--format", "skopeo-sync"])
        assert result.exit_code == 0, result.output
        upstream = f"{registry.host}/upstream"
        script = result.stdout.replace("docker://registry.k8s.io/", f"docker://{upstream}/")
        script = script.replace("docker://docker.io/", f"docker://{upstream}/")
        # The loopback registry speaks plain HTTP.
        script = script.replace(
            "skopeo copy", "skopeo copy --src-tls-verify=false --dest-tls-verify=false"
        )
        copies = [line for line in script.splitlines() if line.startswith("skopeo copy")]
        assert len(copies) == 10
        sources = [line.split()[-2].removeprefix("docker://") for line in copies]
        for source in sources:
            registry.push(layout, "test", source)
        (tmp_path / "sync.sh").write_text(script)
        need("sh")
        run = subprocess.run(
            ["sh", str(tmp_path / "sync.sh")],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin"},
        )
        assert run.returncode == 0, run.stderr
        cluster = render_spec(spec).cluster
        for image in cluster_images(cluster):
            assert registry.has(image.reference), image.reference


def test_kube_vip_is_listed_with_the_control_plane_images() -> None:
    cluster = render_spec(REPO / "examples" / "ha-vip.yaml").cluster
    vip = cluster_images(cluster)[-1]
    assert vip.component == "kube-vip"
    assert vip.reference == vip.upstream == f"ghcr.io/kube-vip/kube-vip:{versions.KUBE_VIP_VERSION}"
    assert vip.pull_from == ("ghcr.m.daocloud.io", "ghcr.io")
    for node in cluster.control_planes:
        assert vip.reference in plan(cluster, node).images
