"""Rendering is pure: a model and its secrets in, artifacts out, same bytes every time.

Artifacts come one node at a time (`Rendering` is a generator), so a 1,000-node fleet with seed
ISOs never sits in memory: the writer stores each node's files before the next is rendered, and
the manifest needs only each file's hash and size.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from generator import versions
from generator.delivery.iso import seed_iso
from generator.model import Cluster, Node
from generator.render import packer, terraform
from generator.render.artifact import Artifact
from generator.render.cloudinit import user_data
from generator.render.kubeconfigs import client_kubeconfig
from generator.render.node import plan
from generator.render.yamlio import dump
from generator.secrets import ADMIN_USER, ClusterSecrets

MANIFEST = "manifest.json"
ISO_NAME = "cidata.iso"


@dataclass(frozen=True)
class RenderOptions:
    iso: bool = False  # a NoCloud seed ISO beside each node's files
    gzip: bool = False  # user-data written gzip-compressed (cloud-init detects it)


@dataclass(frozen=True)
class UserDataSize:
    node: str
    raw: int
    gzip: int


@dataclass(frozen=True)
class FileRecord:
    """What the manifest says about a file: no content, so it stays small."""

    path: str
    sha256: str
    size: int
    mode: int
    node: str | None
    role: str | None


class Rendering:
    """The artifacts of one render, produced as they are iterated (one node at a time)."""

    def __init__(
        self, cluster: Cluster, secrets: ClusterSecrets, options: RenderOptions | None = None
    ) -> None:
        self.cluster = cluster
        self.secrets = secrets
        self.options = options or RenderOptions()

    def __iter__(self) -> Iterator[Artifact]:
        records: list[FileRecord] = []
        for artifact in self._artifacts():
            records.append(_record(artifact))
            yield artifact
        yield Artifact(MANIFEST, manifest(self.cluster, records))

    def _artifacts(self) -> Iterator[Artifact]:
        cluster, secrets = self.cluster, self.secrets
        yield Artifact("admin.conf", dump(admin_kubeconfig(cluster, secrets)).encode(), 0o600)
        for node in cluster.nodes:
            yield from node_artifacts(cluster, node, secrets, self.options)
        yield from terraform.artifacts(cluster, gzipped=self.options.gzip, iso=self.options.iso)
        if cluster.baked:
            yield from packer.artifacts(cluster)


def render(
    cluster: Cluster, secrets: ClusterSecrets, options: RenderOptions | None = None
) -> list[Artifact]:
    """Every artifact at once: for tests and small clusters; app.py streams a `Rendering`."""
    return list(Rendering(cluster, secrets, options))


def _record(artifact: Artifact) -> FileRecord:
    return FileRecord(
        artifact.path,
        hashlib.sha256(artifact.content).hexdigest(),
        len(artifact.content),
        artifact.mode,
        artifact.node,
        artifact.role,
    )


def user_data_bytes(cluster: Cluster, node: Node, secrets: ClusterSecrets) -> tuple[bytes, bytes]:
    """A node's user-data, raw and gzip-compressed (no name, no time: same bytes every time),
    each from its own form (cloudinit.user_data)."""
    raw, whole = user_data(cluster, node, plan(cluster, node), secrets)
    # Level 6, gzip's and Go's default: within bytes of level 9 at half the time per node.
    return raw.encode(), gzip.compress(whole.encode(), compresslevel=6, mtime=0)


def node_folder(node: Node) -> str:
    """Where a node's files go, relative to OUT/<cluster>/."""
    return f"nodes/{node.name}"


def node_artifacts(
    cluster: Cluster, node: Node, secrets: ClusterSecrets, options: RenderOptions
) -> list[Artifact]:
    folder = node_folder(node)
    raw, packed = user_data_bytes(cluster, node, secrets)
    seed = [
        # user-data carries the bootstrap token (and CA keys on control planes): 0600.
        ("user-data", packed if options.gzip else raw, 0o600),
        ("meta-data", dump(meta_data(cluster, node)).encode(), 0o644),
    ]
    network = network_config(node, cluster.os.traits)
    if network is not None:
        seed.append(("network-config", dump(network).encode(), 0o644))
    result = [Artifact(f"{folder}/{n}", c, m, node.name, node.role) for n, c, m in seed]
    if options.iso:
        iso = seed_iso([(name, content) for name, content, _ in seed])
        result.append(Artifact(f"{folder}/{ISO_NAME}", iso, 0o600, node.name, node.role))
    return result


def meta_data(cluster: Cluster, node: Node) -> dict[str, str]:
    # Stable: re-rendering must not make cloud-init think it is a new instance.
    return {"instance-id": f"iid-{cluster.name}-{node.name}", "local-hostname": node.name}


def network_config(node: Node, family: versions.OSFamily) -> dict[str, Any] | None:
    """network-config v2 for a static address; None leaves the image's DHCP alone.

    The ethernets key is the NIC's real name: only netplan honours `match: {name: <glob>}`;
    cloud-init's eni, sysconfig, NetworkManager and networkd renderers configure a device
    named after the key. With a MAC, the NIC that has it is renamed to that name (set-name),
    which every renderer supports."""
    if node.address is None and node.address6 is None:
        return None
    assert node.interface, "validate requires an interface name for a static address"
    ethernet: dict[str, Any] = {}
    if node.mac:
        ethernet["match"] = {"macaddress": node.mac}
        ethernet["set-name"] = node.interface
    ethernet["addresses"] = [str(a) for a in (node.address, node.address6) if a is not None]
    ethernet.update(_gateways(node, family))
    if node.dns:
        ethernet["nameservers"] = {"addresses": list(node.dns)}
    return {"version": 2, "ethernets": {node.interface: ethernet}}


def _gateways(node: Node, family: versions.OSFamily) -> dict[str, Any]:
    """The default route of each family, in the form every renderer of the OS family reads."""
    found: dict[str, Any] = {}
    if node.gateway and family.gateway_as_gateway4:
        found["gateway4"] = node.gateway
    elif node.gateway:
        # 0.0.0.0/0, not "default": cloud-init 22.4's ifupdown renderer rejects "default".
        found["routes"] = [{"to": "0.0.0.0/0", "via": node.gateway}]
    if node.gateway6:
        # gateway6, not a route: cloud-init 22.4's networkd and NetworkManager renderers turn
        # `to: ::/0` into a route to ::/64 (and NetworkManager files it under ipv4).
        found["gateway6"] = node.gateway6
    return found


def admin_kubeconfig(cluster: Cluster, secrets: ClusterSecrets) -> dict[str, Any]:
    return client_kubeconfig(cluster, secrets.ca.cert, ADMIN_USER, secrets.admin)


def manifest(cluster: Cluster, records: list[FileRecord]) -> bytes:
    data = {
        "cluster": cluster.name,
        "kubernetesVersion": cluster.version,
        "endpoint": cluster.endpoint,
        "os": {"family": cluster.os.family, "version": cluster.os.version},
        "platform": cluster.arch.platform,
        "nodes": [
            {"name": n.name, "role": n.role, "bootstrap": plan(cluster, n).kind, "address": n.ip}
            for n in cluster.nodes
        ],
        "files": [
            {
                "path": r.path,
                "sha256": r.sha256,
                "bytes": r.size,
                "mode": f"{r.mode:04o}",
                "node": r.node,
                "role": r.role,
            }
            for r in records
        ],
    }
    return (json.dumps(data, indent=2) + "\n").encode()
