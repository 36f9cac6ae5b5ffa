"""Nodes that join with their own certificate, against the real control plane (issue 14).

The cluster is ha-external-lb with joinWith: certificate, rendered "five days ago" (secrets
and join credentials minted with a clock the test sets, the join window being 7 days); w3 is
added to the spec and rendered now. The control plane of cp1 runs on loopback
(tests/k8s/controlplane.py); the real kubeadm, kube-apiserver (with the Node authorizer and
NodeRestriction, as kubeadm configures it), kube-controller-manager (its CSR approver) and
kubelet do the rest.
"""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from generator import secrets
from generator.layout import BOOTSTRAP_SCRIPT, JOIN_KUBECONFIG, PKI_DIR
from generator.secrets import joincred
from generator.status import ADVICE, explain

from ..support.nodedata import files
from ..support.specs import Rendered
from .cluster import render_example
from .controlplane import (
    ADMIN_CONF,
    KUBEADM_CONFIG,
    ControlPlane,
    MachineFactory,
    bootstrap_script,
    document,
    kubeadm_documents,
    place_rendered_files,
    place_shared_pki,
)
from .joining import (
    BOOTSTRAP_CONF,
    KUBELET_CLIENT,
    KUBELET_FLAGS,
    bootstrapping_machine,
    certificate,
    joining_machine,
    names,
    run_bootstrap,
    start_silent_runtime,
    tls_bootstrap,
    wait_for,
)
from .machine import HOME, Machine

CERTIFICATE = {"joinWith": "certificate", "joinWindow": "168h"}
NOW = datetime.datetime.now(datetime.UTC)
THEN = NOW - datetime.timedelta(days=5)  # the first render: credentials still valid 2 days
EXPIRED = NOW - datetime.timedelta(days=8)  # a render whose credentials ended a day ago
LATER = "w3"
LATER_NODE = {"name": LATER, "role": "worker", "address": "192.168.10.23/24"}
FIRST_NODES = ("cp1", "cp2", "cp3", "w1", "w2")
CSR_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"


def render_with_clock(
    folder: Path, when: datetime.datetime, extra: tuple[dict[str, str], ...] = ()
) -> Rendered:
    """The example with join credentials minted at WHEN, secrets made then too."""
    probe = render_example(folder, bootstrap=CERTIFICATE, extra_nodes=extra)
    made = secrets.generate(probe.cluster.name, now=when)
    minted = joincred.reconcile(probe.cluster, made, now=when).secrets
    return render_example(folder, minted, bootstrap=CERTIFICATE, extra_nodes=extra)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """Overrides conftest's: the cluster the control plane is made from, rendered THEN."""
    return render_with_clock(tmp_path_factory.mktemp("spec"), THEN)


