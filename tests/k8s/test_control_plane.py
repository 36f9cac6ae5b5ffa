"""A real control plane on loopback, made from one example's rendered files (issue 11, items 4-5).

The example is ha-external-lb (Kubernetes 1.34.2): cp1 runs `kubeadm init`, cp2 joins as a
control plane with the shared certificates in its user-data, w1 joins as a worker. Every
node's kubeadm configuration is used as rendered; how the harness puts it on loopback is said
in tests/k8s/controlplane.py.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from generator import secrets
from generator.layout import PKI_STASH
from generator.secrets.pki import KeyAlgorithm, discovery_hash
from generator.status import ADVICE, explain

from ..support.kubeadm import SHARED_PKI_NAMES
from ..support.specs import Rendered
from .cluster import INIT, JOINER, WORKER, render_example
from .controlplane import (
    ADMIN_CONF,
    KUBEADM_CONFIG,
    PKI,
    ControlPlane,
    MachineFactory,
    document,
    kubeadm_documents,
    place_shared_pki,
    prepare_init_node,
    rendered_file,
    resolve_endpoint,
    restore_shared_pki,
    wait_for_signature,
    write_files,
)
from .joining import (
    BOOTSTRAP_CONF,
    KUBELET_CLIENT,
    KUBELET_CONF,
    KUBELET_FLAGS,
    KUBELET_WAIT,
    bootstrapping_machine,
    certificate,
    joining_machine,
    names,
    run_bootstrap,
    short_discovery,
    start_silent_runtime,
    tls_bootstrap,
    wait_for,
)
from .machine import Machine

# Certificates a control plane makes itself, and the rendered CA each must chain to.
ETCD_SIGNED = ("etcd/server.crt", "etcd/peer.crt", "etcd/healthcheck-client.crt")
ISSUER = {
    "apiserver.crt": "ca.crt",
    "apiserver-kubelet-client.crt": "ca.crt",
    "front-proxy-client.crt": "front-proxy-ca.crt",
    "apiserver-etcd-client.crt": "etcd/ca.crt",
    **{name: "etcd/ca.crt" for name in ETCD_SIGNED},
}


def signed_by(cert: x509.Certificate, ca_pem: str | bytes) -> bool:
    ca = certificate(ca_pem.encode() if isinstance(ca_pem, str) else ca_pem)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# --- a worker joins: discovery, then the kubelet's TLS bootstrap ---------------------------


def test_control_plane_worker_discovers_cluster_and_kubelet_completes_tls_bootstrap(
    plane: ControlPlane, rendered: Rendered, machines: MachineFactory
) -> None:
    worker = joining_machine(machines, plane, rendered, WORKER)
    join = document(kubeadm_documents(rendered, WORKER), "JoinConfiguration")
    token = join["discovery"]["bootstrapToken"]["token"]
    assert join["discovery"]["bootstrapToken"]["caCertHashes"] == [rendered.secrets.ca_cert_hash]
    # kubelet-start discovers the cluster, writes the kubelet's files, then waits for a
    # healthy kubelet (which needs a container runtime): it is stopped once the kubelet has
    # its certificate.
    kubeadm = worker.start(
        "kubeadm-join", ["kubeadm", "join", "phase", "kubelet-start", f"--config={KUBEADM_CONFIG}"]
    )
    try:
        wait_for(
            "kubeadm join wrote the kubelet's files",
            lambda: worker.exists(KUBELET_FLAGS) or kubeadm.poll() is not None,
            lambda: worker.log_tail("kubeadm-join"),
        )
        assert worker.exists(KUBELET_FLAGS), worker.log_tail("kubeadm-join")
        # Discovery pinned our CA and handed the kubelet the token to bootstrap with.
        bootstrap = yaml.safe_load(worker.read(BOOTSTRAP_CONF))
        cluster = bootstrap["clusters"][0]["cluster"]
        assert base64.b64decode(cluster["certificate-authority-data"]).decode() == plane.ca_pem
        assert cluster["server"] == f"https://{rendered.cluster.endpoint}"
        assert bootstrap["users"][0]["user"]["token"] == token
        start_silent_runtime(worker, join["nodeRegistration"]["criSocket"])
        tls_bootstrap(worker)
    finally:
        worker.stop_process("kubelet")
        worker.stop_process("silent-runtime")
        worker.stop_process("kubeadm-join")

    client = certificate(worker.read(KUBELET_CLIENT))
    assert names(client, x509.NameOID.COMMON_NAME) == [f"system:node:{WORKER}"]
    assert names(client, x509.NameOID.ORGANIZATION_NAME) == ["system:nodes"]
    assert signed_by(client, plane.ca_pem)
    requests = json.loads(plane.kubectl("get", "csr", "-o", "json"))["items"]
    mine = [r for r in requests if r["spec"]["username"] == f"system:bootstrap:{token[:6]}"]
    assert mine and all(
        r["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet" for r in mine
    )
    approved = [r for r in mine if r["status"].get("certificate")]
    assert any(c["type"] == "Approved" for r in approved for c in r["status"]["conditions"])
    # The certificate works against the API server: it is the node's identity there.
    whoami = worker.run(["kubectl", f"--kubeconfig={KUBELET_CONF}", "auth", "whoami", "-o", "json"])
    user = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user["username"] == f"system:node:{WORKER}"
    assert "system:nodes" in user["groups"]


# --- failed joins: the real kubeadm's errors, classified by the rendered bootstrap script ---


def failing_join_secrets(rendered: Rendered, plane: ControlPlane, case: str) -> Any:
    """The secrets a worker is rendered with in each failure."""
    own = rendered.secrets
    if case == "wrong-ca-hash":
        # Another secrets file, but the same token (spec.bootstrap.token pins it).
        other = secrets.generate(rendered.cluster.name)
        return dataclasses.replace(other, bootstrap_token=own.bootstrap_token)
    if case == "unknown-token":
        return dataclasses.replace(own, bootstrap_token=secrets.new_token())
    assert case == "expired-token"
    expired = secrets.new_token()
    # A token that lived: created with a short TTL, signed by the bootstrap signer, then
    # expired and dropped by the token cleaner.
    plane.kubeadm("token", "create", expired, "--ttl=8s", f"--kubeconfig={ADMIN_CONF}")
    wait_for_signature(plane, expired.split(".")[0])
    wait_for_signature(plane, expired.split(".")[0], present=False)
    return dataclasses.replace(own, bootstrap_token=expired)


CA_HASH_SAYS = "cluster CA found in cluster-info ConfigMap is invalid"
NO_SIGNATURE_SAYS = "could not find a JWS signature"


@pytest.mark.parametrize(
    ("node", "case", "reason", "kubeadm_says"),
    [
        (WORKER, "wrong-ca-hash", "ca-hash", CA_HASH_SAYS),
        (WORKER, "unknown-token", "token", NO_SIGNATURE_SAYS),
        (WORKER, "expired-token", "token", NO_SIGNATURE_SAYS),
        (JOINER, "wrong-ca-hash", "ca-hash", CA_HASH_SAYS),
        (JOINER, "unknown-token", "token", NO_SIGNATURE_SAYS),
    ],
)
def test_control_plane_failed_join_is_classified_by_its_cause(
    plane: ControlPlane,
    machines: MachineFactory,
    full_binaries: Path,
    tmp_path: Path,
    node: str,
    case: str,
    reason: str,
    kubeadm_says: str,
) -> None:
    """The node's rendered bootstrap script runs its kubeadm phase with the real kubeadm."""
    node_rendered = render_example(tmp_path, failing_join_secrets(plane.rendered, plane, case))
    name = f"{node}-{case}"
    machine = bootstrapping_machine(machines, plane, node_rendered, node, name, full_binaries)
    status, log = run_bootstrap(machine, tmp_path)
    outcome = (status["result"], status["phase"], status["reason"])
    assert outcome == ("failed", "kubeadm", reason), log
    assert kubeadm_says in log
    kubeadm_phase = next(p for p in status["phases"] if p["name"] == "kubeadm")
    assert any(kubeadm_says in line for line in kubeadm_phase["output"]), kubeadm_phase
    advice = " ".join(ADVICE[reason].split())
    assert advice in " ".join(explain(status).split())


