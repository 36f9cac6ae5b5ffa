"""OUT/<cluster>/terraform/: a module with no provider that hands each node's data to
whatever resources create the VMs (libvirt, vSphere, Proxmox, AWS, ...).

The module is JSON (main.tf.json) built as data. It reads the rendered files beside it with
`file()`, so it never holds a copy of a secret and always matches the last render.
"""

from __future__ import annotations

import json
from typing import Any

from generator.model import Cluster, Node
from generator.render.artifact import Artifact
from generator.render.node import plan
from generator.render.templating import render_template

FOLDER = "terraform"
REQUIRED_VERSION = ">= 1.0"


def literal(value: str) -> str:
    """A string Terraform takes as it is: in JSON syntax every string is a template."""
    return value.replace("${", "$${").replace("%{", "%%{")


def node_file(node: Node, name: str) -> str:
    return f"${{path.module}}/../nodes/{node.name}/{name}"


def call(function: str, node: Node, name: str) -> str:
    return f'${{{function}("{node_file(node, name)}")}}'


def node_entry(cluster: Cluster, node: Node, iso: bool) -> dict[str, Any]:
    # The primary family's address (node.ip) with its prefix; dual-stack's other one is in
    # network-config.
    primary = next((a for a in (node.address, node.address6) if a and str(a.ip) == node.ip), None)
    static = primary is not None
    return {
        "name": literal(node.name),
        "role": node.role,
        "bootstrap": plan(cluster, node).kind,
        "address": node.ip,
        "prefix_length": primary.network.prefixlen if primary else None,
        "gateway": node.gateway,
        "dns": list(node.dns),
        "interface": node.interface if static else None,
        "mac": node.mac,  # give the VM's NIC this MAC: network-config matches it
        "user_data_file": node_file(node, "user-data"),
        "meta_data": call("file", node, "meta-data"),
        "network_config": call("file", node, "network-config") if static else None,
        "iso_file": node_file(node, "cidata.iso") if iso else None,
    }


def user_data_values(
    nodes: tuple[Node, ...], gzipped: bool
) -> tuple[dict[str, str | None], dict[str, str]]:
    """Per node: the user_data and user_data_base64gzip output values."""
    if gzipped:  # the file is gzip already; file() refuses bytes that are not UTF-8
        user_data: dict[str, str | None] = {n.name: None for n in nodes}
        packed = {n.name: call("filebase64", n, "user-data") for n in nodes}
    else:
        user_data = {n.name: call("file", n, "user-data") for n in nodes}
        packed = {n.name: f'${{base64gzip(file("{node_file(n, "user-data")}"))}}' for n in nodes}
    return user_data, packed


def module(cluster: Cluster, gzipped: bool, iso: bool) -> dict[str, Any]:
    nodes = cluster.nodes
    user_data, packed = user_data_values(nodes, gzipped)
    return {
        "terraform": {"required_version": REQUIRED_VERSION},
        "output": {
            "cluster": {
                "description": "The cluster: name, API endpoint, Kubernetes version, init node.",
                "value": {
                    "name": cluster.name,
                    "endpoint": literal(cluster.endpoint),
                    "kubernetes_version": cluster.version,
                    "init_node": cluster.init_node.name,
                },
            },
            "nodes": {
                "description": "Per node: name, role, bootstrap kind, address, prefix_length, "
                "gateway, dns, interface and mac (null on DHCP; mac null unless the spec sets "
                "it), user_data_file, meta_data, network_config (null on DHCP), "
                "iso_file (null without --iso). No secrets: usable in for_each.",
                "value": {n.name: node_entry(cluster, n, iso) for n in nodes},
            },
            "user_data": {
                "description": "Per node: the #cloud-config text (null when rendered with "
                "--gzip: use user_data_base64gzip).",
                "sensitive": True,
                "value": user_data,
            },
            "user_data_base64gzip": {
                "description": "Per node: user-data gzip-compressed and base64-encoded, for "
                "aws_instance.user_data_base64, Azure custom_data, vSphere guestinfo.",
                "sensitive": True,
                "value": packed,
            },
        },
    }


def artifacts(cluster: Cluster, gzipped: bool, iso: bool) -> list[Artifact]:
    data = module(cluster, gzipped, iso)
    readme = render_template("terraform/README.md.j2", cluster=cluster)
    return [
        Artifact(f"{FOLDER}/main.tf.json", (json.dumps(data, indent=2) + "\n").encode()),
        Artifact(f"{FOLDER}/README.md", readme.encode()),
    ]
