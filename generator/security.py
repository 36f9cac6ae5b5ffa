"""Audit logging and encryption at rest of the API server (spec.controlPlane.audit and
spec.controlPlane.encryptionAtRest): the model part. generator/render/security.py renders it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_AUDIT_MAX_AGE = 30  # days a rotated audit log is kept
DEFAULT_AUDIT_MAX_BACKUP = 10  # rotated files kept
DEFAULT_AUDIT_MAX_SIZE = 100  # megabytes before the log rotates
ENCRYPTION_PROVIDERS = ("secretbox", "aescbc")
# secretbox (XSalsa20-Poly1305) is authenticated; Kubernetes' own documentation calls aescbc
# weak (CBC padding oracles) and keeps it for FIPS-bound sites.
DEFAULT_ENCRYPTION_PROVIDER = "secretbox"
# kube-apiserver flags and static-pod volumes each setting owns (render/security.py sets them):
# spec.kubeadm.apiServer may not set them too.
AUDIT_FLAGS = (
    "audit-policy-file",
    "audit-log-path",
    "audit-log-maxage",
    "audit-log-maxbackup",
    "audit-log-maxsize",
)
AUDIT_VOLUMES = ("audit-policy", "audit-log")
ENCRYPTION_FLAGS = ("encryption-provider-config",)
ENCRYPTION_VOLUMES = ("encryption-config",)
OWNED = {
    "audit": (AUDIT_FLAGS, AUDIT_VOLUMES),
    "encryptionAtRest": (ENCRYPTION_FLAGS, ENCRYPTION_VOLUMES),
}


@dataclass(frozen=True)
class Audit:
    max_age: int = DEFAULT_AUDIT_MAX_AGE
    max_backup: int = DEFAULT_AUDIT_MAX_BACKUP
    max_size: int = DEFAULT_AUDIT_MAX_SIZE


@dataclass(frozen=True)
class EncryptionAtRest:
    provider: str = DEFAULT_ENCRYPTION_PROVIDER


def build_audit(control_plane: dict[str, Any]) -> Audit | None:
    data = control_plane.get("audit")
    if data is None:
        return None
    return Audit(
        max_age=data.get("maxAge", DEFAULT_AUDIT_MAX_AGE),
        max_backup=data.get("maxBackup", DEFAULT_AUDIT_MAX_BACKUP),
        max_size=data.get("maxSize", DEFAULT_AUDIT_MAX_SIZE),
    )


def build_encryption(control_plane: dict[str, Any]) -> EncryptionAtRest | None:
    data = control_plane.get("encryptionAtRest")
    if data is None:
        return None
    return EncryptionAtRest(provider=data.get("provider", DEFAULT_ENCRYPTION_PROVIDER))
