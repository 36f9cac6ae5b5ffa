"""A node joining the loopback control plane: its kubelet, its bootstrap script, and waits.

Shared by the tests of tests/k8s that join nodes (test_control_plane.py,
test_join_credentials_real.py): the kubelet runs as the kubeadm packages' drop-in starts it,
against a runtime socket that never answers (no container runtime here), far enough to
bootstrap its client certificate; the rendered bootstrap script runs its kubeadm phase with
the real kubeadm.
"""

from __future__ import annotations

import copy
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

from generator.layout import BOOTSTRAP_SCRIPT, PKI_STASH
from generator.status import load_status

from ..support.specs import Rendered
from .controlplane import (
    KUBEADM_CONFIG,
    ControlPlane,
    MachineFactory,
    bootstrap_script,
    document,
    kubeadm_documents,
    place_rendered_files,
    resolve_endpoint,
)
from .machine import Machine

# For the failing joins only: kubeadm waits for the token's signature this long instead of
# the rendered 15 minutes (an unknown or expired token is never signed).
DISCOVERY_TIMEOUT = "10s"

KUBELET_CLIENT = "/var/lib/kubelet/pki/kubelet-client-current.pem"

KUBELET_CONF = "/etc/kubernetes/kubelet.conf"

BOOTSTRAP_CONF = "/etc/kubernetes/bootstrap-kubelet.conf"

KUBELET_FLAGS = "/var/lib/kubelet/kubeadm-flags.env"

# The kubelet's command line as the kubeadm packages' systemd drop-in builds it.
KUBELET_ARGS = [
    f"--bootstrap-kubeconfig={BOOTSTRAP_CONF}",
    f"--kubeconfig={KUBELET_CONF}",
    "--config=/var/lib/kubelet/config.yaml",
]

KUBELET_STARTS = 5

WAIT_SECONDS = 90


