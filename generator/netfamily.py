"""IP families of a cluster: IPv4, IPv6 or dual-stack, read from its pod and service subnets.

kubeadm takes podSubnet and serviceSubnet as one CIDR or two separated by a comma (one of each
family for dual-stack); the first CIDR's family is the cluster's primary family.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from generator.spec.rules import cluster_subnets

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# kube-controller-manager's defaults: --node-cidr-mask-size-ipv4 / -ipv6 (and
# --node-cidr-mask-size for a single-stack cluster of that family).
NODE_MASK = {4: 24, 6: 64}
# kube-controller-manager refuses a cluster CIDR more than 16 bits wider than the node mask.
MAX_NODE_MASK_DIFF = 16
# kube-apiserver: a service CIDR has at most 20 host bits (/12 for IPv4, /108 for IPv6).
MAX_SERVICE_HOST_BITS = 20
SUBNETS = ("podSubnet", "serviceSubnet")


def cidrs(text: str) -> list[str]:
    return text.split(",")


def family_of(cidr: str) -> int:
    """6 for anything with a colon (an IPv6 literal), else 4: no parsing, never raises."""
    return 6 if ":" in cidr else 4


def subnet(kubernetes: dict[str, Any], name: str) -> str:
    """podSubnet or serviceSubnet, the default filled in."""
    return str(cluster_subnets(kubernetes)[name])


def families(kubernetes: dict[str, Any]) -> tuple[int, ...]:
    """The service subnet's families in order (validation makes the pod subnet agree)."""
    return tuple(family_of(c) for c in cidrs(subnet(kubernetes, "serviceSubnet")))


def primary_is_ipv6(kubernetes: dict[str, Any]) -> bool:
    return families(kubernetes)[0] == 6


def part(text: str, family: int) -> str | None:
    """The CIDR of FAMILY in a podSubnet/serviceSubnet value, or None."""
    return next((c for c in cidrs(text) if family_of(c) == family), None)


def url_host(ip: str) -> str:
    """An address as the host part of a URL or HOST:PORT: IPv6 in brackets."""
    return f"[{ip}]" if ":" in ip else ip
