"""Semantic checks of how static addresses reach a NIC: interface names, MACs, the VIP's NIC."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from generator import versions
from generator.model import node_interface

if TYPE_CHECKING:
    from generator.validate import Findings

VIP_PATH = ("spec", "controlPlane", "vip")
MAC = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}")
# What the platforms call the first virtio/vmxnet NIC of an image with predictable names.
NAME_EXAMPLES = (
    "ens3 (KVM i440fx, OpenStack), enp1s0 (KVM q35, arm64), ens5 (AWS), "
    "ens192 (VMware), ens18 (Proxmox)"
)


def check_interfaces(data: dict[str, Any], findings: Findings) -> None:
    """A static address needs the real name of its NIC where the OS has no default."""
    spec = data["spec"]
    unnamed = [
        (index, node["name"])
        for index, node in enumerate(spec["nodes"])
        if "address" in node and node_interface(spec, node) is None
    ]
    family = versions.OS_FAMILIES.get(spec["os"]["family"])
    if not unnamed or family is None:  # an unknown family: the schema says so
        return
    findings.error(
        ("spec", "nodes", unnamed[0][0]),
        f"{', '.join(name for _, name in unnamed)}: a static address needs the name of its NIC, "
        f"and {family.name} images name NICs by platform ({NAME_EXAMPLES}; `ip link` on a VM "
        "of the image shows it): set spec.network.interface (every node) or the node's "
        "interface",
    )


def check_macs(data: dict[str, Any], findings: Findings) -> None:
    seen: dict[int, int] = {}
    for index, node in enumerate(data["spec"]["nodes"]):
        if not MAC.fullmatch(str(node.get("mac", ""))):
            continue  # absent, or malformed: the schema says how
        path = ("spec", "nodes", index, "mac")
        value = int(node["mac"].replace(":", ""), 16)
        if value == 0:
            findings.error(path, f"{node['mac']} is no NIC's address")
        elif (value >> 40) & 1:
            findings.error(path, f"{node['mac']} is a multicast address (first octet odd)")
        if value in seen:
            findings.error(path, f"{node['mac']} is also the MAC of node {seen[value]}")
        seen.setdefault(value, index)


def check_vip_interface(data: dict[str, Any], findings: Findings) -> None:
    """kube-vip announces the VIP on one NIC name: the control planes' address NIC."""
    spec = data["spec"]
    vip = spec.get("controlPlane", {}).get("vip")
    if vip is None:
        return
    control_planes = [n for n in spec["nodes"] if n["role"] == "control-plane"]
    names = {n["name"]: node_interface(spec, n) for n in control_planes}
    given = vip.get("interface")
    if given is None:
        known = set(names.values())
        if len(known) != 1 or None in known:
            listed = ", ".join(f"{node}: {name or 'not named'}" for node, name in names.items())
            findings.error(
                VIP_PATH,
                f"interface is required: the control planes do not share one known NIC name "
                f"({listed}); name it here or in spec.network.interface",
            )
        return
    for node in control_planes:
        own = names[node["name"]]
        if "address" in node and own != given:
            findings.error(
                (*VIP_PATH, "interface"),
                f"{given} is not the NIC of control plane {node['name']}'s address ({own}): "
                "kube-vip answers ARP for the VIP on the NIC of the control planes' network",
            )
