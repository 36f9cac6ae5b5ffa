"""Calico against its real release manifests (../shared/fixtures/calico/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from generator import versions
from generator.calico_patch import POOL_VARIABLE, PatchError, main, patch_manifest

from .conftest import FIXTURES, REPO, render_spec
from .nodedata import files, scripts

MANIFESTS = sorted((FIXTURES / "calico").glob("calico-v*.yaml"))


def version_of(path: Path) -> str:
    return path.stem.removeprefix("calico-")


def pool_cidrs(text: str) -> list[str]:
    for document in yaml.load_all(text, Loader=yaml.CSafeLoader):
        if not document or document["kind"] != "DaemonSet":
            continue
        if document["metadata"]["name"] == "calico-node":
            containers = document["spec"]["template"]["spec"]["containers"]
            (container,) = [c for c in containers if c["name"] == "calico-node"]
            return [e["value"] for e in container["env"] if e["name"] == POOL_VARIABLE]
    raise AssertionError("no calico-node DaemonSet")


def test_fixtures_are_present() -> None:
    assert len(MANIFESTS) >= 4, f"Calico fixtures missing in {FIXTURES / 'calico'}"


@pytest.mark.parametrize("manifest", MANIFESTS, ids=version_of)
def test_real_manifests_ship_the_pool_commented_out_and_patch_sets_it(manifest: Path) -> None:
    text = manifest.read_text()
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


@pytest.mark.parametrize("manifest", MANIFESTS, ids=version_of)
def test_image_table_matches_the_real_manifest(manifest: Path) -> None:
    version = version_of(manifest)
    release = versions.CALICO[versions.calico_minor_of(version)]
    images = set(re.findall(r"^\s*image:\s*(\S+)\s*$", manifest.read_text(), re.MULTILINE))
    assert images == set(release.images(version))


def test_every_default_calico_has_a_real_manifest_to_test_against() -> None:
    tested = {version_of(m) for m in MANIFESTS}
    for minor in versions.KUBERNETES.values():
        assert minor.calico_default in tested, minor.name
        assert versions.calico_minor_of(minor.calico_default) in versions.CALICO


def test_not_a_calico_manifest_is_refused() -> None:
    with pytest.raises(PatchError, match="no DaemonSet calico-node"):
        patch_manifest("kind: ConfigMap\nmetadata: {name: x}\n", "10.0.0.0/16")
    with pytest.raises(PatchError, match="not a YAML manifest"):
        patch_manifest("a: [", "10.0.0.0/16")


def test_node_side_command(tmp_path: Path) -> None:
    target = tmp_path / "out.yaml"
    assert main(["--pod-cidr", "10.9.0.0/16", str(MANIFESTS[0]), str(target)]) == 0
    assert pool_cidrs(target.read_text()) == ["10.9.0.0/16"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\n")
    assert main(["--pod-cidr", "10.9.0.0/16", str(bad), str(target)]) == 1


def embedded_spec(tmp_path: Path, manifest: Path) -> Path:
    data = yaml.safe_load((REPO / "examples" / "single.yaml").read_text())
    data["spec"]["cni"] = {"calico": {"version": version_of(manifest), "manifest": manifest.name}}
    (tmp_path / manifest.name).write_bytes(manifest.read_bytes())
    spec = tmp_path / "embedded.yaml"
    spec.write_text(yaml.safe_dump(data))
    return spec


def test_local_manifest_is_patched_and_embedded(tmp_path: Path) -> None:
    manifest = FIXTURES / "calico" / "calico-v3.30.7.yaml"
    rendered = render_spec(embedded_spec(tmp_path, manifest))
    init = files(rendered, "master1")
    embedded = init["/etc/k8sgen/calico/calico-patched.yaml"]
    assert pool_cidrs(embedded["content"]) == ["10.244.0.0/16"]
    assert "/usr/local/lib/k8sgen/calico_patch.py" not in init
    script = scripts(rendered, "master1")["/usr/local/sbin/k8sgen-bootstrap"]
    assert "curl" not in script.split("phase_cni()")[1].split("}")[0]
    for worker in ("node1", "node2"):
        assert "/etc/k8sgen/calico/calico-patched.yaml" not in files(rendered, worker)


def test_url_manifest_is_downloaded_and_patched_on_the_node(tmp_path: Path) -> None:
    rendered = render_spec(REPO / "examples" / "single.yaml")
    init = files(rendered, "master1")
    assert init["/usr/local/lib/k8sgen/calico_patch.py"]["permissions"] == "0755"
    cni = scripts(rendered, "master1")["/usr/local/sbin/k8sgen-bootstrap"].split("phase_cni()")[1]
    assert rendered.cluster.calico.manifest_url in cni
    assert "--pod-cidr 10.244.0.0/16" in cni
