"""The real programs, built (or found cached) once per session, and the loopback control plane
that a test module starts once for itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..support.specs import Rendered
from .binaries import FULL_RELEASE, k8s_binaries
from .cluster import FIRST_ADDRESS, INIT, render_example
from .controlplane import ControlPlane, MachineFactory, control_plane
from .machine import Machine, Network


@pytest.fixture(scope="session")
def full_binaries() -> Path:
    """kubeadm, kube-apiserver, kube-controller-manager, kubelet, kubectl, etcd of FULL_RELEASE."""
    return k8s_binaries(FULL_RELEASE)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render_example(tmp_path_factory.mktemp("spec"))


@pytest.fixture(scope="module")
def machines(
    tmp_path_factory: pytest.TempPathFactory, full_binaries: Path
) -> Iterator[MachineFactory]:
    """Machines on loopback addresses of one network namespace; every process and namespace
    stopped at the end."""
    started: list[Machine] = []
    logs = tmp_path_factory.mktemp("logs")  # kept by pytest: read them after a failure

    def new(name: str) -> Machine:
        root = tmp_path_factory.mktemp(f"machine-{name}")
        address = f"127.0.0.{FIRST_ADDRESS + len(started)}"
        machine = Machine(name, address, root, logs, full_binaries, network)
        started.append(machine)
        return machine

    network = Network()
    try:
        yield new
    finally:
        for machine in reversed(started):
            machine.stop()
        network.stop()


@pytest.fixture(scope="module")
def plane(rendered: Rendered, machines: MachineFactory) -> Iterator[ControlPlane]:
    with control_plane(rendered, INIT, machines) as running:
        yield running
