"""The real Kubernetes programs (and a terraform) for tests, built from Go modules and cached.

`k8s_binaries("1.34.2")` is the folder holding kubeadm, kube-apiserver, kube-controller-manager,
kubelet, kubectl and etcd of that release; `k8s_binaries("1.31.14", only=("kubeadm",))` builds
just kubeadm. Both call scripts/k8s-binaries (see its header for the cache and the recipe): a
missing program is built, never a reason to skip. Build failures fail the calling test.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest

from generator import versions

REPO = Path(__file__).resolve().parents[2]
K8S_BINARIES = REPO / "scripts" / "k8s-binaries"
TERRAFORM_BINARY = REPO / "scripts" / "terraform-binary"
# The release the full set of programs is built for (the loopback control plane's).
FULL_RELEASE = "1.34.2"


def _run_script(command: list[str]) -> Path:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip())


def k8s_binaries(version: str, only: Iterable[str] = ()) -> Path:
    """Folder of the programs of Kubernetes VERSION (X.Y.Z), built first when not cached."""
    command = [str(K8S_BINARIES)]
    if only:
        command += ["--only", ",".join(only)]
    return _run_script([*command, version])


def terraform_binary() -> Path:
    """PATH's terraform, else OpenTofu built from its Go module."""
    return _run_script([str(TERRAFORM_BINARY)])


def kubeadm_releases() -> dict[int, str]:
    """Minor -> the release whose kubeadm the tests run: the newest patch the image table (the
    releases the Go module proxy serves) knows, FULL_RELEASE for its own minor."""
    newest: dict[int, str] = {}
    for release in versions.known_image_tags():  # in version order
        newest[versions.minor_of(release)] = release
    newest[versions.minor_of(FULL_RELEASE)] = FULL_RELEASE
    return newest


@cache
def kubeadm(minor: int) -> Path:
    """The kubeadm of the minor's release in kubeadm_releases(), built once per session."""
    return k8s_binaries(kubeadm_releases()[minor], only=("kubeadm",)) / "kubeadm"
