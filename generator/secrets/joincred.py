"""Per-node join credentials and the node record of the secrets file (issue 14).

A node that joins with `certificate` gets, at render time, a kubelet client certificate for
system:node:<name> in group system:nodes, signed by the cluster CA and valid for joinWindow.
kubeadm join uses it as discovery.file: the kubelet's TLS bootstrap then asks for its own
certificate with it, which kubeadm's RBAC approves (a node renewing its own client
certificate), so no bootstrap token is needed. The Node authorizer and NodeRestriction limit
the credential to that one node's objects, and it ends with the window.

Each credential is minted once per node name and kept in the secrets file (re-renders are
byte-identical); an expired one is re-minted only when asked (--renew-join-credential), since
that changes the node's user-data. The secrets file also records every node rendered with
it: a node in that record but not in the spec has been removed from the spec.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from generator.errors import K8sgenError
from generator.layout import PKI_DIR
from generator.model import (
    CERTIFICATES_UPLOAD,
    JOIN_WITH_CERTIFICATE,
    JOIN_WITH_TOKEN,
    Cluster,
    Node,
)
from generator.secrets import ClusterSecrets
from generator.secrets.pki import CertPair, new_client_cert
from generator.spec.rules import ttl_seconds

NODES_GROUP = "system:nodes"
DATE = "%Y-%m-%d %H:%M UTC"


def node_user(name: str) -> str:
    """The user name the Node authorizer and NodeRestriction know a node by."""
    return f"system:node:{name}"


def join_method(cluster: Cluster, node: Node) -> str | None:
    """certificate or token for a joining node; None for the init node."""
    if node == cluster.init_node:
        return None
    if cluster.join_with != JOIN_WITH_CERTIFICATE:
        return JOIN_WITH_TOKEN
    if node.is_control_plane and cluster.certificate_distribution == CERTIFICATES_UPLOAD:
        return JOIN_WITH_TOKEN  # kubeadm-certs, the uploaded CA keys, is readable with it only
    return JOIN_WITH_CERTIFICATE


def credential(cluster: Cluster, node: Node, secrets: ClusterSecrets) -> CertPair | None:
    """The node's join certificate, when it joins with one (minted by `reconcile`)."""
    if join_method(cluster, node) != JOIN_WITH_CERTIFICATE:
        return None
    pair = secrets.join_credentials.get(node.name)
    if pair is None:
        raise K8sgenError(f"no join credential for node {node.name}: render mints it first")
    return pair


def not_after(pair: CertPair) -> datetime.datetime:
    return pair.certificate.not_valid_after_utc


@dataclass(frozen=True)
class Reconciled:
    """The secrets a render uses, and what changed against the secrets file."""

    secrets: ClusterSecrets
    minted: tuple[str, ...]  # nodes that got a new join credential
    new: tuple[str, ...]  # nodes not rendered with these secrets before
    removed: tuple[tuple[str, str], ...]  # (name, role) rendered before, not in the spec now
    expired: tuple[str, ...]  # credentials past their end, kept (not renewed)

    @property
    def changed(self) -> bool:
        return bool(self.minted or self.new or self.removed)


def reconcile(
    cluster: Cluster,
    value: ClusterSecrets,
    now: datetime.datetime | None = None,
    renew: Sequence[str] = (),
) -> Reconciled:
    """Mint the missing (and the RENEW) join credentials; record the spec's nodes."""
    now = now or datetime.datetime.now(datetime.UTC)
    _check_renew(cluster, renew)
    window = datetime.timedelta(seconds=ttl_seconds(cluster.join_window))
    credentials = dict(value.join_credentials)
    minted: list[str] = []
    for node in cluster.nodes:
        if join_method(cluster, node) != JOIN_WITH_CERTIFICATE:
            continue
        if node.name not in credentials or node.name in renew:
            # Its key is of the type pki makes (the CA's): ECDSA keeps it small.
            credentials[node.name] = new_client_cert(
                value.ca, node_user(node.name), (NODES_GROUP,), now, validity=window
            )
            minted.append(node.name)
    in_spec = {n.name for n in cluster.nodes}
    known = value.nodes
    # An old secrets file has no record yet: its nodes are not "new", they were there.
    new = tuple(n.name for n in cluster.nodes if known and n.name not in known)
    removed = tuple((name, role) for name, role in known.items() if name not in in_spec)
    record = {**known, **{n.name: n.role for n in cluster.nodes}}
    expired = tuple(
        n.name
        for n in cluster.nodes
        if n.name in credentials
        and n.name not in minted
        and join_method(cluster, n) == JOIN_WITH_CERTIFICATE
        and not_after(credentials[n.name]) <= now
    )
    secrets = dataclasses.replace(value, join_credentials=credentials, nodes=record)
    return Reconciled(secrets, tuple(minted), new, removed, expired)


