"""`k8sgen bundle` end to end on loopback: a signed apt site (packages built with dpkg-deb)
behind python's http.server, a real docker-registry with images the test wrote, real
apt-get and skopeo; the outputs are read back (sha256sum, OCI layout, the ISO), and the
node-side checks run against the bundle. Failure cases leave nothing behind."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pycdlib
import pytest
from click.testing import CliRunner, Result

from generator import versions
from generator.cli import cli
from generator.offline.bundle.archives import sources
from generator.offline.images import cluster_images

from .support.aptrepo import Deb, Signer, build_deb, dists_repository, flat_repository, signer
from .support.kubernetes_debs import (
    CONTAINERD_DEBS,
    KUBEADM_ETCD,
    KUBERNETES_DEBS,
    VERSION,
    island_spec,
)
from .support.loopback import (
    REF_NAME,
    Registry,
    file_server,
    running_containerd,
    running_registry,
    write_oci_image,
)
from .support.nodedata import files, scripts
from .support.repo import REPO, calico_fixture
from .support.specs import render_spec
from .support.tools import need

CALICO = "v3.30.7"
OS_DEPENDENCIES = ["conntrack", "iproute2 | iproute", "iptables", "libc6", "libseccomp2", "socat"]


PROXIES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


@contextmanager
def loopback_only() -> Iterator[None]:
    """apt, skopeo and urllib must not send loopback traffic through a proxy."""
    with pytest.MonkeyPatch.context() as patch:
        for name in PROXIES:
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signer]:
    with signer(tmp_path_factory.mktemp("gnupg") / "home") as value:
        yield value


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """The images the bundle pulls: control plane under /k8s, Calico at docker.io's paths."""
    root = tmp_path_factory.mktemp("registry")
    layout = root / "layout"
    write_oci_image(layout, "test", "k8sgen bundle test", ("amd64", "arm64"))
    with running_registry(root / "server") as value:
        names = [f"kube-{n}:v{VERSION}" for n in ("apiserver", "controller-manager", "scheduler")]
        names += [f"kube-proxy:v{VERSION}", "coredns:v1.12.0", "pause:3.10", f"etcd:{KUBEADM_ETCD}"]
        for name in names:
            value.push(layout, "test", f"{value.host}/k8s/{name}")
        for name in versions.CALICO_IMAGE_NAMES:
            value.push(layout, "test", f"{value.host}/calico/{name}:{CALICO}")
        yield value


def build_site(root: Path, key: Signer, kubernetes: list[Deb] = KUBERNETES_DEBS) -> Path:
    """ROOT/k8s/v1.33/deb/ (flat), ROOT/docker/linux/ubuntu/ (dists), ROOT/calico.yaml."""
    debs = root / "debs"
    debs.mkdir(parents=True)
    flat_repository(root / "k8s" / "v1.33" / "deb", [build_deb(d, debs) for d in kubernetes], key)
    containerd = [build_deb(d, debs) for d in CONTAINERD_DEBS]
    dists_repository(root / "docker" / "linux" / "ubuntu", "noble", "stable", containerd, key)
    (root / "calico.yaml").write_bytes(calico_fixture(CALICO).read_bytes())
    return root


def bundle_spec(folder: Path, site: str, registry: Registry, images: str = "k8s") -> Path:
    return island_spec(folder, site, registry.host, {"bundle": True}, images)


def run_bundle(spec: Path, output: Path, registry: Registry) -> Result:
    argv = ["bundle", str(spec), "-o", str(output), "--insecure-registry", registry.host]
    with loopback_only():
        return CliRunner().invoke(cli, argv)


@dataclass
class Made:
    result: Result
    output: Path
    spec: Path
    site: Path
    registry: Registry


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, key: Signer, registry: Registry) -> Made:
    root = tmp_path_factory.mktemp("made")
    site = build_site(root / "site", key)
    with file_server(site) as url:
        spec = bundle_spec(root, url, registry)
        result = run_bundle(spec, root / "out" / "bundle", registry)
    return Made(result, root / "out" / "bundle", spec, site, registry)


def index_of(made: Made) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((made.output / "index.json").read_text())
    return data


