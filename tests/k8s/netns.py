"""Run a program in a network namespace of its own, so nothing it does can leave the machine.

kubeadm picks a node address from the default route when a configuration names none, so the
namespace has one: through its own loopback interface, which also holds a documentation address
(192.0.2.10, RFC 5737) for kubeadm to find. Whatever is sent there stays in the namespace.
"""

from __future__ import annotations

SETUP = (
    "set -e; ip link set lo up; ip addr add 192.0.2.10/24 dev lo; ip route add default dev lo; "
    'exec "$@"'
)


def isolated(command: list[str]) -> list[str]:
    """COMMAND run by `unshare --net` in a fresh namespace with its own loopback only."""
    return ["unshare", "--net", "sh", "-c", SETUP, "isolated", *command]