def test_control_plane_token_advice_gets_the_join_past_discovery(
    plane: ControlPlane, machines: MachineFactory, full_binaries: Path, tmp_path: Path
) -> None:
    """explain-status's advice for `token`, typed as written: the token created again on a
    control plane, the bootstrap restarted. The join then passes discovery and stops only at
    the kubelet, which needs a container runtime this host lacks."""
    node_rendered = render_example(
        tmp_path, failing_join_secrets(plane.rendered, plane, "expired-token")
    )
    name = f"{WORKER}-advice"
    machine = bootstrapping_machine(machines, plane, node_rendered, WORKER, name, full_binaries)
    join = document(kubeadm_documents(node_rendered, WORKER), "JoinConfiguration")
    bounded = short_discovery(join)
    bounded["timeouts"]["kubeletHealthCheck"] = KUBELET_WAIT
    machine.write(KUBEADM_CONFIG, yaml.safe_dump(bounded, sort_keys=False), 0o600)
    status, _ = run_bootstrap(machine, tmp_path)
    assert status["reason"] == "token"
    token = join["discovery"]["bootstrapToken"]["token"]
    assert "kubeadm token create <token> --ttl 2h" in ADVICE["token"]
    plane.kubeadm("token", "create", token, "--ttl", "2h", f"--kubeconfig={ADMIN_CONF}")
    wait_for_signature(plane, token.split(".")[0])
    status, log = run_bootstrap(machine, tmp_path)
    retried = log[log.rindex("phase kubeadm: start (attempt 2)") :]
    assert NO_SIGNATURE_SAYS not in retried
    assert "failed while waiting for the kubelet to start" in retried, retried
    assert machine.exists("/var/lib/kubelet/config.yaml")  # kubelet-start was reached
    assert status["reason"] == "kubeadm-join", retried


