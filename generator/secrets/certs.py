"""`k8sgen certs`: every certificate of the cluster, when it ends and what renews it, offline.

Two kinds: those k8sgen minted (read from the secrets file, whatever certificates it holds,
so credentials added there later are listed too), and those kubeadm and the kubelet make on
the nodes at first boot (their end computed from the lifetime they will use).
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from generator import certspec, layout
from generator.errors import SecretsError
from generator.inputs import read_input, safe_yaml
from generator.model import Cluster
from generator.secrets import JOIN_CREDENTIALS, MAX_SECRETS_BYTES, ClusterSecrets
from generator.spec.rules import describe_seconds

FORMATS = ("text", "json")
PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"
KUBELET_SIGNING = "8760h"  # kube-controller-manager's --cluster-signing-duration default
KUBELET_SELF_SIGNED = "8760h"  # the kubelet's self-signed serving certificate (client-go certutil)
# A stored CA whose lifetime is this close to caValidity was minted with it (clock skew margin).
LIFETIME_TOLERANCE = datetime.timedelta(minutes=10)
ADMIN_KEY = "admin"  # where the secrets file keeps admin.conf's certificate
# The secrets file's CAs under the names kubeadm gives them (check-expiration, SIGNED BY).
CA_NAMES = {"ca": "ca", "frontProxyCA": "front-proxy-ca", "etcdCA": "etcd-ca"}
# Below the text table: what its short words mean.
NOTES = (
    f"{layout.CERT_RENEWAL_TIMER}: daily on each control plane; once one kubeadm certificate "
    "has renewBefore ({renew_before}) or less left (48h less on each further control plane: "
    "one a night) and every etcd member is healthy: kubeadm certs renew all, static pods "
    "restarted.",
    "kubelet client: the kubelet renews it itself (rotateCertificates; kubeadm's RBAC approves "
    "the CSR); its lifetime is kube-controller-manager's --cluster-signing-duration.",
    "kubelet serving: self-signed by the kubelet; the API server does not check it "
    "(kubeadm's default).",
    "CAs: nothing renews them, and every certificate above ends with them (README: Day 2).",
)


@dataclass(frozen=True)
class CertRow:
    name: str
    minted_by: str  # k8sgen, kubeadm or kubelet
    signed_by: str
    on: str  # where it lives: the secrets file, admin.conf or nodes
    path: str  # a node's file, or the place in the secrets file
    not_after: str
    renewed_by: str
    renewal: str  # when


@dataclass(frozen=True)
class KubeadmCert:
    name: str
    path: str  # on a control plane
    signed_by: str


PKI = layout.PKI_DIR
KUBECONFIGS = "/etc/kubernetes"
# What `kubeadm init` and `kubeadm join --control-plane` make, and `kubeadm certs renew all`
# renews (kubeconfigs: their client certificates).
KUBEADM_CERTS = (
    KubeadmCert("apiserver", f"{PKI}/apiserver.crt", "ca"),
    KubeadmCert("apiserver-kubelet-client", f"{PKI}/apiserver-kubelet-client.crt", "ca"),
    KubeadmCert("apiserver-etcd-client", f"{PKI}/apiserver-etcd-client.crt", "etcd-ca"),
    KubeadmCert("front-proxy-client", f"{PKI}/front-proxy-client.crt", "front-proxy-ca"),
    KubeadmCert("etcd-server", f"{PKI}/etcd/server.crt", "etcd-ca"),
    KubeadmCert("etcd-peer", f"{PKI}/etcd/peer.crt", "etcd-ca"),
    KubeadmCert("etcd-healthcheck-client", f"{PKI}/etcd/healthcheck-client.crt", "etcd-ca"),
    KubeadmCert("admin.conf", f"{KUBECONFIGS}/admin.conf", "ca"),
    KubeadmCert("controller-manager.conf", f"{KUBECONFIGS}/controller-manager.conf", "ca"),
    KubeadmCert("scheduler.conf", f"{KUBECONFIGS}/scheduler.conf", "ca"),
)
SUPER_ADMIN = KubeadmCert("super-admin.conf", f"{KUBECONFIGS}/super-admin.conf", "ca")


def certificate_rows(cluster: Cluster, path: Path) -> list[CertRow]:
    """The rows of the cluster whose secrets file is PATH (already loaded and checked)."""
    minted = minted_rows(path)
    ca_ends = {r.name: r.not_after for r in minted if r.signed_by == "self"}
    return [*minted, *kubeadm_rows(cluster, ca_ends), *kubelet_rows(cluster, ca_ends)]


def _kubeadm_end(term: str, signed_by: str, ca_ends: dict[str, str]) -> str:
    """kubeadm does not cap a leaf at its CA's end: the earlier of the two is when it ends."""
    end = f"first boot + {term}"
    return f"min({end}, {ca_ends[signed_by]})" if signed_by in ca_ends else end


