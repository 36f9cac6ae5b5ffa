"""Semantic checks of dual-stack and IPv6 clusters: the pairing rules of kubeadm,
kube-apiserver and kube-controller-manager, and each node's addresses of the cluster's families.
(IPv4 networks alone are checked by cluster.check_subnets.)"""

from __future__ import annotations

import ipaddress
from typing import Any

from generator import netfamily
from generator.model import node_interface
from generator.netfamily import IPNetwork
from generator.spec.findings import KUBERNETES, NODES, Findings

FAMILY_NAMES = {4: "IPv4", 6: "IPv6"}
MIN_NODE_PREFIX6 = 8  # a wider node network is a typo, never a LAN
LINK_LOCAL6 = ipaddress.IPv6Network("fe80::/10")


def _parse(cidr: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(cidr)
    except ValueError:
        return None


def _networks(kube: dict[str, Any], name: str, findings: Findings) -> dict[int, IPNetwork]:
    """The networks of podSubnet or serviceSubnet by family; reports the pairing rules."""
    path = (*KUBERNETES, name)
    parts = netfamily.cidrs(netfamily.subnet(kube, name))
    families = [netfamily.family_of(c) for c in parts]
    if len(parts) == 2 and families[0] == families[1]:
        findings.error(
            path,
            f"two {FAMILY_NAMES[families[0]]} networks: dual-stack takes one IPv4 and one "
            "IPv6 network (kubeadm refuses two of one family)",
        )
        return {}
    result: dict[int, IPNetwork] = {}
    for cidr in parts:
        network = _parse(cidr)
        if network is None and netfamily.family_of(cidr) == 6:
            loose = _loose(cidr)
            hint = f"; did you mean {loose}?" if loose else ""
            findings.error(path, f"{cidr!r} is not a valid IPv6 network{hint}")
        elif network is not None:
            result[network.version] = network
    return result


def _loose(cidr: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


def check_cluster_networks(data: dict[str, Any], findings: Findings) -> None:
    kube = data["spec"]["kubernetes"]
    pods = _networks(kube, "podSubnet", findings)
    services = _networks(kube, "serviceSubnet", findings)
    pod_order = [
        netfamily.family_of(c) for c in netfamily.cidrs(netfamily.subnet(kube, "podSubnet"))
    ]
    if pod_order != list(netfamily.families(kube)):
        findings.error(
            (*KUBERNETES, "serviceSubnet"),
            f"families {_order(list(netfamily.families(kube)))} differ from podSubnet's "
            f"({_order(pod_order)}): give both the same families in the same order (the first "
            "is the cluster's primary family)",
        )
    _check_service_size(services.get(6), findings)
    for family, network in pods.items():
        _check_node_masks(family, network, len(data["spec"]["nodes"]), findings)
    if 6 in pods and 6 in services and pods[6].overlaps(services[6]):
        findings.error(
            (*KUBERNETES, "serviceSubnet"),
            f"{services[6]} overlaps the pod subnet {pods[6]}; choose two disjoint ranges",
        )


def _order(families: list[int]) -> str:
    return ", ".join(FAMILY_NAMES[f] for f in families)


def _check_service_size(network: IPNetwork | None, findings: Findings) -> None:
    smallest = network.max_prefixlen - netfamily.MAX_SERVICE_HOST_BITS if network else 0
    if network is not None and network.prefixlen < smallest:
        findings.error(
            (*KUBERNETES, "serviceSubnet"),
            f"{network} is larger than kube-apiserver allows: an IPv6 service network is a "
            f"/{smallest} or smaller (at most {netfamily.MAX_SERVICE_HOST_BITS} host bits)",
        )


def _check_node_masks(family: int, network: IPNetwork, nodes: int, findings: Findings) -> None:
    """kube-controller-manager cuts a node mask (/24, /64) out of the pod network per node."""
    mask = netfamily.NODE_MASK[family]
    path = (*KUBERNETES, "podSubnet")
    widest = mask - netfamily.MAX_NODE_MASK_DIFF
    if network.prefixlen > mask:
        findings.error(
            path,
            f"{network} is smaller than the /{mask} each node gets of the {FAMILY_NAMES[family]} "
            f"pod network (node-cidr-mask-size): use a /{mask - 8} or larger",
        )
    elif network.prefixlen < widest:
        findings.error(
            path,
            f"{network} is wider than kube-controller-manager takes with /{mask} per node "
            f"(at most {netfamily.MAX_NODE_MASK_DIFF} bits more): use a /{widest} to /{mask}",
        )
    elif family == 6 and 2 ** (mask - network.prefixlen) < nodes:
        findings.error(path, f"{network} holds fewer /{mask} blocks than the {nodes} nodes")


def check_node_families(data: dict[str, Any], findings: Findings) -> None:
    """Every node with a static address has one of each family the cluster uses, no other."""
    families = set(netfamily.families(data["spec"]["kubernetes"]))
    for index, node in enumerate(data["spec"]["nodes"]):
        path = ("spec", "nodes", index)
        has = {4} if "address" in node else set()
        has |= {6} if "address6" in node else set()
        if not has:
            continue  # DHCP: the kubelet finds its addresses
        for family in sorted(has - families):
            field = "address" if family == 4 else "address6"
            findings.error(
                (*path, field),
                f"the cluster has no {FAMILY_NAMES[family]} network (podSubnet, serviceSubnet): "
                f"remove {field}, or add an {FAMILY_NAMES[family]} network to both",
            )
        for family in sorted(families - has):
            field = "address" if family == 4 else "address6"
            findings.error(
                path,
                f"{field} is required: the cluster is {_order(sorted(families))} and the "
                "kubelet's node-ip needs the node's address of each family",
            )


def check_node_addresses6(data: dict[str, Any], findings: Findings) -> None:
    kube = data["spec"]["kubernetes"]
    cluster = [
        _parse(netfamily.part(netfamily.subnet(kube, name), 6) or "") for name in netfamily.SUBNETS
    ]
    seen: dict[ipaddress.IPv6Address, int] = {}
    for index, node in enumerate(data["spec"]["nodes"]):
        address = _interface6(node.get("address6"), ("spec", "nodes", index, "address6"), findings)
        if address is None:
            continue
        path = ("spec", "nodes", index, "address6")
        if address.ip in seen:
            findings.error(path, f"{address.ip} is also the address of node {seen[address.ip]}")
        seen.setdefault(address.ip, index)
        for network in cluster:
            if network is not None and address.network.overlaps(network):
                findings.error(path, f"{address} overlaps the cluster network {network}")
        _check_gateway6(node.get("gateway6"), address, ("spec", "nodes", index), findings)


def _interface6(text: Any, path: tuple[Any, ...], findings: Findings) -> Any:
    if not isinstance(text, str):
        return None
    try:
        address = ipaddress.IPv6Interface(text)
    except ValueError as exc:
        findings.error(path, f"not a valid IPv6 address/prefix: {exc}")
        return None
    if address.ip.is_link_local or address.ip.is_multicast or address.ip.is_unspecified:
        findings.error(path, f"{address.ip} is not a routable unicast address")
        return None
    if address.network.prefixlen < MIN_NODE_PREFIX6:
        findings.error(path, f"/{address.network.prefixlen} is not a LAN (usually /64)")
        return None
    return address


def _check_gateway6(
    text: Any, address: ipaddress.IPv6Interface, path: tuple[Any, ...], findings: Findings
) -> None:
    if not isinstance(text, str):
        return
    try:
        gateway = ipaddress.IPv6Address(text)
    except ValueError as exc:
        findings.error((*path, "gateway6"), f"not a valid IPv6 address: {exc}")
        return
    # Routers often answer on their link-local address (fe80::1): that is inside no prefix.
    if gateway == address.ip or (gateway not in address.network and gateway not in LINK_LOCAL6):
        findings.error(
            (*path, "gateway6"),
            f"{gateway} must be another address of {address.network}, or a link-local fe80:: one",
        )


def check_ipv6_control_plane(data: dict[str, Any], findings: Findings) -> None:
    """The endpoint is written HOST:PORT and kube-vip holds an IPv4 VIP (ARP)."""
    kube, control_plane = data["spec"]["kubernetes"], data["spec"].get("controlPlane", {})
    families = netfamily.families(kube)
    if "vip" in control_plane and 4 not in families:
        findings.error(
            ("spec", "controlPlane", "vip"),
            "kube-vip holds an IPv4 VIP (ARP) and the cluster has no IPv4 network: use an "
            "endpoint (a load balancer's name) instead",
        )
        return
    control_planes = [n for n in data["spec"]["nodes"] if n["role"] == "control-plane"]
    defaulted = "endpoint" not in control_plane and "vip" not in control_plane
    # Without an address (or with several control planes) check_endpoint says it already.
    if (
        families[0] == 6
        and defaulted
        and len(control_planes) == 1
        and "address" in control_planes[0]
    ):
        findings.error(
            ("spec", "controlPlane"),
            "endpoint is required when the primary family is IPv6 (HOST:PORT takes a name, "
            "not an IPv6 address): a DNS name of the control plane, e.g. api.example:6443",
        )


def check_static_address_settings(data: dict[str, Any], findings: Findings) -> None:
    """dns needs a static address of either family; a node with only address6 needs its NIC's
    name as much as one with address (whose check is validate_net.check_interfaces)."""
    spec = data["spec"]
    for index, node in enumerate(spec["nodes"]):
        if "dns" in node and "address" not in node and "address6" not in node:
            findings.error(
                (*NODES, index, "dns"),
                "name servers go with a static address: set address or address6 (DHCP "
                "brings its own)",
            )
        if "address6" in node and "address" not in node:
            _check_dns6_only(node, index, findings)  # with address, check_nodes checks them
        if "address6" in node and "address" not in node and node_interface(spec, node) is None:
            findings.error(
                (*NODES, index, "address6"),
                "a static address needs the name of its NIC: set spec.network.interface "
                "(`ip link` on a VM of the image shows it)",
            )


def _check_dns6_only(node: dict[str, Any], index: int, findings: Findings) -> None:
    for number, server in enumerate(node.get("dns", [])):
        try:
            ipaddress.ip_address(server)
        except ValueError as exc:
            findings.error((*NODES, index, "dns", number), f"not a valid address: {exc}")
