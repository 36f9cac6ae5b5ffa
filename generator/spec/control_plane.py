"""Checks of the control plane: the endpoint, the VIP (its address, image and NIC), the count."""

from __future__ import annotations

import ipaddress
from typing import Any

from generator import netfamily
from generator.model import API_PORT, DEFAULT_KUBE_VIP_IMAGE, MIRROR_PRESETS, node_interface
from generator.spec.findings import VIP, Findings
from generator.spec.rules import (
    DEFAULT_MIRROR_PRESET,
    cluster_subnets,
    node_address,
    split_host_port,
)

# Registries that are slow or unreachable from mainland China without a mirror.
FOREIGN_REGISTRIES = ("docker.io", "ghcr.io", "quay.io", "registry.k8s.io", "gcr.io")


def check_endpoint(data: dict[str, Any], findings: Findings) -> None:
    control_planes = [n for n in data["spec"]["nodes"] if n["role"] == "control-plane"]
    endpoint = data["spec"].get("controlPlane", {}).get("endpoint")
    if endpoint is None and "vip" in data["spec"].get("controlPlane", {}):
        return  # the VIP's address:6443 (check_vip checks the VIP)
    if endpoint is None:
        if len(control_planes) > 1:
            findings.error(
                ("spec", "controlPlane"),
                f"endpoint is required with {len(control_planes)} control planes "
                "(a load balancer in front of all of them, HOST:PORT), or a vip",
            )
        elif control_planes and "address" not in control_planes[0]:
            findings.error(
                ("spec", "controlPlane"),
                "endpoint is required when the control plane has no static address "
                "(workers must know where to join)",
            )
        return
    port = int(split_host_port(endpoint)[1])
    if not 1 <= port <= 65535:
        findings.error(("spec", "controlPlane", "endpoint"), f"port {port} is outside 1-65535")


def check_vip(data: dict[str, Any], findings: Findings) -> None:
    vip = data["spec"].get("controlPlane", {}).get("vip")
    if vip is None:
        return
    try:
        address = ipaddress.IPv4Address(vip["address"])
    except ValueError as exc:
        findings.error((*VIP, "address"), f"not a valid IPv4 address: {exc}")
        return
    _check_vip_address(data["spec"]["nodes"], address, findings)
    _check_vip_outside_cluster_subnets(data["spec"]["kubernetes"], address, findings)
    _check_endpoint_is_the_vip(data["spec"]["controlPlane"].get("endpoint"), address, findings)
    _check_vip_image_mirror(data["spec"], vip.get("image", DEFAULT_KUBE_VIP_IMAGE), findings)


def _check_vip_address(
    nodes: list[dict[str, Any]], address: ipaddress.IPv4Address, findings: Findings
) -> None:
    path = (*VIP, "address")
    networks: dict[ipaddress.IPv4Network, list[str]] = {}  # of the control planes
    for index, node in enumerate(nodes):
        interface = node_address(node)
        if interface is None:
            continue  # no static address, or an invalid one (check_nodes reports it)
        if interface.ip == address:
            findings.error(
                path,
                f"{address} is also the address of node {index} ({node['name']}); "
                "the VIP must be an unused address",
            )
        if node["role"] == "control-plane":
            networks.setdefault(interface.network, []).append(node["name"])
    for network, names in networks.items():
        if address not in network:
            findings.error(
                path,
                f"{address} is outside {network}, the network of control planes "
                f"{', '.join(names)}: kube-vip announces the VIP by ARP on their network",
            )
        elif address in (network.network_address, network.broadcast_address):
            findings.error(path, f"{address} is not a usable host address in {network}")


def _check_vip_outside_cluster_subnets(
    kubernetes: dict[str, Any], address: ipaddress.IPv4Address, findings: Findings
) -> None:
    for name, text in cluster_subnets(kubernetes).items():
        try:
            network = ipaddress.IPv4Network(netfamily.part(str(text), 4) or "")
        except ValueError:
            continue  # check_subnets reports it
        if address in network:
            findings.error((*VIP, "address"), f"{address} lies inside the {name} {network}")


def _check_endpoint_is_the_vip(
    endpoint: str | None, address: ipaddress.IPv4Address, findings: Findings
) -> None:
    if endpoint is None:
        return
    path = ("spec", "controlPlane", "endpoint")
    host, port = split_host_port(endpoint)
    if int(port) != API_PORT:
        findings.error(
            path,
            f"port {port}: with a vip the endpoint port is {API_PORT}, the API servers' own "
            "port (kube-vip moves the address, it does not forward ports)",
        )
    try:
        host_ip = ipaddress.IPv4Address(host)
    except ValueError:
        return  # a DNS name: it must resolve to the VIP, which only DNS can tell
    if host_ip != address:
        findings.error(
            path,
            f"{host} is not the vip {address}: leave endpoint out (it defaults to "
            f"{address}:{API_PORT}) or name the VIP",
        )


def _check_vip_image_mirror(spec: dict[str, Any], image: str, findings: Findings) -> None:
    mirrors = spec.get("mirrors", {})
    preset = mirrors.get("preset", DEFAULT_MIRROR_PRESET)
    if preset == "upstream":
        return
    registry = image.split("/", 1)[0]
    registries = mirrors.get("registries", MIRROR_PRESETS[preset]["registries"])
    if registry in FOREIGN_REGISTRIES and registry not in registries:
        findings.warn(
            VIP,
            f"kube-vip's image {image} comes from {registry}, often unreachable from mainland "
            f'China, and mirrors.registries has no mirror for it: add mirrors.registries."'
            f'{registry}" or set controlPlane.vip.image to a reachable registry',
        )


def check_control_plane_count(data: dict[str, Any], findings: Findings) -> None:
    count = sum(1 for n in data["spec"]["nodes"] if n["role"] == "control-plane")
    if count % 2 == 0 and count > 0:
        findings.warn(
            ("spec", "nodes"),
            f"{count} control planes: etcd needs a majority of members, so {count} tolerate "
            f"no more failures than {count - 1}; use an odd number (3 or 5)",
        )


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
                VIP,
                f"interface is required: the control planes do not share one known NIC name "
                f"({listed}); name it here or in spec.network.interface",
            )
        return
    for node in control_planes:
        own = names[node["name"]]
        if "address" in node and own != given:
            findings.error(
                (*VIP, "interface"),
                f"{given} is not the NIC of control plane {node['name']}'s address ({own}): "
                "kube-vip answers ARP for the VIP on the NIC of the control planes' network",
            )