@pytest.fixture(scope="module")
def later(rendered: Rendered, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """w3 added to the spec and rendered now, with the secrets of the first render."""
    folder = tmp_path_factory.mktemp("later")
    return render_example(
        folder, rendered.secrets, bootstrap=CERTIFICATE, extra_nodes=(LATER_NODE,)
    )


def kubectl_as(plane: ControlPlane, config: str, *args: str) -> tuple[int, str]:
    command = ["kubectl", f"--kubeconfig={config}", "--request-timeout=30s", *args]
    answer = plane.machine.run(command, check=False)
    return answer.returncode, (answer.stdout + answer.stderr).strip()


def join_config_on_plane(plane: ControlPlane, node_rendered: Rendered, node: str) -> str:
    """NODE's rendered join.conf, in the control plane's machine (where the endpoint resolves)."""
    path = f"{HOME}/{node}-join.conf"
    plane.machine.write(path, files(node_rendered, node)[JOIN_KUBECONFIG]["content"], 0o600)
    return path


def test_join_credentials_adding_a_node_leaves_the_others_byte_identical(
    rendered: Rendered, later: Rendered
) -> None:
    for path, artifact in rendered.artifacts.items():
        if artifact.node in FIRST_NODES:
            assert later.artifacts[path].content == artifact.content, path
    old = rendered.secrets.join_credentials
    assert {n: later.secrets.join_credentials[n] for n in old} == old
    fresh = later.secrets.join_credentials[LATER].certificate
    assert abs(fresh.not_valid_before_utc - NOW) < datetime.timedelta(minutes=10)
    assert all(
        abs(c.certificate.not_valid_before_utc - THEN) < datetime.timedelta(minutes=10)
        for c in old.values()
    )


def kubelet_start(machine: Machine, node_rendered: Rendered, node: str) -> dict[str, Any]:
    """`kubeadm join phase kubelet-start` with the node's rendered join.conf, until it has
    written the kubelet's files (it then waits for a healthy kubelet, which needs a container
    runtime): the node's own certificate, no token, is what the kubelet bootstraps with."""
    place_rendered_files(machine, node_rendered, node, JOIN_KUBECONFIG)
    join = document(kubeadm_documents(node_rendered, node), "JoinConfiguration")
    assert join["discovery"]["file"] == {"kubeConfigPath": JOIN_KUBECONFIG}
    kubeadm = machine.start(
        "kubeadm-join", ["kubeadm", "join", "phase", "kubelet-start", f"--config={KUBEADM_CONFIG}"]
    )
    wait_for(
        "kubeadm join wrote the kubelet's files",
        lambda: machine.exists(KUBELET_FLAGS) or kubeadm.poll() is not None,
        lambda: machine.log_tail("kubeadm-join"),
    )
    assert machine.exists(KUBELET_FLAGS), machine.log_tail("kubeadm-join")
    user = yaml.safe_load(machine.read(BOOTSTRAP_CONF))["users"][0]["user"]
    assert "token" not in user
    pem = base64.b64decode(user["client-certificate-data"]).decode()
    assert pem == node_rendered.secrets.join_credentials[node].cert
    return join


def join_with_credential(
    plane: ControlPlane, machine: Machine, node_rendered: Rendered, node: str
) -> None:
    """kubelet_start, then the kubelet's TLS bootstrap with the join certificate: the node's
    own client certificate, its CSR approved by the controller-manager."""
    try:
        join = kubelet_start(machine, node_rendered, node)
        start_silent_runtime(machine, join["nodeRegistration"]["criSocket"])
        tls_bootstrap(machine)
    finally:
        for process in ("kubelet", "silent-runtime", "kubeadm-join"):
            machine.stop_process(process)
    client = certificate(machine.read(KUBELET_CLIENT))
    assert names(client, NameOID.COMMON_NAME) == [f"system:node:{node}"]
    given = node_rendered.secrets.join_credentials[node].certificate
    assert client.serial_number != given.serial_number  # the kubelet's own, not the join one
    requests = json.loads(plane.kubectl("get", "csr", "-o", "json"))["items"]
    mine = [r for r in requests if r["spec"]["username"] == f"system:node:{node}"]
    assert mine, [r["spec"]["username"] for r in requests]
    assert all(approved(r) for r in mine), mine


def test_join_credentials_node_rendered_later_joins_with_no_bootstrap_token(
    plane: ControlPlane, later: Rendered, machines: MachineFactory
) -> None:
    """w3 joins after the cluster's bootstrap token was deleted."""
    init = document(kubeadm_documents(plane.rendered, "cp1"), "InitConfiguration")
    token_id = init["bootstrapTokens"][0]["token"].split(".")[0]
    plane.kubeadm("token", "delete", token_id, f"--kubeconfig={ADMIN_CONF}")
    assert token_id not in plane.kubeadm("token", "list", f"--kubeconfig={ADMIN_CONF}")
    join_with_credential(plane, joining_machine(machines, plane, later, LATER), later, LATER)


def test_join_credentials_control_plane_joins_with_its_own_certificate(
    plane: ControlPlane, rendered: Rendered, machines: MachineFactory
) -> None:
    """cp2 (shared CA files in its user-data): with its join certificate kubeadm reads the
    cluster's configuration and makes the control plane's certificates, and hands the kubelet
    that certificate to bootstrap with. (A joining control plane's kubelet bootstraps against
    its own API server, which does not run here; the worker's test shows the bootstrap.)"""
    joiner = joining_machine(machines, plane, rendered, "cp2")
    place_shared_pki(joiner, rendered, "cp2")
    place_rendered_files(joiner, rendered, "cp2", JOIN_KUBECONFIG)
    prepare = ["join", "phase", "control-plane-prepare", "certs", f"--config={KUBEADM_CONFIG}"]
    joiner.run(["kubeadm", *prepare])
    serving = certificate(joiner.read(f"{PKI_DIR}/apiserver.crt"))
    serving.verify_directly_issued_by(rendered.secrets.ca.certificate)
    try:
        kubelet_start(joiner, rendered, "cp2")
    finally:
        joiner.stop_process("kubeadm-join")


def approved(request: dict[str, object]) -> bool:
    status = request.get("status") or {}
    assert isinstance(status, dict)
    conditions = status.get("conditions") or []
    return any(c["type"] == "Approved" for c in conditions) and bool(status.get("certificate"))


def node_csr(plane: ControlPlane, name: str, node: str) -> str:
    """A kubelet client CSR object for system:node:NODE, as the kubelet makes at renewal."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}"),
        ]
    )
    request = (
        x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    )
    pem = request.public_bytes(serialization.Encoding.PEM)
    manifest = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": {
            "request": base64.b64encode(pem).decode(),
            "signerName": CSR_SIGNER,
            "usages": ["digital signature", "client auth"],
        },
    }
    path = f"{HOME}/{name}.yaml"
    plane.machine.write(path, yaml.safe_dump(manifest), 0o644)
    return path


def csr_state(plane: ControlPlane, name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads(plane.kubectl("get", "csr", name, "-o", "json"))
    return data


def test_join_credentials_a_nodes_renewal_csr_is_approved_and_a_strangers_is_not(
    plane: ControlPlane, rendered: Rendered
) -> None:
    """w1 asks, with its own certificate, for a new one (what its kubelet does at rotation):
    approved and signed at once. A request for w2's identity is refused by the API server."""
    config = join_config_on_plane(plane, rendered, "w1")
    own = node_csr(plane, "renew-w1", "w1")
    assert kubectl_as(plane, config, "create", "-f", own)[0] == 0
    wait_for(
        "w1's renewal CSR approved and signed",
        lambda: approved(csr_state(plane, "renew-w1")),
        lambda: json.dumps(csr_state(plane, "renew-w1")),
    )
    state = csr_state(plane, "renew-w1")
    spec = state["spec"]
    assert isinstance(spec, dict) and spec["username"] == "system:node:w1"
    stranger = node_csr(plane, "w1-as-w2", "w2")
    code, out = kubectl_as(plane, config, "create", "-f", stranger)
    assert code == 1 and "can only create a node CSR with CN=system:node:w1" in out, out


def test_join_credentials_node_a_cannot_register_or_modify_node_b(
    plane: ControlPlane, rendered: Rendered
) -> None:
    """NodeRestriction and the Node authorizer: w2 registers itself; w1 can neither label,
    delete nor register w2, nor register a node of another name; w2 may label itself."""
    as_w1 = join_config_on_plane(plane, rendered, "w1")
    as_w2 = join_config_on_plane(plane, rendered, "w2")
    node = f"{HOME}/node-w2.yaml"
    plane.machine.write(
        node, yaml.safe_dump({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "w2"}})
    )
    other = f"{HOME}/node-w9.yaml"
    plane.machine.write(
        other, yaml.safe_dump({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "w9"}})
    )
    code, out = kubectl_as(plane, as_w1, "create", "-f", node)
    assert code != 0 and "Forbidden" in out, out  # w1 registering w2
    assert kubectl_as(plane, as_w2, "create", "-f", node) == (0, "node/w2 created")
    for args in (
        ("label", "node", "w2", "taken=by-w1"),
        ("delete", "node", "w2"),
        ("create", "-f", other),
    ):
        code, out = kubectl_as(plane, as_w1, *args)
        assert code != 0 and "forbidden" in out.lower(), (args, out)
    assert kubectl_as(plane, as_w2, "label", "node", "w2", "zone=b")[0] == 0
    assert "zone" in plane.kubectl("get", "node", "w2", "--show-labels")
    assert "taken" not in plane.kubectl("get", "node", "w2", "--show-labels")


