"""`k8sgen bundle`: everything an air-gapped cluster installs, as a folder and as one ISO.

Made on a connected workstation with real tools (apt-get, skopeo); written to a hidden
folder beside the target and renamed into place only when complete, so a failure leaves
nothing half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.embed import ManifestError, checked_patch
from generator.inputs import read_input
from generator.model import MAX_MANIFEST_BYTES, Cluster
from generator.offline import BUNDLE_LABEL
from generator.offline.bundle.access import PullAccess, pull_access
from generator.offline.bundle.archives import Archive, fetch_images
from generator.offline.bundle.debian import PackageSet, download_packages
from generator.offline.bundle.iso import write_iso
from generator.offline.bundle.tools import BundleError, run
from generator.offline.images import KUBEADM, Image, cluster_images, kubeadm_image
from generator.registries import Credential
from generator.spec.cluster import BUNDLE_FORMATS
from generator.spec.rules import DEFAULT_POD_SUBNET

FORMAT_VERSION = 1
INDEX = "index.json"
SUMS = "SHA256SUMS"  # the index's checksums in `sha256sum --check` format, for the nodes
OS_DEPENDENCIES = "os-dependencies.txt"
CALICO_MANIFEST = "calico/calico.yaml"
ISO = "bundle.iso"

Progress = Callable[[str], None]


@dataclass
class BundleResult:
    root: Path
    files: int
    size: int
    images: list[Archive]
    packages: PackageSet
    notes: list[str] = field(default_factory=list)


def make_bundle(
    cluster: Cluster,
    output: Path,
    insecure: Collection[str],
    progress: Progress,
    logins: dict[str, Credential] | None = None,  # spec.registries' logins (secrets file)
) -> BundleResult:
    if cluster.os.package_format not in BUNDLE_FORMATS:  # validate refuses such a spec
        raise BundleError(f"bundles carry {', '.join(BUNDLE_FORMATS)} packages only")
    if output.exists():
        raise BundleError(f"{output}: already exists; remove it or choose another folder")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    staging.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700: give it mkdir's usual mode
    work = Path(tempfile.mkdtemp(prefix="k8sgen-bundle-"))
    try:
        access = pull_access(cluster, work, insecure, logins or {})
        result = _fill(cluster, staging, work, access, progress)
        staging.rename(output)
        result.root = output
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)


def _fill(
    cluster: Cluster, root: Path, work: Path, access: PullAccess, progress: Progress
) -> BundleResult:
    (root / "packages").mkdir()
    packages = download_packages(cluster, root / "packages", work, cluster.arch.deb, progress)
    notes: list[str] = []
    images = _images(cluster, root / "packages", packages, work, notes)
    archives = fetch_images(images, root, cluster.arch.name, access, progress)
    progress(f"calico: {cluster.calico.manifest_file or cluster.calico.manifest_urls[0]}")
    (root / "calico").mkdir()
    (root / CALICO_MANIFEST).write_text(_calico_manifest(cluster), encoding="utf-8")
    (root / OS_DEPENDENCIES).write_text("".join(f"{d}\n" for d in packages.os_dependencies))
    files = {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}
    checksums = {name: _sha256(path) for name, path in files.items()}
    index = _index(cluster, archives, packages, checksums, files)
    (root / INDEX).write_text(json.dumps(index, indent=2) + "\n")
    checksums[INDEX] = _sha256(root / INDEX)
    (root / SUMS).write_text("".join(f"{s}  {n}\n" for n, s in sorted(checksums.items())))
    progress(f"iso: {ISO} (volume label {BUNDLE_LABEL})")
    write_iso(root, work / ISO, BUNDLE_LABEL)
    shutil.move(work / ISO, root / ISO)
    written = [p for p in root.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in written)
    return BundleResult(root, len(written), size, archives, packages, notes)


def _images(
    cluster: Cluster, debs: Path, packages: PackageSet, work: Path, notes: list[str]
) -> list[Image]:
    """k8sgen's list, with kubeadm's own answer for its images when this machine can run it."""
    table = cluster_images(cluster)
    named = kubeadm_names(cluster, debs, packages, work)
    if named is None:
        notes.append(
            "kubeadm could not run on this machine: its images follow k8sgen's table; "
            "each node checks them against its kubeadm before `kubeadm init`/`join`"
        )
        return table
    ours = [i.reference for i in table if i.group == KUBEADM]
    for reference in sorted(set(named) - set(ours)):
        notes.append(f"kubeadm {cluster.version} names {reference} (not in k8sgen's table)")
    return [kubeadm_image(cluster, r) for r in named] + [i for i in table if i.group != KUBEADM]


def kubeadm_names(
    cluster: Cluster, debs: Path, packages: PackageSet, work: Path
) -> list[str] | None:
    """`kubeadm config images list` of the bundled kubeadm, or None if it cannot run here."""
    kubeadm = next(p for p in packages.packages if p.name == "kubeadm")
    unpacked = work / "kubeadm"
    run(["dpkg-deb", "-x", str(debs / kubeadm.file), str(unpacked)], f"unpacking {kubeadm.file}")
    argv = [str(unpacked / "usr/bin/kubeadm"), "config", "images", "list"]
    argv += ["--kubernetes-version", f"v{cluster.version}"]
    argv += ["--image-repository", cluster.mirrors.images]
    try:
        listed = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None  # another architecture, or no kubeadm binary in the package
    names = listed.stdout.split()
    return names if listed.returncode == 0 and names else None


def _calico_manifest(cluster: Cluster) -> str:
    """The release manifest as published; nodes patch it (pod CIDR, image mirror)."""
    calico = cluster.calico
    if calico.manifest_file is not None:
        source = str(calico.manifest_file)
        raw = read_input(calico.manifest_file, "Calico manifest", MAX_MANIFEST_BYTES)
        text = raw.decode("utf-8", errors="replace")
    else:
        source, text = _download_manifest(calico.manifest_urls, calico.manifest_sha256)
    try:
        checked_patch(text, source, DEFAULT_POD_SUBNET, None)
    except ManifestError as exc:
        raise BundleError(str(exc)) from exc
    return text


def _download_manifest(urls: tuple[str, ...], sha256: str | None) -> tuple[str, str]:
    """(URL, text) from the first URL that serves the expected sha256, as the init node does."""
    failures = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                data = response.read(MAX_MANIFEST_BYTES + 1)
        except OSError as exc:
            failures.append(f"{url}: {exc}")
            continue
        if len(data) > MAX_MANIFEST_BYTES:
            failures.append(f"{url}: larger than {MAX_MANIFEST_BYTES} bytes")
        elif hashlib.sha256(data).hexdigest() != sha256:
            failures.append(f"{url}: sha256 is not {sha256}")
        else:
            return url, data.decode("utf-8", errors="replace")
    raise BundleError("cannot download calico.yaml:\n  " + "\n  ".join(failures))


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _index(
    cluster: Cluster,
    archives: list[Archive],
    packages: PackageSet,
    checksums: dict[str, str],
    files: dict[str, Path],
) -> dict[str, Any]:
    return {
        "k8sgenBundle": FORMAT_VERSION,
        "cluster": cluster.name,
        "kubernetesVersion": cluster.version,
        "os": {"family": cluster.os.family, "version": cluster.os.version},
        "architecture": cluster.arch.deb,  # what `dpkg --print-architecture` says
        "calicoVersion": cluster.calico.version,
        "images": [
            {"reference": a.reference, "source": a.source, "file": a.file, "digest": a.digest}
            for a in archives
        ],
        "packages": [
            {"name": p.name, "version": p.version, "file": f"packages/{p.file}"}
            for p in packages.packages
        ],
        "osDependencies": list(packages.os_dependencies),
        "files": {
            name: {"sha256": checksums[name], "bytes": files[name].stat().st_size}
            for name in sorted(files)
        },
    }