def minted_rows(path: Path) -> list[CertRow]:
    """Every certificate in the secrets file, CAs first, each under its place in the file."""
    found = list(stored_certificates(path))
    cas = {c.subject: CA_NAMES.get(key, key) for key, c in found if _is_ca(c)}
    rows = [_minted_row(key, cert, cas) for key, cert in found]
    return sorted(rows, key=lambda r: r.signed_by != "self")


def stored_certificates(path: Path) -> Iterator[tuple[str, x509.Certificate]]:
    """(where in the file, certificate) for every PEM certificate the secrets file holds."""
    data = safe_yaml(read_input(path, "secrets file", MAX_SECRETS_BYTES, private=True).decode())
    for key, text in _strings(data, ""):
        if text.lstrip().startswith(PEM_CERTIFICATE):
            try:
                yield key, x509.load_pem_x509_certificate(text.encode())
            except ValueError as exc:
                raise SecretsError(f"{path}: {key}: not a PEM certificate ({exc})") from exc


def _strings(data: Any, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _strings(value, f"{prefix}[{index}]")
    elif isinstance(data, str):
        yield prefix.removesuffix(".cert"), data


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _minted_row(key: str, cert: x509.Certificate, cas: dict[x509.Name, str]) -> CertRow:
    until = _date(cert.not_valid_after_utc)
    if _is_ca(cert):
        return CertRow(
            CA_NAMES.get(key, _subject(cert)),
            "k8sgen",
            "self",
            "secrets file",
            key,
            until,
            "nobody (never minted again)",
            "replace it before it ends (README: Day 2)",
        )
    admin = key == ADMIN_KEY
    renewal = ("k8sgen kubeconfig (a new file)", "before it ends") if admin else _join_renewal(key)
    return CertRow(
        _subject(cert),
        "k8sgen",
        cas.get(cert.issuer, cert.issuer.rfc4514_string()),
        "admin.conf" if admin else "secrets file",
        key,
        until,
        *renewal,
    )


def _join_renewal(key: str) -> tuple[str, str]:
    """Who renews a certificate of the secrets file other than admin.conf's: a node's join
    certificate is minted again on request, for a node that has not joined yet."""
    node = key.removeprefix(f"{JOIN_CREDENTIALS}.")
    if node == key:
        return "nobody (a fixed window)", "-"
    return f"k8sgen render --renew-join-credential {node}", "if it ends before the node joins"


def _subject(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    groups = [str(o.value) for o in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    name = str(names[0].value) if names else cert.subject.rfc4514_string()
    return name + (f" ({', '.join(groups)})" if groups else "")


def _date(moment: datetime.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def kubeadm_rows(cluster: Cluster, ca_ends: dict[str, str]) -> list[CertRow]:
    """kubeadm's certificates on the control planes: first boot + the validity it uses."""
    chosen = cluster.certificates
    renew_at = describe_seconds(int((chosen.leaf - chosen.renew_window).total_seconds()))
    control_planes = ", ".join(n.name for n in cluster.control_planes)
    staggered = len(cluster.control_planes) > 1
    later = f" ({certspec.STAGGER_TEXT} later on each further one)" if staggered else ""
    made = [(c, control_planes) for c in KUBEADM_CERTS]
    if cluster.kubernetes.has_super_admin_conf:
        made.append((SUPER_ADMIN, cluster.init_node.name))
    return [
        CertRow(
            cert.name,
            "kubeadm",
            cert.signed_by,
            nodes,
            cert.path,
            _kubeadm_end(chosen.validity, cert.signed_by, ca_ends),
            layout.CERT_RENEWAL_TIMER,
            f"first boot + {renew_at}, then every {renew_at}{later}",
        )
        for cert, nodes in made
    ]


def kubelet_rows(cluster: Cluster, ca_ends: dict[str, str]) -> list[CertRow]:
    every = "every node"
    return [
        # kubeadm init signs the init node's first one itself, for validity (no CSR)
        CertRow(
            "kubelet client (first)",
            "kubeadm",
            "ca",
            cluster.init_node.name,
            "/var/lib/kubelet/pki/kubelet-client-current.pem",
            _kubeadm_end(cluster.certificates.validity, "ca", ca_ends),
            "the kubelet (rotation)",
            "at 70-90% of its life",
        ),
        CertRow(
            "kubelet client",
            "kubelet",
            "ca",
            every,
            "/var/lib/kubelet/pki/kubelet-client-current.pem",
            f"first boot + {KUBELET_SIGNING}",
            "the kubelet (rotation)",
            "at 70-90% of its life",
        ),
        CertRow(
            "kubelet serving",
            "kubelet",
            "self",
            every,
            "/var/lib/kubelet/pki/kubelet.crt",
            f"first boot + {KUBELET_SELF_SIGNED}",
            "nobody (not checked)",
            "-",
        ),
    ]


def lifetime_warnings(
    cluster: Cluster, secrets: ClusterSecrets, now: datetime.datetime | None = None
) -> list[str]:
    """caValidity governs new secrets only: say when the stored CAs were minted otherwise,
    and when certificates made from now on would outlive the cluster CA."""
    wanted = cluster.certificates.ca
    warnings = []
    stored = (("ca", secrets.ca), ("frontProxyCA", secrets.front_proxy_ca))
    for name, pair in (*stored, ("etcdCA", secrets.etcd_ca)):
        cert = pair.certificate
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        if abs(lifetime - wanted) > LIFETIME_TOLERANCE:
            warnings.append(
                f"the stored CA {name} lives {describe_seconds(int(lifetime.total_seconds()))} "
                f"(until {_date(cert.not_valid_after_utc)}), not certificates.caValidity "
                f"({cluster.certificates.ca_validity}): an existing CA is never minted again; "
                "caValidity applies to new secrets only"
            )
    ca_end = secrets.ca.certificate.not_valid_after_utc
    if (now or datetime.datetime.now(datetime.UTC)) + cluster.certificates.leaf > ca_end:
        warnings.append(
            f"certificates made from now on (validity {cluster.certificates.validity}) would "
            f"end after the cluster CA ({_date(ca_end)}), which nothing renews: replace the "
            "CA before it ends (README: Day 2, Before the CAs expire)"
        )
    return warnings


def _camel(row: dict[str, str]) -> dict[str, str]:
    """JSON keys as the rest of k8sgen's JSON spells them (notAfter, signedBy)."""
    return {re.sub(r"_(.)", lambda m: m.group(1).upper(), k): v for k, v in row.items()}


def render_table(cluster: Cluster, rows: list[CertRow], fmt: str) -> str:
    if fmt == "json":
        data = {"cluster": cluster.name, "certificates": [_camel(asdict(r)) for r in rows]}
        return json.dumps(data, indent=2) + "\n"
    header = ("CERTIFICATE", "MINTED BY", "SIGNED BY", "ON", "NOT AFTER", "RENEWED BY", "WHEN")
    table = [
        header,
        *(
            (r.name, r.minted_by, r.signed_by, r.on, r.not_after, r.renewed_by, r.renewal)
            for r in rows
        ),
    ]
    widths = [max(len(row[c]) for row in table) for c in range(len(header) - 1)]
    lines = [
        "  ".join([*(f"{v:<{w}}" for v, w in zip(row, widths, strict=False)), row[-1]])
        for row in table
    ]
    notes = [n.format(renew_before=cluster.certificates.renew_before) for n in NOTES]
    return "\n".join([*lines, "", *notes]) + "\n"
