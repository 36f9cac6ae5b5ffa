"""A control plane on loopback made from the init node's rendered files.

The init node's rendered shared PKI (the eight files of its user-data, restored into
/etc/kubernetes/pki by the rendered script's own function) and its rendered kubeadm
configuration go into a Machine (tests/k8s/machine.py), unchanged; the real kubeadm
makes the rest (`init phase certs/kubeconfig/etcd/control-plane`), and etcd, kube-apiserver
and kube-controller-manager run as plain processes with the command lines of kubeadm's own
static-pod manifests. No systemd, no container runtime, nothing but 127.0.0.x in a network
namespace of the harness (tests/k8s/machine.py).

The kubeadm configurations are used as rendered. Only where a real node would reach its own
NIC does the harness substitute loopback, and say so:
- Every machine's /etc/hosts maps the control-plane endpoint's name (a load balancer's DNS
  name in the example) to the init machine's 127.0.0.x, as the site's DNS would map it to
  the load balancer: discovery, the rendered admin.conf and the bootstrap script's /readyz
  wait all use the rendered endpoint as it is, and TLS checks the name as on a real site.
- In kubeadm's static-pod command lines the node's address (a private address of the spec,
  not on this host) becomes the machine's 127.0.0.x, and the apiserver gets --bind-address
  (kubeadm leaves it at 0.0.0.0). 127.0.0.1 stays (the etcd certificates name it; the
  namespace is the harness's own, so no other program holds its ports).
- The node's kubeadm patch files (spec kubeadmPatches) are placed where cloud-init writes
  them, so kubeadm's phases apply them as on the node.
- controller-manager.conf, which kubeadm points at the node's own address, connects to the
  machine's 127.0.0.x with tls-server-name set to the node's address, so the serving
  certificate is still verified for exactly the name a real node would use.
- A joining control plane's bootstrap script waits for the control plane before it at that
  node's address (WAIT_URL): the init node's address becomes the init machine's 127.0.0.x.
(kubeadm itself refuses a loopback advertiseAddress: "unable to select an IP from lo network
interface", which is why the configuration keeps the node's address.)
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from generator.layout import BOOTSTRAP_SCRIPT, KUBEADM_PATCHES, PKI_DIR, PKI_STASH

from ..support.nodedata import files
from ..support.specs import Rendered
from .machine import CommandFailed, Machine

KUBEADM_CONFIG = "/etc/k8sgen/kubeadm.yaml"  # where the rendered user-data puts it
PKI = PKI_DIR
MANIFESTS = "/etc/kubernetes/manifests"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
CONTROLLER_MANAGER_CONF = "/etc/kubernetes/controller-manager.conf"
API_PORT = 6443
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")
READY_SECONDS = 120
SIGNED_SECONDS = 60

MachineFactory = Callable[[str], Machine]


def write_files(rendered: Rendered, node: str) -> list[dict[str, Any]]:
    """The node's user-data write_files, with content decoded as cloud-init writes it."""
    return list(files(rendered, node).values())


def rendered_file(rendered: Rendered, node: str, path: str) -> dict[str, Any]:
    return next(f for f in write_files(rendered, node) if f["path"] == path)


def place_rendered_files(machine: Machine, rendered: Rendered, node: str, prefix: str) -> None:
    """Every write_files entry whose path starts with prefix, with its content and mode."""
    for entry in write_files(rendered, node):
        if entry["path"].startswith(prefix):
            machine.write(entry["path"], entry["content"], int(entry["permissions"], 8))


def kubeadm_documents(rendered: Rendered, node: str) -> list[dict[str, Any]]:
    text = rendered_file(rendered, node, KUBEADM_CONFIG)["content"]
    return [doc for doc in yaml.safe_load_all(text) if doc]