def test_bundle_succeeds_and_says_what_it_wrote(made: Made) -> None:
    assert made.result.exit_code == 0, made.result.output
    summary = made.result.stdout.splitlines()
    assert summary[0].startswith(f"{made.output}: ")
    assert "6 packages, 10 images" in summary[0]
    assert summary[1] == "the nodes' OS must already have: " + ", ".join(OS_DEPENDENCIES)
    assert (
        f"note: kubeadm {VERSION} names {made.registry.host}/k8s/etcd:{KUBEADM_ETCD}"
        in made.result.stderr
    )
    # Written whole: no staging folder is left beside it; its mode is a plain mkdir's.
    assert sorted(p.name for p in made.output.parent.iterdir()) == ["bundle"]
    (made.output.parent / "plain").mkdir()
    assert made.output.stat().st_mode == (made.output.parent / "plain").stat().st_mode
    (made.output.parent / "plain").rmdir()


def test_bundle_layout_and_checksums(made: Made) -> None:
    names = sorted(
        p.relative_to(made.output).as_posix() for p in made.output.rglob("*") if p.is_file()
    )
    assert [n for n in names if "/" not in n] == [
        "SHA256SUMS",
        "bundle.iso",
        "index.json",
        "os-dependencies.txt",
    ]
    assert sorted(n for n in names if n.startswith("packages/")) == sorted(
        f"packages/{d.filename}"
        for d in KUBERNETES_DEBS + CONTAINERD_DEBS
        if d.version not in ("1.33.3-1.1", "1.33.5-1.1")
    )
    assert len([n for n in names if n.startswith("images/")]) == 10
    assert "calico/calico.yaml" in names
    # coreutils is the oracle the nodes use.
    check = subprocess.run(
        [need("sha256sum"), "--check", "--strict", "SHA256SUMS"],
        cwd=made.output,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    listed = sorted(
        line.split("  ", 1)[1] for line in (made.output / "SHA256SUMS").read_text().splitlines()
    )
    assert listed == [n for n in names if n not in ("SHA256SUMS", "bundle.iso")]
    assert (made.output / "os-dependencies.txt").read_text().splitlines() == OS_DEPENDENCIES


def test_index_describes_the_bundle(made: Made) -> None:
    index = index_of(made)
    assert index["kubernetesVersion"] == VERSION
    assert index["os"] == {"family": "ubuntu", "version": "24.04"}
    assert index["architecture"] == "amd64"
    assert {p["name"]: p["version"] for p in index["packages"]}["kubelet"] == f"{VERSION}-1.1"
    assert index["osDependencies"] == OS_DEPENDENCIES
    references = [i["reference"] for i in index["images"]]
    host = made.registry.host
    assert references[6] == f"{host}/k8s/etcd:{KUBEADM_ETCD}"  # kubeadm's answer, not the table
    assert references[7:] == [f"docker.io/calico/{n}:{CALICO}" for n in versions.CALICO_IMAGE_NAMES]
    # Calico comes from the docker.io mirror, and is named as the manifest names it.
    assert index["images"][8]["source"] == f"{host}/calico/node:{CALICO}"
    for name, entry in index["files"].items():
        assert entry["bytes"] == (made.output / name).stat().st_size


def read_archive(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    with tarfile.open(path) as archive:
        blobs = {
            m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        }
    return json.loads(blobs["index.json"]), blobs


def verified_blob(blobs: dict[str, bytes], descriptor: dict[str, Any]) -> bytes:
    algorithm, digest = descriptor["digest"].split(":")
    data = blobs[f"blobs/{algorithm}/{digest}"]
    assert hashlib.sha256(data).hexdigest() == digest
    assert len(data) == descriptor["size"]
    return data


def test_archives_are_oci_layouts_named_for_ctr(made: Made) -> None:
    """ctr import names an image by ref.name when it is a full reference (archive.AddRefPrefix)."""
    for entry in index_of(made)["images"]:
        index, blobs = read_archive(made.output / entry["file"])
        assert json.loads(blobs["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
        (descriptor,) = index["manifests"]
        assert descriptor["annotations"][REF_NAME] == entry["reference"]
        assert descriptor["digest"] == entry["digest"]
        manifest = json.loads(verified_blob(blobs, descriptor))
        config = json.loads(verified_blob(blobs, manifest["config"]))
        assert (config["os"], config["architecture"]) == ("linux", "amd64")  # not arm64
        for layer in manifest["layers"]:
            verified_blob(blobs, layer)


def test_iso_holds_the_same_files(made: Made) -> None:
    isoinfo = subprocess.run(
        [need("isoinfo"), "-d", "-i", str(made.output / "bundle.iso")],
        capture_output=True,
        text=True,
    )
    assert "Volume id: K8SBUNDLE" in isoinfo.stdout
    assert "Rock Ridge signatures version" in isoinfo.stdout
    iso = pycdlib.PyCdlib()
    iso.open(str(made.output / "bundle.iso"))
    try:
        seen = []
        for root, _, names in iso.walk(rr_path="/"):
            for name in names:
                path = f"{root.rstrip('/')}/{name}"
                seen.append(path.lstrip("/"))
                with iso.open_file_from_iso(rr_path=path) as handle:
                    assert handle.read() == (made.output / path.lstrip("/")).read_bytes(), path
        expected = [
            p.relative_to(made.output).as_posix() for p in made.output.rglob("*") if p.is_file()
        ]
        assert sorted(seen) == sorted(n for n in expected if n != "bundle.iso")
    finally:
        iso.close()


def test_bundle_spec_renders_for_bundle_mode(made: Made) -> None:
    rendered = render_spec(made.spec)
    assert rendered.cluster.offline.bundle and rendered.cluster.offline.enabled
    for node in ("cp1", "w1"):
        node_files = files(rendered, node)
        assert not [p for p in node_files if p.startswith("/etc/k8sgen/apt/")]
        script = scripts(rendered, node)["/usr/local/sbin/k8sgen-bootstrap"]
        phases = re.search(r"^readonly -a PHASES=\((.*)\)$", script, re.MULTILINE)
        assert phases and "import" in phases[1].split() and "prepull" not in phases[1].split()
        assert "apt-get install" not in script and "crictl pull" not in script
        assert "curl" not in script.split("phase_cni()")[-1].split("\n}\n")[0]
    bundled = {i["reference"] for i in index_of(made)["images"]}
    calico = {i.reference for i in cluster_images(rendered.cluster) if i.group == "calico"}
    assert calico <= bundled


# --- failures: a clear message, and nothing left behind ---------------------------------


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """k8sgen's scratch folders go here, so the test can see that none is left."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def tampered(site: Path, how: str) -> None:
    deb = site / "k8s" / "v1.33" / "deb" / KUBERNETES_DEBS[0].filename
    data = bytearray(deb.read_bytes())
    if how == "corrupt":
        data[-10] ^= 0xFF  # same size, other bytes
    else:
        data = data[:-100]
    deb.write_bytes(bytes(data))


PACKAGE_FAILURES = {
    "corrupt file": ("corrupt", KUBERNETES_DEBS, "Hash Sum mismatch"),
    "wrong size": ("truncate", KUBERNETES_DEBS, "File has unexpected size ("),
    "missing package": (
        None,
        [d for d in KUBERNETES_DEBS if d.name != "kubectl"],
        f"E: Version '{VERSION}-*' for 'kubectl' was not found",
    ),
    "missing version": (
        None,
        [d for d in KUBERNETES_DEBS if d.version != f"{VERSION}-1.1" or d.name != "kubelet"],
        f"E: Version '{VERSION}-*' for 'kubelet' was not found",
    ),
}


@pytest.mark.parametrize("case", PACKAGE_FAILURES)
def test_package_failures_are_explained_and_leave_nothing(
    case: str, tmp_path: Path, private_tmp: Path, key: Signer, registry: Registry
) -> None:
    how, debs, expected = PACKAGE_FAILURES[case]
    site = build_site(tmp_path / "site", key, debs)
    if how:
        tampered(site, how)
    output = tmp_path / "out" / "bundle"
    with file_server(site) as url:
        result = run_bundle(bundle_spec(tmp_path, url, registry), output, registry)
    assert result.exit_code == 1
    message = result.stderr[result.stderr.index("error: ") :]
    assert expected in message, result.stderr
    assert "Traceback" not in result.stderr
    assert not output.exists()
    assert list((tmp_path / "out").iterdir()) == []
    assert list(private_tmp.iterdir()) == []


def test_missing_image_is_explained_and_leaves_nothing(
    tmp_path: Path, private_tmp: Path, key: Signer, registry: Registry
) -> None:
    site = build_site(tmp_path / "site", key)
    output = tmp_path / "out" / "bundle"
    with file_server(site) as url:
        spec = bundle_spec(tmp_path, url, registry, images="elsewhere")
        result = run_bundle(spec, output, registry)
    assert result.exit_code == 1
    first_line = next(line for line in result.stderr.splitlines() if line.startswith("error"))
    assert first_line == f"error: cannot copy {registry.host}/elsewhere/kube-apiserver:v{VERSION}:"
    assert "manifest unknown" in result.stderr
    assert not output.exists() and list(private_tmp.iterdir()) == []


def test_an_existing_output_is_never_replaced(tmp_path: Path, registry: Registry) -> None:
    output = tmp_path / "bundle"
    output.mkdir()
    (output / "keep").write_text("mine")
    result = run_bundle(bundle_spec(tmp_path, "http://127.0.0.1:9", registry), output, registry)
    assert result.exit_code == 1
    assert result.stderr == f"error: {output}: already exists; remove it or choose another folder\n"
    assert (output / "keep").read_text() == "mine"


def test_offline_bundles_pull_only_from_the_mirror(made: Made) -> None:
    """With a docker.io mirror and offline set, docker.io itself is never a source."""
    cluster = render_spec(made.spec).cluster
    calico = [i for i in cluster_images(cluster) if i.group == "calico"]
    for image in calico:
        assert sources(image) == [image.reference.replace("docker.io", made.registry.host)]


# --- the node side, run for real against the bundle (tools a VM has are stubbed) --------


def function(script: str, name: str) -> str:
    lines = script.splitlines()
    start = lines.index(f"{name}() {{")
    end = lines.index("}", start)
    return "\n".join(lines[start : end + 1]) + "\n"


STUBS = {
    # dpkg-query -W -f=FORMAT NAME: installed when NAME is in $INSTALLED.
    "dpkg-query": (
        'for last; do :; done\ncase " $INSTALLED " in\n'
        '  *" $last "*) printf installed ;;\n  *) exit 1 ;;\nesac\n'
    ),
    "dpkg": "echo amd64\n",
    "mountpoint": "exit 0\n",
    "umount": "exit 0\n",
    "ctr": 'case "$*" in *"images list"*) cat "$CTR_IMAGES" ;; *) echo "import $*" ;; esac\n',
    "kubeadm": 'cat "$KUBEADM_IMAGES"\n',
}


def node_check(
    made: Made, tmp_path: Path, calls: str, bundle: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    rendered = render_spec(made.spec)
    script = scripts(rendered, "w1")["/usr/local/sbin/k8sgen-bootstrap"]
    names = (
        "bundle_mount",
        "bundle_field",
        "bundle_verify",
        "bundle_os_dependencies",
        "phase_import",
    )
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    for tool, body in STUBS.items():
        (stubs / tool).write_text("#!/bin/sh\n" + body)
        (stubs / tool).chmod(0o755)
    harness = "\n".join(
        [
            "set -Eeuo pipefail",
            'log() { printf "%s\\n" "$*" >&2; }',
            'fail() { printf "FAILED: %s\\n" "$*" >&2; exit 1; }',
            f"readonly BUNDLE_DIR={bundle or made.output} BUNDLE_LABEL=K8SBUNDLE",
            "readonly BUNDLE_WAIT_SECONDS=1",
            "readonly KUBEADM_CONFIG=/nonexistent IMAGE_REPOSITORY=unused",
            *(function(script, name) for name in names),
            calls,
        ]
    )
    environment = {
        "PATH": f"{stubs}:/usr/bin:/bin",
        "KUBERNETES_VERSION": VERSION,
        "OS_ID": "ubuntu",
        "OS_VERSION_ID": "24.04",
        **env,
    }
    return subprocess.run(
        [need("bash"), "-c", harness], capture_output=True, text=True, env=environment
    )


EVERYTHING = "conntrack iproute2 iptables libc6 libseccomp2 socat"


def test_node_accepts_the_bundle(made: Made, tmp_path: Path) -> None:
    result = node_check(
        made, tmp_path, "bundle_verify\nbundle_os_dependencies", INSTALLED=EVERYTHING
    )
    assert result.returncode == 0, result.stderr


def test_node_names_the_os_packages_it_lacks(made: Made, tmp_path: Path) -> None:
    result = node_check(
        made, tmp_path, "bundle_os_dependencies", INSTALLED="iproute libc6 libseccomp2 iptables"
    )
    assert result.returncode == 1
    assert (
        "FAILED: this OS lacks packages the bundle does not carry: conntrack socat;"
        in result.stderr
    )


def test_node_refuses_a_damaged_or_foreign_bundle(made: Made, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(made.output, copy)
    deb = next((copy / "packages").glob("kubeadm_*.deb"))
    deb.write_bytes(deb.read_bytes() + b"x")
    damaged = node_check(made, tmp_path, "bundle_verify", bundle=copy)
    assert damaged.returncode == 1
    assert (
        "FAILED: the bundle on K8SBUNDLE is damaged (sha256sum --check SHA256SUMS failed)"
        in damaged.stderr
    )
    foreign = node_check(made, tmp_path, "bundle_verify", KUBERNETES_VERSION="1.33.5")
    assert foreign.returncode == 1
    assert (
        f"FAILED: the bundle is for Kubernetes {VERSION} on ubuntu 24.04; this node needs 1.33.5"
        in foreign.stderr
    )


def test_node_import_checks_every_image_it_needs(made: Made, tmp_path: Path) -> None:
    references = [i["reference"] for i in index_of(made)["images"]]
    kubeadm_list = tmp_path / "kubeadm-images"
    kubeadm_list.write_text("\n".join(references[:7]) + "\n")
    imported = tmp_path / "ctr-images"
    imported.write_text("\n".join(references) + "\n")
    env = {"CTR_IMAGES": str(imported), "KUBEADM_IMAGES": str(kubeadm_list)}
    complete = node_check(made, tmp_path, "phase_import", **env)
    assert complete.returncode == 0, complete.stderr
    assert complete.stdout.count("import -n k8s.io images import") == 10
    imported.write_text(
        "\n".join(r for r in references if "calico/node" not in r and "/etcd:" not in r) + "\n"
    )
    incomplete = node_check(made, tmp_path, "phase_import", **env)
    assert incomplete.returncode == 1
    etcd = references[6]
    assert f"FAILED: not in the bundle: {etcd} docker.io/calico/node:{CALICO};" in incomplete.stderr


def test_ctr_imports_every_archive_under_its_reference(made: Made) -> None:
    """What the nodes run: `ctr -n k8s.io images import`, then the names must match."""
    index = index_of(made)
    with running_containerd() as socket:
        ctr = [need("ctr"), "--address", socket, "-n", "k8s.io"]
        for entry in index["images"]:
            archive = str(made.output / entry["file"])
            result = subprocess.run(
                [*ctr, "images", "import", "--snapshotter", "native", archive],
                capture_output=True,
                text=True,
            )
            assert result.returncode == 0, result.stderr
        listed = subprocess.run([*ctr, "images", "list", "-q"], capture_output=True, text=True)
    assert sorted(listed.stdout.split()) == sorted(i["reference"] for i in index["images"])


def test_render_in_bundle_mode_says_what_the_nodes_need(tmp_path: Path) -> None:
    spec = tmp_path / "island.yaml"
    spec.write_text((REPO / "examples" / "airgap-bundle.yaml").read_text())
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-2].startswith("zero-egress lint: clean (2 nodes,")
    assert (
        lines[-1] == f"bundle mode: attach bundle.iso (k8sgen bundle {spec} -o DIR) to every node"
    )
