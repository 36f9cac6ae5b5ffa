"""Run a program in network and mount namespaces of its own, so nothing it sends leaves them.

kubeadm picks a node address from the default route when a configuration names none, so the
namespace has one: through its own loopback interface, which also holds a documentation address
(192.0.2.10, RFC 5737) for kubeadm to find. Every address is local there (a `local` route for
all of IPv4 and IPv6), so a connection to any address is refused at once by the namespace
itself instead of waiting for a timeout (kubeadm's dry run tries the API server and falls back
to its fake client when refused). /etc/resolv.conf is replaced (in the mount namespace
only) by one naming 127.0.0.1, so a name lookup asks the namespace's loopback as well.
"""

from __future__ import annotations

SETUP = (
    "set -e; ip link set lo up; ip addr add 192.0.2.10/24 dev lo; ip route add default dev lo; "
    "ip route add local 0.0.0.0/0 dev lo table local; "
    "ip -6 route add local ::/0 dev lo table local; "
    'resolv=$(mktemp); echo "nameserver 127.0.0.1" >"$resolv"; '
    'mount --bind "$resolv" /etc/resolv.conf; rm "$resolv"; '
    'exec "$@"'
)


def isolated(command: list[str]) -> list[str]:
    """COMMAND run by `unshare` in fresh network and mount namespaces (see the module's doc)."""
    return ["unshare", "--net", "--mount", "sh", "-c", SETUP, "isolated", *command]