def document(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(doc for doc in documents if doc["kind"] == kind)


def node_address(rendered: Rendered, node: str) -> str:
    init = document(kubeadm_documents(rendered, node), "InitConfiguration")
    address: str = init["localAPIEndpoint"]["advertiseAddress"]
    return address


def static_pod_command(manifest: bytes) -> list[str]:
    """The container's command and args from one of kubeadm's static-pod manifests."""
    pod = yaml.safe_load(manifest)
    container = pod["spec"]["containers"][0]
    return [*container["command"], *container.get("args", [])]


def on_loopback(command: list[str], node_ip: str, address: str) -> list[str]:
    """kubeadm's command line with the node's address replaced by the machine's."""
    args = [arg.replace(node_ip, address) for arg in command]
    if args[0] == "kube-apiserver":
        args.append(f"--bind-address={address}")
    return args


def readyz(machine: Machine, endpoint: str) -> str:
    """The API server's /readyz through the endpoint's name, verified with the cluster CA."""
    url = f"https://{endpoint}/readyz"
    answer = machine.run(
        ["curl", "-sS", "--max-time", "5", "--cacert", f"{PKI}/ca.crt", url], check=False
    )
    return answer.stdout.strip()


@dataclass
class ControlPlane:
    """The init node of a rendered cluster, its control plane running on loopback."""

    rendered: Rendered
    node: str
    machine: Machine

    @property
    def address(self) -> str:
        return self.machine.address

    @property
    def ca_pem(self) -> str:
        return self.rendered.secrets.ca.cert

    def kubeadm(self, *args: str, timeout: float = 120) -> str:
        return self.machine.run(["kubeadm", *args], timeout=timeout).stdout

    def kubectl(self, *args: str, kubeconfig: str = ADMIN_CONF) -> str:
        return self.machine.run(
            ["kubectl", f"--kubeconfig={kubeconfig}", "--request-timeout=30s", *args]
        ).stdout

    def describe(self) -> str:
        """The last lines of every component's log: for a failure message."""
        return "\n".join(self.machine.log_tail(name) for name in COMPONENTS)


def resolve_endpoint(machine: Machine, rendered: Rendered, address: str) -> None:
    """The endpoint's name resolves to address in the machine, as DNS would on the site."""
    host = rendered.cluster.endpoint_host
    assert not host.replace(".", "").isdigit(), f"the harness needs an endpoint name, not {host}"
    hosts = machine.read("/etc/hosts").decode()
    machine.write("/etc/hosts", f"{hosts.rstrip()}\n{address} {host}\n", 0o644)


def bootstrap_script(rendered: Rendered, node: str, plane: ControlPlane) -> str:
    """The node's rendered bootstrap script; a WAIT_URL at the init node's own address (a
    joining control plane waits for the one before it) points at the init machine instead."""
    script = str(rendered_file(rendered, node, BOOTSTRAP_SCRIPT)["content"])
    init_address = node_address(plane.rendered, plane.node)
    lines = [
        line.replace(f"//{init_address}:", f"//{plane.address}:")
        if line.startswith("readonly WAIT_URL=")
        else line
        for line in script.splitlines(keepends=True)
    ]
    return "".join(lines)


def script_function(script: str, name: str) -> str:
    """One shell function of a rendered script, from `name() {` to its closing brace."""
    lines = script.splitlines()
    start = lines.index(f"{name}() {{")
    return "\n".join(lines[start : lines.index("}", start) + 1])


def restore_shared_pki(machine: Machine, rendered: Rendered, node: str) -> None:
    """What the node's bootstrap does before every kubeadm init or join: its own rendered
    restore_shared_pki, run in the machine."""
    script = str(rendered_file(rendered, node, BOOTSTRAP_SCRIPT)["content"])
    function = script_function(script, "restore_shared_pki")
    # The prologue's PKI_DIR and PKI_STASH, which it reads.
    paths = "".join(line + "\n" for line in script.splitlines() if line.startswith("readonly PKI_"))
    machine.run(["bash", "-c", f"set -Eeuo pipefail\n{paths}{function}\nrestore_shared_pki"])


def place_shared_pki(machine: Machine, rendered: Rendered, node: str) -> None:
    """The shared CA material as the node gets it: cloud-init writes the stash, the bootstrap
    copies it into kubeadm's certificate folder."""
    place_rendered_files(machine, rendered, node, PKI_STASH + "/")
    restore_shared_pki(machine, rendered, node)


def prepare_init_node(machine: Machine, rendered: Rendered, node: str) -> None:
    """The rendered shared PKI and configuration; kubeadm makes certificates, kubeconfigs and
    the static-pod manifests (what `kubeadm init` does before it waits for the kubelet)."""
    place_shared_pki(machine, rendered, node)
    place_rendered_files(machine, rendered, node, KUBEADM_CONFIG)
    place_rendered_files(machine, rendered, node, KUBEADM_PATCHES + "/")  # spec's patches
    for phase in (["certs", "all"], ["kubeconfig", "all"], ["etcd", "local"]):
        machine.run(["kubeadm", "init", "phase", *phase, f"--config={KUBEADM_CONFIG}"])
    machine.run(["kubeadm", "init", "phase", "control-plane", "all", f"--config={KUBEADM_CONFIG}"])


def local_kubeconfig_on_loopback(machine: Machine, path: str, node_ip: str) -> None:
    """Connect to the machine's address; verify the certificate for the node's address."""
    config = yaml.safe_load(machine.read(path))
    for entry in config["clusters"]:
        cluster = entry["cluster"]
        assert cluster["server"] == f"https://{node_ip}:{API_PORT}", cluster["server"]
        cluster["server"] = f"https://{machine.address}:{API_PORT}"
        cluster["tls-server-name"] = node_ip
    machine.write(path, yaml.safe_dump(config, sort_keys=False), 0o600)


def start_components(machine: Machine, node_ip: str) -> None:
    for component in COMPONENTS:
        command = static_pod_command(machine.read(f"{MANIFESTS}/{component}.yaml"))
        machine.start(component, on_loopback(command, node_ip, machine.address))


def wait_until_ready(plane: ControlPlane) -> None:
    deadline = time.monotonic() + READY_SECONDS
    answer = ""
    while time.monotonic() < deadline:
        answer = readyz(plane.machine, plane.rendered.cluster.endpoint)
        if answer == "ok":
            return
        dead = [n for n, p in plane.machine.processes.items() if p.poll() is not None]
        if dead:
            raise AssertionError(f"{dead} exited before /readyz was ok\n{plane.describe()}")
        time.sleep(1)
    raise AssertionError(f"/readyz not ok after {READY_SECONDS}s: {answer}\n{plane.describe()}")


def cluster_info(plane: ControlPlane) -> dict[str, str]:
    out = plane.kubectl("-n", "kube-public", "get", "configmap", "cluster-info", "-o", "yaml")
    data: dict[str, str] = yaml.safe_load(out)["data"]
    return data


def wait_for_signature(plane: ControlPlane, token_id: str, present: bool = True) -> None:
    """Until the controller-manager's bootstrap signer has (or has no more) signed cluster-info."""
    key = f"jws-kubeconfig-{token_id}"
    deadline = time.monotonic() + SIGNED_SECONDS
    while time.monotonic() < deadline:
        if (key in cluster_info(plane)) == present:
            return
        time.sleep(1)
    state = "signed" if present else "unsigned"
    raise AssertionError(f"cluster-info not {state} for {token_id} in time\n{plane.describe()}")


@contextlib.contextmanager
def control_plane(
    rendered: Rendered, node: str, new_machine: MachineFactory
) -> Iterator[ControlPlane]:
    """The init node's control plane on loopback, with upload-config and bootstrap-token done."""
    machine = new_machine(node)
    plane = ControlPlane(rendered, node, machine)
    node_ip = node_address(rendered, node)
    resolve_endpoint(machine, rendered, machine.address)
    prepare_init_node(machine, rendered, node)
    local_kubeconfig_on_loopback(machine, CONTROLLER_MANAGER_CONF, node_ip)
    start_components(machine, node_ip)
    try:
        wait_until_ready(plane)
        for phase in (["upload-config", "all"], ["bootstrap-token"]):
            plane.kubeadm("init", "phase", *phase, f"--config={KUBEADM_CONFIG}")
        init = document(kubeadm_documents(rendered, node), "InitConfiguration")
        wait_for_signature(plane, init["bootstrapTokens"][0]["token"].split(".")[0])
    except (CommandFailed, subprocess.TimeoutExpired) as exc:
        raise AssertionError(f"{exc}\n{plane.describe()}") from exc
    yield plane
