"""`k8sgen kubeconfig`: a client kubeconfig minted offline with the cluster CA (issue 14).

A client certificate cannot be revoked (Kubernetes has no CRL for them): only its expiry
ends it. Hence a short default lifetime, and the group system:masters refused unless asked
for: that group bypasses RBAC, so not even deleting a binding takes its rights away.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from generator.errors import K8sgenError
from generator.model import Cluster
from generator.render.kubeconfigs import client_kubeconfig
from generator.secrets import ClusterSecrets
from generator.secrets.pki import new_client_cert
from generator.spec.rules import DURATION, describe_seconds, ttl_seconds
from generator.spec.schema import control_character

DEFAULT_TTL = "24h"  # a day's work; longer-lived credentials are asked for explicitly
MASTERS = "system:masters"
MAX_NAME = 64  # X.509 upper bound of a CN or O attribute (RFC 5280)


@dataclass(frozen=True)
class Minted:
    kubeconfig: dict[str, Any]
    not_after: datetime.datetime


def parse_ttl(text: str) -> datetime.timedelta:
    """A lifetime in tokenTTL's form (24h, 1h30m, 90m); zero is refused, never means never."""
    if not DURATION.fullmatch(text) or ttl_seconds(text) == 0:
        raise K8sgenError(
            f"--ttl {text!r}: expected a duration such as 8h, 24h or 1h30m (units h, m, s), "
            "more than zero"
        )
    return datetime.timedelta(seconds=ttl_seconds(text))


def check_name(what: str, value: str) -> None:
    if not value.strip():
        raise K8sgenError(f"{what} must not be empty")
    found = control_character(value)
    if found:
        raise K8sgenError(f"{what} {value!r}: control characters are not allowed ({found})")
    if len(value) > MAX_NAME:
        raise K8sgenError(f"{what} {value!r}: at most {MAX_NAME} characters (X.509 limit)")


def check_groups(groups: Sequence[str], allow_masters: bool) -> None:
    for group in groups:
        check_name("--group", group)
    if len(set(groups)) != len(groups):
        raise K8sgenError("--group: each group once")
    if MASTERS in groups and not allow_masters:
        raise K8sgenError(
            f"--group {MASTERS}: members bypass RBAC and the grant cannot be revoked before the "
            "certificate expires; use --group kubeadm:cluster-admins for an administrator, "
            "or --allow-system-masters for a break-glass credential"
        )


def mint(
    cluster: Cluster,
    secrets: ClusterSecrets,
    user: str,
    groups: Sequence[str],
    ttl: datetime.timedelta,
    now: datetime.datetime | None = None,
    allow_masters: bool = False,
) -> Minted:
    """A kubeconfig for USER in GROUPS valid for ttl from now, signed by the cluster CA."""
    check_name("--user", user)
    check_groups(groups, allow_masters)
    now = now or datetime.datetime.now(datetime.UTC)
    ca_until = secrets.ca.certificate.not_valid_after_utc
    if now + ttl > ca_until:
        raise K8sgenError(
            f"--ttl {describe_seconds(int(ttl.total_seconds()))}: ends after the cluster CA "
            f"itself ({ca_until:%Y-%m-%d %H:%M} UTC); choose a shorter one"
        )
    pair = new_client_cert(secrets.ca, user, groups, now, validity=ttl)
    return Minted(
        client_kubeconfig(cluster, secrets.ca.cert, user, pair),
        pair.certificate.not_valid_after_utc,
    )