# --- a control-plane joiner's shared certificates -----------------------------------------


def prepare_control_plane_join(joiner: Machine, subphases: tuple[str, ...]) -> None:
    for subphase in subphases:
        prepare = ["join", "phase", "control-plane-prepare", subphase]
        joiner.run(["kubeadm", *prepare, f"--config={KUBEADM_CONFIG}"])


def assert_control_plane_pki(joiner: Machine, rendered: Rendered, shared: dict[str, bytes]) -> None:
    """The shared files are still those given; every certificate kubeadm made chains to the
    rendered CA it belongs to; the serving certificate names the node and the endpoint."""
    made = joiner.files(PKI)
    for name, content in shared.items():
        assert joiner.read(f"{PKI}/{name}") == content, f"kubeadm replaced {name}"
    for name, issuer in ISSUER.items():
        assert name in made, f"kubeadm made no {name}: {made}"
        cert = certificate(joiner.read(f"{PKI}/{name}"))
        assert signed_by(cert, shared[issuer]), f"{name} is not signed by the rendered {issuer}"
    serving = certificate(joiner.read(f"{PKI}/apiserver.crt"))
    addresses = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    join = document(kubeadm_documents(rendered, JOINER), "JoinConfiguration")
    own = join["controlPlane"]["localAPIEndpoint"]["advertiseAddress"]
    assert own in [str(ip) for ip in addresses.get_values_for_type(x509.IPAddress)]
    assert rendered.cluster.endpoint_host in addresses.get_values_for_type(x509.DNSName)


def test_control_plane_joiner_shared_certificates_are_accepted(
    plane: ControlPlane, rendered: Rendered, machines: MachineFactory
) -> None:
    joiner = joining_machine(machines, plane, rendered, JOINER)
    place_shared_pki(joiner, rendered, JOINER)
    given = {name: joiner.read(f"{PKI}/{name}") for name in joiner.files(PKI)}
    assert sorted(given) == sorted(SHARED_PKI_NAMES)
    prepare_control_plane_join(joiner, ("certs", "kubeconfig"))
    assert_control_plane_pki(joiner, rendered, given)
    admin = yaml.safe_load(joiner.read(ADMIN_CONF))
    ca_data = admin["clusters"][0]["cluster"]["certificate-authority-data"]
    assert base64.b64decode(ca_data) == given["ca.crt"]


