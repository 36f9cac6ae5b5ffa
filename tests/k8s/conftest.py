"""Session-wide build of the real programs: built (or found cached) once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from .binaries import FULL_RELEASE, k8s_binaries


@pytest.fixture(scope="session")
def full_binaries() -> Path:
    """kubeadm, kube-apiserver, kube-controller-manager, kubelet, kubectl, etcd of FULL_RELEASE."""
    return k8s_binaries(FULL_RELEASE)