def expired_worker(
    plane: ControlPlane, machines: MachineFactory, binaries: Path, folder: Path, name: str
) -> tuple[Machine, Rendered]:
    """w1 rendered with a credential minted EXPIRED (its join window over a day ago), ready
    to run its bootstrap's kubeadm phase."""
    old = joincred.reconcile(plane.rendered.cluster, plane.rendered.secrets, EXPIRED, ["w1"])
    node_rendered = render_example(folder, old.secrets, bootstrap=CERTIFICATE)
    machine = bootstrapping_machine(machines, plane, node_rendered, "w1", name, binaries)
    place_rendered_files(machine, node_rendered, "w1", JOIN_KUBECONFIG)
    return machine, node_rendered


def test_join_credentials_expired_stops_the_bootstrap_with_a_clear_cause(
    plane: ControlPlane, machines: MachineFactory, full_binaries: Path, tmp_path: Path
) -> None:
    machine, _ = expired_worker(plane, machines, full_binaries, tmp_path, "w1-expired")
    status, log = run_bootstrap(machine, tmp_path)
    assert (status["result"], status["phase"], status["reason"]) == (
        "failed",
        "kubeadm",
        "join-credential-expired",
    ), log
    assert "this node's join certificate expired at" in status["error"]
    assert "kubeadm join" not in log.split("phase kubeadm: start", 1)[1]  # stopped before it
    advice = " ".join(ADVICE["join-credential-expired"].split())
    assert advice in " ".join(explain(status).split())


def test_join_credentials_expired_by_the_clusters_clock_is_classified_from_kubeadm(
    plane: ControlPlane, machines: MachineFactory, full_binaries: Path, tmp_path: Path
) -> None:
    """A node whose clock is behind passes its own check; the API server refuses the
    certificate, and the real kubeadm's error is classified the same way."""
    machine, node_rendered = expired_worker(plane, machines, full_binaries, tmp_path, "w1-slow")
    script = bootstrap_script(node_rendered, "w1", plane)
    until = int(
        node_rendered.secrets.join_credentials["w1"].certificate.not_valid_after_utc.timestamp()
    )
    assert f"join_credential_valid {until} " in script
    behind = script.replace(f"join_credential_valid {until} ", "join_credential_valid 4102444800 ")
    machine.write(BOOTSTRAP_SCRIPT, behind, 0o755)
    status, log = run_bootstrap(machine, tmp_path)
    assert status["reason"] == "join-credential-expired", log
    assert "refused this node's join certificate" in status["error"]
    assert "Unauthorized" in log