def _check_renew(cluster: Cluster, renew: Sequence[str]) -> None:
    for name in renew:
        node = next((n for n in cluster.nodes if n.name == name), None)
        if node is None or join_method(cluster, node) != JOIN_WITH_CERTIFICATE:
            joiners = [n.name for n in cluster.nodes if join_method(cluster, n) == "certificate"]
            raise K8sgenError(
                f"--renew-join-credential {name}: not a node of the spec that joins with a "
                f"certificate (those are: {', '.join(joiners) or 'none; see joinWith'})"
            )


def summary(cluster: Cluster, result: Reconciled, now: datetime.datetime) -> list[str]:
    """Render-summary lines: how each node joins and until when; new and removed nodes."""
    lines = ["join credentials:"]
    for node in cluster.nodes:
        method = join_method(cluster, node)
        if method == JOIN_WITH_CERTIFICATE:
            until = not_after(result.secrets.join_credentials[node.name])
            state = "EXPIRED" if until <= now else "valid"
            fresh = " (new)" if node.name in result.minted else ""
            lines.append(
                f"  {node.name:<20} certificate {node_user(node.name)}{fresh}: {state} until "
                f"{until:{DATE}}"
            )
        elif method == JOIN_WITH_TOKEN:
            lines.append(f"  {node.name:<20} bootstrap token (tokenTTL {cluster.token_ttl})")
    if result.new:
        lines.append(
            f"new: {', '.join(result.new)}: boot them with their nodes/<name>/ files; the "
            "nodes already running are untouched"
        )
    if result.expired:
        # One line: after the window every node that joined long ago is listed here too.
        lines.append(
            f"warning: the join certificates of {', '.join(result.expired)} have expired: a "
            "node among them that has not joined yet needs a new one (render again with "
            "--renew-join-credential NODE, then boot it with its new files)"
        )
    return lines + [line for name, role in result.removed for line in removal(cluster, name, role)]


def etcdctl(control_plane: str, *args: str) -> str:
    """etcdctl in the etcd static pod of CONTROL_PLANE, with that member's certificates."""
    pki = f"{PKI_DIR}/etcd"
    return (
        f"kubectl -n kube-system exec etcd-{control_plane} -- etcdctl --cacert {pki}/ca.crt "
        f"--cert {pki}/server.crt --key {pki}/server.key " + " ".join(args)
    )


def removal(cluster: Cluster, name: str, role: str) -> list[str]:
    """What removes a node that left the spec from the cluster (its files are kept)."""
    lines = [
        f"removed from the spec: {name} ({role}); its files are kept. To take it out of the "
        "cluster (kubectl with an admin kubeconfig):",
        f"  kubectl drain {name} --ignore-daemonsets --delete-emptydir-data",
        f"  on {name}, if it still runs: kubeadm reset -f"
        + ("   (also removes its etcd member)" if role == "control-plane" else ""),
    ]
    if role == "control-plane":
        other = cluster.init_node.name
        lines += [
            f"  if {name} is gone, remove its etcd member by hand: {etcdctl(other, 'member list')}",
            f"    then {etcdctl(other, 'member remove', '<the ID of ' + name + '>')}",
        ]
    lines.append(f"  kubectl delete node {name}")
    return lines
