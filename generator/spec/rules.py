"""Rules and defaults of the spec that several modules apply, each written once.

Imports nothing of k8sgen, so the model, the secrets and the checks can all use it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

DEFAULT_POD_SUBNET = "10.244.0.0/16"
DEFAULT_SERVICE_SUBNET = "10.96.0.0/12"
DEFAULT_MIRROR_PRESET = "aliyun"
# kubeadm's bootstrap token: a 6-character id, a dot, a 16-character secret.
TOKEN_ID_LENGTH = 6
TOKEN_SECRET_LENGTH = 16
TOKEN_PATTERN = re.compile(rf"^[a-z0-9]{{{TOKEN_ID_LENGTH}}}\.[a-z0-9]{{{TOKEN_SECRET_LENGTH}}}$")
TOKEN_EXAMPLE = "abcdef.0123456789abcdef"  # for messages: what a token looks like


def cluster_subnets(kubernetes: dict[str, Any]) -> dict[str, Any]:
    """spec.kubernetes's podSubnet and serviceSubnet, defaults filled in (values unchecked)."""
    return {
        "podSubnet": kubernetes.get("podSubnet", DEFAULT_POD_SUBNET),
        "serviceSubnet": kubernetes.get("serviceSubnet", DEFAULT_SERVICE_SUBNET),
    }


def split_host_port(text: str) -> tuple[str, str]:
    """ "harbor.example:5000" -> ("harbor.example", "5000"); "harbor.example" -> (it, "")."""
    host, colon, port = text.rpartition(":")
    return (host, port) if colon else (text, "")


def node_address(node: dict[str, Any]) -> ipaddress.IPv4Interface | None:
    """A node's static address/prefix; None without one (DHCP) or when it is not valid (the
    node checks report that)."""
    address = node.get("address")
    if not isinstance(address, str):
        return None
    try:
        return ipaddress.IPv4Interface(address)
    except ValueError:
        return None


# Durations as the spec writes them (tokenTTL, certificate lifetimes, --ttl).
DURATION_PART = re.compile(r"([0-9]+)(h|m|s)")
# A duration as the schema's tokenTTL pattern accepts it, apart from "0" (never).
DURATION = re.compile(r"([0-9]{1,6}(h|m|s)){1,3}")
UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
NEVER = "0"


def ttl_seconds(ttl: str) -> int:
    """Seconds of a tokenTTL the schema accepted ("24h", "1h30m"); 0 = never expires."""
    if ttl == NEVER:
        return 0
    return sum(int(n) * UNIT_SECONDS[unit] for n, unit in DURATION_PART.findall(ttl))


def describe_seconds(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(hours, "h"), (minutes, "m"), (secs, "s")]
    return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"
