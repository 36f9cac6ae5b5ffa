"""Rendering is pure: a model and its secrets in, a list of artifacts out, same bytes every time."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from generator.model import Cluster, Node
from generator.render.artifact import Artifact
from generator.render.cloudinit import user_data
from generator.render.node import plan
from generator.render.yamlio import dump
from generator.secrets import ADMIN_USER, ClusterSecrets

MANIFEST = "manifest.json"


def render(cluster: Cluster, secrets: ClusterSecrets) -> list[Artifact]:
    artifacts = [Artifact("admin.conf", dump(admin_kubeconfig(cluster, secrets)).encode(), 0o600)]
    for node in cluster.nodes:
        artifacts += node_artifacts(cluster, node, secrets)
    artifacts.append(Artifact(MANIFEST, manifest(cluster, artifacts)))
    return artifacts


def node_artifacts(cluster: Cluster, node: Node, secrets: ClusterSecrets) -> list[Artifact]:
    node_plan = plan(cluster, node)
    folder = f"nodes/{node.name}"

    def artifact(name: str, text: str, mode: int) -> Artifact:
        return Artifact(f"{folder}/{name}", text.encode(), mode, node.name, node.role)

    # user-data carries the bootstrap token (and CA keys on control planes): 0600.
    result = [
        artifact("user-data", user_data(cluster, node, node_plan, secrets), 0o600),
        artifact("meta-data", dump(meta_data(cluster, node)), 0o644),
    ]
    network = network_config(node)
    if network is not None:
        result.append(artifact("network-config", dump(network), 0o644))
    return result


def meta_data(cluster: Cluster, node: Node) -> dict[str, str]:
    # Stable: re-rendering must not make cloud-init think it is a new instance.
    return {"instance-id": f"iid-{cluster.name}-{node.name}", "local-hostname": node.name}


def network_config(node: Node) -> dict[str, Any] | None:
    """network-config v2 for a static address; None leaves the image's DHCP alone."""
    if node.address is None:
        return None
    ethernet: dict[str, Any] = {}
    if node.interface is None:
        ethernet["match"] = {"name": "e*"}
    ethernet["addresses"] = [str(node.address)]
    if node.gateway:
        # 0.0.0.0/0, not "default": cloud-init 22.4's ifupdown renderer rejects "default".
        ethernet["routes"] = [{"to": "0.0.0.0/0", "via": node.gateway}]
    if node.dns:
        ethernet["nameservers"] = {"addresses": list(node.dns)}
    return {"version": 2, "ethernets": {node.interface or "primary": ethernet}}


def admin_kubeconfig(cluster: Cluster, secrets: ClusterSecrets) -> dict[str, Any]:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    context = f"{ADMIN_USER}@{cluster.name}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster.name,
                "cluster": {
                    "certificate-authority-data": b64(secrets.ca.cert),
                    "server": f"https://{cluster.endpoint}",
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster.name, "user": ADMIN_USER}}],
        "current-context": context,
        "users": [
            {
                "name": ADMIN_USER,
                "user": {
                    "client-certificate-data": b64(secrets.admin.cert),
                    "client-key-data": b64(secrets.admin.key),
                },
            }
        ],
        "preferences": {},
    }


def manifest(cluster: Cluster, artifacts: list[Artifact]) -> bytes:
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
                "path": a.path,
                "sha256": hashlib.sha256(a.content).hexdigest(),
                "bytes": len(a.content),
                "mode": f"{a.mode:04o}",
                "node": a.node,
                "role": a.role,
            }
            for a in artifacts
        ],
    }
    return (json.dumps(data, indent=2) + "\n").encode()