def test_control_plane_upload_mode_joiner_downloads_the_rendered_certificates(
    plane: ControlPlane, rendered: Rendered, machines: MachineFactory, tmp_path: Path
) -> None:
    """certificateDistribution: upload (no example uses it): the init node's rendered
    certificateKey encrypts the uploaded certificates, the joiner's decrypts them."""
    upload = render_example(tmp_path, rendered.secrets, {"certificateDistribution": "upload"})
    assert not [f for f in write_files(upload, JOINER) if f["path"].startswith(PKI_STASH)]
    init_config = "/etc/k8sgen/kubeadm-upload.yaml"
    plane.machine.write(init_config, rendered_file(upload, INIT, KUBEADM_CONFIG)["content"], 0o600)
    plane.kubeadm("init", "phase", "upload-certs", "--upload-certs", f"--config={init_config}")
    joiner = joining_machine(machines, plane, upload, JOINER, f"{JOINER}-upload")
    prepare_control_plane_join(joiner, ("download-certs", "certs"))
    shared = {name: plane.machine.read(f"{PKI_STASH}/{name}") for name in SHARED_PKI_NAMES}
    downloaded = {name: joiner.read(f"{PKI}/{name}") for name in SHARED_PKI_NAMES}
    # Byte for byte, apart from the modes: kubeadm writes what it uploaded from the init node.
    assert downloaded == shared
    assert_control_plane_pki(joiner, upload, shared)


# --- the rendered admin.conf ---------------------------------------------------------------


def test_control_plane_rendered_admin_conf_is_cluster_admin(
    plane: ControlPlane, rendered: Rendered
) -> None:
    config = rendered.artifacts["admin.conf"].content
    plane.machine.write("/run/home/rendered-admin.conf", config, 0o600)
    answer = plane.machine.run(
        ["kubectl", "--kubeconfig=/run/home/rendered-admin.conf", "auth", "can-i", "*", "*"],
        check=False,
    )
    assert answer.stdout.strip() == "yes", answer.stdout


# --- kubeadm reset, and the retry that explain-status recommends ---------------------------


def test_control_plane_kubeadm_reset_then_retry_keeps_the_rendered_ca(
    rendered: Rendered, machines: MachineFactory
) -> None:
    """explain-status's advice after a failed init: `kubeadm reset -f`, unblock, restart. The
    restarted bootstrap restores the shared PKI before kubeadm init runs again."""
    node = machines(f"{INIT}-reset")
    resolve_endpoint(node, rendered, node.address)  # its API server is down: nothing answers
    prepare_init_node(node, rendered, INIT)
    assert node.read(f"{PKI}/ca.crt").decode() == rendered.secrets.ca.cert
    stash = {name: node.read(f"{PKI_STASH}/{name}") for name in node.files(PKI_STASH)}
    assert sorted(stash) == sorted(SHARED_PKI_NAMES)
    node.run(["kubeadm", "reset", "-f"], timeout=180)
    assert node.files(PKI) == [], "kubeadm reset left the certificate folder as it was"
    assert {name: node.read(f"{PKI_STASH}/{name}") for name in SHARED_PKI_NAMES} == stash
    restore_shared_pki(node, rendered, INIT)
    node.run(["kubeadm", "init", "phase", "certs", "all", f"--config={KUBEADM_CONFIG}"])
    ca = node.read(f"{PKI}/ca.crt").decode()
    assert ca == rendered.secrets.ca.cert
    join = document(kubeadm_documents(rendered, WORKER), "JoinConfiguration")
    assert join["discovery"]["bootstrapToken"]["caCertHashes"] == [discovery_hash(ca)]