def wait_for(what: str, condition: Callable[[], bool], failure: Callable[[], str]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    raise AssertionError(f"{what}: not within {WAIT_SECONDS}s\n{failure()}")


def certificate(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def names(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]


def start_kubelet(worker: Machine) -> subprocess.Popen[bytes]:
    """The kubelet as the packages' drop-in starts it, with kubeadm's flags file."""
    flags = worker.read(KUBELET_FLAGS).decode()
    assignment = next(
        line for line in flags.splitlines() if line.startswith("KUBELET_KUBEADM_ARGS=")
    )
    kubeadm_args = shlex.split(assignment.split("=", 1)[1])[0].split()
    return worker.start("kubelet", ["kubelet", *KUBELET_ARGS, *kubeadm_args])


def start_silent_runtime(worker: Machine, cri_socket: str) -> None:
    """A container runtime socket that accepts connections and never answers, as a hung
    containerd: the kubelet waits at its runtime check instead of exiting at once (there
    is no runtime here), and meanwhile its certificate manager bootstraps in the background."""
    listen = (
        "import socket, sys, time\n"
        "server = socket.socket(socket.AF_UNIX)\n"
        "server.bind(sys.argv[1])\n"
        "server.listen(64)\n"
        "time.sleep(600)\n"
    )
    path = cri_socket.removeprefix("unix://")
    worker.run(["mkdir", "-p", path.rsplit("/", 1)[0]])
    worker.start("silent-runtime", [sys.executable, "-c", listen, path])
    wait_for(
        "the runtime socket exists",
        lambda: worker.exists(path),
        lambda: worker.log_tail("silent-runtime"),
    )


def kubelet_bootstrapped(worker: Machine) -> bool:
    return worker.exists(KUBELET_CLIENT) and worker.exists(KUBELET_CONF)


def tls_bootstrap(worker: Machine) -> None:
    """Start the kubelet (again, if it stopped for want of a container runtime) until it holds
    its client certificate; it needs no runtime to get that far."""
    for _ in range(KUBELET_STARTS):
        kubelet = start_kubelet(worker)
        deadline = time.monotonic() + WAIT_SECONDS / KUBELET_STARTS
        while time.monotonic() < deadline and kubelet.poll() is None:
            if kubelet_bootstrapped(worker):
                return
            time.sleep(0.5)
        if kubelet_bootstrapped(worker):
            return
        worker.stop_process("kubelet")
    raise AssertionError(f"the kubelet never got its certificate\n{worker.log_tail('kubelet')}")


def joining_machine(
    machines: MachineFactory, plane: ControlPlane, rendered: Rendered, node: str, name: str = ""
) -> Machine:
    """A machine with node's rendered kubeadm configuration, the endpoint on the plane."""
    machine = machines(name or node)
    resolve_endpoint(machine, plane.rendered, plane.address)
    place_rendered_files(machine, rendered, node, KUBEADM_CONFIG)
    return machine


def short_discovery(join: dict[str, Any]) -> dict[str, Any]:
    """The join with a short discovery timeout, and kubeadm's preflight verdicts on this
    host (no container runtime, no systemd) ignored: discovery is what is tested."""
    join = copy.deepcopy(join)
    if "timeouts" in join:
        join["timeouts"]["discovery"] = DISCOVERY_TIMEOUT
    else:
        join["discovery"]["timeout"] = DISCOVERY_TIMEOUT
    join["nodeRegistration"]["ignorePreflightErrors"] = ["all"]
    return join


def phases_before_kubeadm(script: str) -> list[str]:
    line = next(x for x in script.splitlines() if x.startswith("readonly -a PHASES=("))
    phases = shlex.split(line.split("(", 1)[1].rstrip(")"))
    return phases[: phases.index("kubeadm")]


SCRIPT_SECONDS = 120

KUBELET_WAIT = "5s"  # kubeadm's wait for a healthy kubelet, where one cannot start


def bootstrapping_machine(
    machines: MachineFactory,
    plane: ControlPlane,
    node_rendered: Rendered,
    node: str,
    name: str,
    binaries: Path,
) -> Machine:
    """A joining node whose earlier phases are done, ready to run its bootstrap's kubeadm
    phase with the real kubeadm."""
    machine = joining_machine(machines, plane, node_rendered, node, name)
    join = document(kubeadm_documents(node_rendered, node), "JoinConfiguration")
    machine.write(KUBEADM_CONFIG, yaml.safe_dump(short_discovery(join), sort_keys=False), 0o600)
    # As cloud-init writes them: the script (which waits for the endpoint's /readyz, then
    # joins) and, on a control plane, the shared PKI it restores before joining.
    script = bootstrap_script(node_rendered, node, plane)
    machine.write(BOOTSTRAP_SCRIPT, script, 0o755)
    place_rendered_files(machine, node_rendered, node, PKI_STASH + "/")
    machine.run(["ln", "-s", str(binaries / "kubeadm"), "/usr/local/bin/kubeadm"])
    for phase in phases_before_kubeadm(script):  # done on an earlier run of this node
        machine.write(f"/var/lib/k8sgen/phases/{phase}.done", "")
    return machine


def run_bootstrap(machine: Machine, folder: Path) -> tuple[dict[str, Any], str]:
    """One run of the bootstrap (as `systemctl restart` starts it): status.json and log."""
    try:
        run = machine.run(["bash", BOOTSTRAP_SCRIPT], check=False, timeout=SCRIPT_SECONDS)
    except subprocess.TimeoutExpired:
        log = machine.read("/var/log/k8sgen/bootstrap.log").decode()
        raise AssertionError(f"the bootstrap ran over {SCRIPT_SECONDS}s:\n{log[-6000:]}") from None
    log = machine.read("/var/log/k8sgen/bootstrap.log").decode()
    assert run.returncode == 1, log
    status_file = folder / "status.json"
    status_file.write_bytes(machine.read("/var/lib/k8sgen/status.json"))
    return load_status(status_file), log
