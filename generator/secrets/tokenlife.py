"""How long the bootstrap token lets nodes join, said in words an operator can plan with."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from cryptography import x509

from generator.spec.rules import describe_seconds, ttl_seconds

if TYPE_CHECKING:
    from generator.model import Cluster

MAX_TTL_SECONDS = 365 * 24 * 3600  # longer is "never" in practice: say "0"


def token_summary(cluster: Cluster, token: str, now: datetime.datetime) -> str:
    """One line for the render summary: until when nodes can join with this token."""
    init = cluster.init_node.name
    token_id = token.split(".", 1)[0]
    seconds = ttl_seconds(cluster.token_ttl)
    if seconds == 0:
        return (
            f'bootstrap token {token_id}: never expires (tokenTTL "0"); once every node has '
            f"joined, delete it on a control plane: kubeadm token delete {token_id}"
        )
    until = (now + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"bootstrap token {token_id}: valid for {describe_seconds(seconds)} after kubeadm init "
        f"on {init} (until about {until} if {init} boots now); a node that runs kubeadm join "
        "later needs a new token (README: First boot)"
    )


def expired_token_warning(cluster: Cluster, ca_cert_pem: str, now: datetime.datetime) -> str | None:
    """A warning when the secrets are older than the token's lifetime.

    A cluster initialised soon after its secrets were made has an expired token by now:
    nodes added with this render cannot join.
    """
    seconds = ttl_seconds(cluster.token_ttl)
    if seconds == 0 or cluster.token_override:
        return None  # an explicit token was made by the operator, at a time we cannot know
    created = x509.load_pem_x509_certificate(ca_cert_pem.encode()).not_valid_before_utc
    if now - created <= datetime.timedelta(seconds=seconds):
        return None
    return (
        f"the secrets date from {created:%Y-%m-%d %H:%M} UTC, more than tokenTTL "
        f"({cluster.token_ttl}) ago: if kubeadm init ran back then, the bootstrap token has "
        "expired and nodes booted now cannot join. Create a token on a control plane "
        f"(kubeadm token create --ttl {cluster.token_ttl}), set it as spec.bootstrap.token "
        "and render again"
    )