# --- ECDSA P-256 keys: the rendered CAs and service-account key, kubeadm's own keys --------

# The keys kubeadm makes itself on the init node (with encryptionAlgorithm ECDSA-P256).
KUBEADM_KEYS = (
    "apiserver.key",
    "apiserver-kubelet-client.key",
    "apiserver-etcd-client.key",
    "front-proxy-client.key",
    "etcd/server.key",
    "etcd/peer.key",
    "etcd/healthcheck-client.key",
)
RENDERED_KEYS = ("ca.key", "sa.key", "front-proxy-ca.key", "etcd/ca.key")
P256 = "NIST CURVE: P-256"  # in openssl's text of a P-256 key or public key


def openssl_text(machine: Machine, kind: str, path: str) -> str:
    return machine.run(["openssl", kind, "-in", path, "-noout", "-text"]).stdout


def test_control_plane_runs_on_ecdsa_keys(plane: ControlPlane) -> None:
    """The control plane is up on the rendered ECDSA CAs and service-account key; kubeadm made
    its own keys ECDSA too (the rendered encryptionAlgorithm); openssl reads every type."""
    rendered = plane.rendered
    assert rendered.cluster.kubernetes.has_encryption_algorithm
    assert rendered.secrets.encryption_algorithm == KeyAlgorithm.ECDSA_P256
    cluster_config = document(kubeadm_documents(rendered, INIT), "ClusterConfiguration")
    assert cluster_config["encryptionAlgorithm"] == "ECDSA-P256"
    for name in (*RENDERED_KEYS, *KUBEADM_KEYS):
        assert P256 in openssl_text(plane.machine, "pkey", f"{PKI}/{name}"), name
    for name in ("ca.crt", "apiserver.crt", *ISSUER):
        text = openssl_text(plane.machine, "x509", f"{PKI}/{name}")
        assert P256 in text and "ecdsa-with-SHA256" in text, name
    assert (
        P256
        in plane.machine.run(
            ["openssl", "pkey", "-pubin", "-in", f"{PKI}/sa.pub", "-noout", "-text"]
        ).stdout
    )


def test_control_plane_ecdsa_ca_hash_is_openssls(plane: ControlPlane) -> None:
    """The rendered caCertHashes is the SHA-256 of the ECDSA CA's public key as openssl
    writes it (DER SubjectPublicKeyInfo), the way kubeadm's documentation computes it."""
    spki = plane.machine.run(
        [
            "bash",
            "-c",
            f"openssl x509 -in {PKI}/ca.crt -noout -pubkey"
            " | openssl pkey -pubin -outform DER | sha256sum",
        ]
    ).stdout.split()[0]
    join = document(kubeadm_documents(plane.rendered, WORKER), "JoinConfiguration")
    assert join["discovery"]["bootstrapToken"]["caCertHashes"] == [f"sha256:{spki}"]


def test_control_plane_service_account_token_is_signed_with_the_ecdsa_key(
    plane: ControlPlane,
) -> None:
    """kube-apiserver signs a service-account token with the rendered ECDSA sa.key (ES256)
    and accepts it with the rendered sa.pub."""
    wait_for(
        "the controller-manager made the default service account",
        lambda: (
            plane.machine.run(
                ["kubectl", f"--kubeconfig={ADMIN_CONF}", "get", "serviceaccount", "default"],
                check=False,
            ).returncode
            == 0
        ),
        plane.describe,
    )
    token = plane.kubectl("create", "token", "default").strip()
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "ES256"
    # admin.conf with the token as its only credential (no client certificate to win instead).
    config = yaml.safe_load(plane.machine.read(ADMIN_CONF))
    config["users"][0]["user"] = {"token": token}
    plane.machine.write("/run/home/token.conf", yaml.safe_dump(config), 0o600)
    whoami = plane.kubectl("auth", "whoami", "-o", "json", kubeconfig="/run/home/token.conf")
    user = json.loads(whoami)["status"]["userInfo"]
    assert user["username"] == "system:serviceaccount:default:default"
