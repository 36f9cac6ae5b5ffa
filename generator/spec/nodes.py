"""Checks of each node: names, addresses, gateways, DNS servers, labels, NIC names and MACs."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from generator import versions
from generator.model import node_interface
from generator.spec.findings import Findings
from generator.spec.load import FieldPath
from generator.spec.rules import node_address

# The kubelet's own --node-labels rule (kubelet ValidateKubeletFlags / IsKubeletLabel,
# k8s.io/kubelet/pkg/apis/well_known_labels.go): in these namespaces (or their subdomains)...
KUBERNETES_LABEL_NAMESPACES = ("kubernetes.io", "k8s.io")
# ...only these namespaces (or their subdomains) and these exact keys are allowed.
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
    }
)
# A node network wider than this is a typo (/0, /1...), never a LAN.
MIN_NODE_PREFIX = 8

MAC = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}")
# What the platforms call the first virtio/vmxnet NIC of an image with predictable names.
NAME_EXAMPLES = (
    "ens3 (KVM i440fx, OpenStack), enp1s0 (KVM q35, arm64), ens5 (AWS), "
    "ens192 (VMware), ens18 (Proxmox)"
)


def check_nodes(data: dict[str, Any], findings: Findings) -> None:
    nodes = data["spec"]["nodes"]
    seen_names: dict[str, int] = {}
    seen_addresses: dict[str, int] = {}
    for index, node in enumerate(nodes):
        name = node["name"]
        if name in seen_names:
            findings.error(
                ("spec", "nodes", index, "name"), f"{name!r} is also node {seen_names[name]}"
            )
        seen_names.setdefault(name, index)
        address = node_address(node)
        if address is None:
            if "address" in node:
                findings.error(
                    ("spec", "nodes", index, "address"), "not a valid IPv4 address/prefix"
                )
            continue
        ip = str(address.ip)
        if ip in seen_addresses:
            findings.error(
                ("spec", "nodes", index, "address"),
                f"{ip} is also the address of node {seen_addresses[ip]}",
            )
        seen_addresses.setdefault(ip, index)
        _check_address_use(node, index, address, findings)
    if not any(node["role"] == "control-plane" for node in nodes):
        findings.error(("spec", "nodes"), "no node has role control-plane; at least one is needed")


def _check_address_use(
    node: dict[str, Any], index: int, address: ipaddress.IPv4Interface, findings: Findings
) -> None:
    if address.network.prefixlen < MIN_NODE_PREFIX:
        findings.error(
            ("spec", "nodes", index, "address"),
            f"/{address.network.prefixlen} is not a LAN: the node would treat "
            f"{address.network} as directly reachable; give the prefix of its real network "
            f"(/{MIN_NODE_PREFIX} to /30, usually /24)",
        )
    elif _not_a_host(address.ip, address.network):
        findings.error(
            ("spec", "nodes", index, "address"),
            f"{address} is not a usable host address in {address.network}",
        )
    gateway = node.get("gateway")
    if isinstance(gateway, str):
        try:
            gateway_ip = ipaddress.IPv4Address(gateway)
        except ValueError as exc:
            findings.error(("spec", "nodes", index, "gateway"), f"not a valid address: {exc}")
            return
        if gateway_ip not in address.network or gateway_ip == address.ip:
            findings.error(
                ("spec", "nodes", index, "gateway"),
                f"{gateway} must be another address inside the node's network {address.network}",
            )
        elif _not_a_host(gateway_ip, address.network):
            findings.error(
                ("spec", "nodes", index, "gateway"),
                f"{gateway} is the network or broadcast address of {address.network}, not a router",
            )
    for dns_index, server in enumerate(node.get("dns", [])):
        _check_dns_server(server, ("spec", "nodes", index, "dns", dns_index), findings)


def _not_a_host(ip: ipaddress.IPv4Address, network: ipaddress.IPv4Network) -> bool:
    return network.prefixlen >= 31 or ip in (network.network_address, network.broadcast_address)


def _check_dns_server(server: str, path: FieldPath, findings: Findings) -> None:
    if not isinstance(server, str):
        return  # the schema says what it should be
    try:
        ip = ipaddress.ip_address(server)  # IPv4 or IPv6
    except ValueError as exc:
        findings.error(path, f"not a valid address: {exc}")
        return
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        # is_reserved: 240.0.0.0/4, which holds the broadcast address 255.255.255.255.
        findings.error(path, f"{ip} cannot answer DNS queries (unspecified, multicast or reserved)")


def in_namespace(namespace: str, parents: tuple[str, ...]) -> bool:
    """NAMESPACE is one of PARENTS or a subdomain of one."""
    return any(namespace == parent or namespace.endswith("." + parent) for parent in parents)


def kubelet_refuses_label(key: str) -> bool:
    """The kubelet refuses to start with this key in --node-labels."""
    namespace = key.split("/", 1)[0] if "/" in key else ""
    if not in_namespace(namespace, KUBERNETES_LABEL_NAMESPACES) or key in KUBELET_LABELS:
        return False
    return not in_namespace(namespace, KUBELET_LABEL_NAMESPACES)


def check_labels(data: dict[str, Any], findings: Findings) -> None:
    allowed = ", ".join(f"[*.]{namespace}/" for namespace in KUBELET_LABEL_NAMESPACES)
    sources = [(("spec", "nodes", i), n) for i, n in enumerate(data["spec"]["nodes"])]
    sources += [(("spec", "roles", r), s) for r, s in data["spec"].get("roles", {}).items()]
    for path, source in sources:
        for key in source.get("labels", {}):
            if kubelet_refuses_label(key):
                findings.error(
                    (*path, "labels", key),
                    "the kubelet refuses --node-labels in the kubernetes.io and k8s.io "
                    f"namespaces except {allowed} and well-known keys such as "
                    "topology.kubernetes.io/zone; use your own prefix or node.kubernetes.io/",
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
