"""Semantic checks of a highly available control plane: the VIP, the endpoint, the count."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from generator import netfamily
from generator.model import (
    API_PORT,
    DEFAULT_KUBE_VIP_IMAGE,
    DEFAULT_POD_SUBNET,
    DEFAULT_SERVICE_SUBNET,
    MIRROR_PRESETS,
)

if TYPE_CHECKING:
    from generator.validate import Findings

VIP_PATH = ("spec", "controlPlane", "vip")
# Registries that are slow or unreachable from mainland China without a mirror.
FOREIGN_REGISTRIES = ("docker.io", "ghcr.io", "quay.io", "registry.k8s.io", "gcr.io")


def check_vip(data: dict[str, Any], findings: Findings) -> None:
    vip = data["spec"].get("controlPlane", {}).get("vip")
    if vip is None:
        return
    try:
        address = ipaddress.IPv4Address(vip["address"])
    except ValueError as exc:
        findings.error((*VIP_PATH, "address"), f"not a valid IPv4 address: {exc}")
        return
    _check_vip_address(data["spec"]["nodes"], address, findings)
    _check_vip_outside_cluster_subnets(data["spec"]["kubernetes"], address, findings)
    _check_endpoint_is_the_vip(data["spec"]["controlPlane"].get("endpoint"), address, findings)
    _check_vip_image_mirror(data["spec"], vip.get("image", DEFAULT_KUBE_VIP_IMAGE), findings)


def _check_vip_address(
    nodes: list[dict[str, Any]], address: ipaddress.IPv4Address, findings: Findings
) -> None:
    path = (*VIP_PATH, "address")
    networks: dict[ipaddress.IPv4Network, list[str]] = {}  # of the control planes
    for index, node in enumerate(nodes):
        try:
            interface = ipaddress.IPv4Interface(node["address"]) if "address" in node else None
        except ValueError:
            continue  # check_nodes reports it
        if interface is None:
            continue
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
    for name, default in (
        ("podSubnet", DEFAULT_POD_SUBNET),
        ("serviceSubnet", DEFAULT_SERVICE_SUBNET),
    ):
        text = netfamily.part(str(kubernetes.get(name, default)), 4)
        try:
            network = ipaddress.IPv4Network(text or "")
        except ValueError:
            continue  # check_subnets reports it
        if address in network:
            findings.error((*VIP_PATH, "address"), f"{address} lies inside the {name} {network}")


def _check_endpoint_is_the_vip(
    endpoint: str | None, address: ipaddress.IPv4Address, findings: Findings
) -> None:
    if endpoint is None:
        return
    path = ("spec", "controlPlane", "endpoint")
    host, port = endpoint.rsplit(":", 1)
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
    preset = mirrors.get("preset", "aliyun")
    if preset == "upstream":
        return
    registry = image.split("/", 1)[0]
    registries = mirrors.get("registries", MIRROR_PRESETS[preset]["registries"])
    if registry in FOREIGN_REGISTRIES and registry not in registries:
        findings.warn(
            VIP_PATH,
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
