"""Audit logging and encryption at rest on the control planes, as data: the files each control
plane gets, and the kube-apiserver flags and volumes the kubeadm ClusterConfiguration merges."""

from __future__ import annotations

from typing import Any

from generator.layout import AUDIT_LOG_DIR, AUDIT_POLICY, ENCRYPTION_CONFIG
from generator.model import Cluster, Node
from generator.secrets import ClusterSecrets
from generator.security import AUDIT_FLAGS, AUDIT_VOLUMES, ENCRYPTION_FLAGS, ENCRYPTION_VOLUMES

AUDIT_API = "audit.k8s.io/v1"
ENCRYPTION_API = "apiserver.config.k8s.io/v1"
AUDIT_LOG = f"{AUDIT_LOG_DIR}/audit.log"
# The name kube-apiserver writes into every value it encrypts (k8s:enc:<provider>:v1:<name>:).
ENCRYPTION_KEY_NAME = "k8sgen-1"
ENCRYPTED_RESOURCES = ["secrets"]
# Health probes and the version/OpenAPI documents: many a minute, nothing to audit.
QUIET_URLS = ["/healthz*", "/livez*", "/readyz*", "/version", "/openapi*", "/metrics"]
# Objects whose bodies hold secrets or tokens: who touched them is logged, never the content.
SECRET_BEARING = [
    {"group": "", "resources": ["secrets", "configmaps", "serviceaccounts/token"]},
    {"group": "authentication.k8s.io", "resources": ["tokenreviews"]},
]
READ_VERBS = ["get", "list", "watch"]


def audit_policy() -> dict[str, Any]:
    """The default policy: first matching rule wins. Noise (probes, leases, events) is dropped,
    secret-bearing objects and reads are logged as metadata, other writes with their request."""
    return {
        "apiVersion": AUDIT_API,
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [
            {"level": "None", "nonResourceURLs": QUIET_URLS},
            {"level": "None", "resources": [{"group": "coordination.k8s.io"}]},
            {"level": "None", "resources": [{"group": "", "resources": ["events"]}]},
            {"level": "None", "userGroups": ["system:nodes"], "verbs": READ_VERBS},
            {"level": "Metadata", "resources": SECRET_BEARING},
            {"level": "Metadata", "verbs": READ_VERBS},
            {"level": "Request"},
        ],
    }


def encryption_configuration(cluster: Cluster, secrets: ClusterSecrets) -> dict[str, Any]:
    """The cluster's one key first (it encrypts every write); identity last, so what was
    stored before encryption was enabled still reads."""
    assert cluster.encryption and secrets.encryption_key, "checked when the secrets were loaded"
    key = {"name": ENCRYPTION_KEY_NAME, "secret": secrets.encryption_key}
    return {
        "apiVersion": ENCRYPTION_API,
        "kind": "EncryptionConfiguration",
        "resources": [
            {
                "resources": ENCRYPTED_RESOURCES,
                "providers": [{cluster.encryption.provider: {"keys": [key]}}, {"identity": {}}],
            }
        ],
    }


def api_server_args(cluster: Cluster) -> dict[str, str]:
    args: dict[str, str] = {}
    if cluster.audit:
        audit = cluster.audit
        values = (AUDIT_POLICY, AUDIT_LOG, audit.max_age, audit.max_backup, audit.max_size)
        args |= {flag: str(value) for flag, value in zip(AUDIT_FLAGS, values, strict=True)}
    if cluster.encryption:
        args[ENCRYPTION_FLAGS[0]] = ENCRYPTION_CONFIG
    return args


def api_server_volumes(cluster: Cluster) -> list[dict[str, Any]]:
    """hostPath mounts at the same paths, so the flags name what the node has."""
    volumes = []
    if cluster.audit:
        volumes += [
            _volume(AUDIT_VOLUMES[0], AUDIT_POLICY, "File", read_only=True),
            _volume(AUDIT_VOLUMES[1], AUDIT_LOG_DIR, "DirectoryOrCreate", read_only=False),
        ]
    if cluster.encryption:
        volumes.append(_volume(ENCRYPTION_VOLUMES[0], ENCRYPTION_CONFIG, "File", read_only=True))
    return volumes


def _volume(name: str, path: str, path_type: str, read_only: bool) -> dict[str, Any]:
    return {
        "name": name,
        "hostPath": path,
        "mountPath": path,
        "readOnly": read_only,
        "pathType": path_type,
    }


def control_plane_files(
    cluster: Cluster, node: Node, secrets: ClusterSecrets
) -> list[tuple[str, dict[str, Any], str]]:
    """(path, document, permissions) of what a control plane's API server reads; the key is
    0600 and reaches no worker."""
    if not node.is_control_plane:
        return []
    files = []
    if cluster.audit:
        files.append((AUDIT_POLICY, audit_policy(), "0600"))
    if cluster.encryption:
        files.append((ENCRYPTION_CONFIG, encryption_configuration(cluster, secrets), "0600"))
    return files
