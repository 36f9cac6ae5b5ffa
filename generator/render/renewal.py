"""The control planes' certificate renewal: a daily systemd timer, its service and script, the
ClusterConfiguration kubeadm renews with, and the boot-time restore of parked manifests."""

from __future__ import annotations

from generator import certspec
from generator.layout import (
    CERT_RENEWAL_TIMER,
    CERT_RENEWAL_TIMER_FILE,
    CERT_RENEWAL_UNIT,
    CERT_RENEWAL_UNIT_FILE,
    MANIFEST_RESTORE_UNIT,
    MANIFEST_RESTORE_UNIT_FILE,
)
from generator.model import API_PORT, Cluster, Node
from generator.netfamily import url_host
from generator.render.kubeadm import cluster_configuration
from generator.render.templating import render_script, render_template
from generator.render.yamlio import dump_all
from generator.secrets import ClusterSecrets

# The kubelet's fileCheckFrequency (20s, kubeadm leaves the default) with a margin: how long a
# static pod's manifest stays away for the kubelet to stop the pod.
KUBELET_FILE_CHECK_SECONDS = 30
RANDOM_DELAY = "1h"  # spreads the control planes of one cluster over an hour
ETCD_CLIENT_PORT = 2379  # kubeadm's etcd: clients over TLS on the node's address
ETCD_METRICS_PORT = 2381  # kubeadm's etcd: /health in plain http on loopback only
# After the restart: etcd and the API server have this long (attempts x pause) to answer.
HEALTH_ATTEMPTS = 36
HEALTH_PAUSE_SECONDS = 5


def control_plane_index(cluster: Cluster, node: Node) -> int:
    return cluster.control_planes.index(node)


def etcd_health_urls(cluster: Cluster) -> list[str]:
    """/health of every control plane's etcd (at its address, else its name)."""
    hosts = [url_host(n.ip) if n.ip else n.name for n in cluster.control_planes]
    return [f"https://{host}:{ETCD_CLIENT_PORT}/health" for host in hosts]


def etcd_metrics_host(node: Node) -> str:
    """Where kubeadm's etcd serves /health in plain http: the loopback of the family of the
    address it advertises (listen-metrics-urls is http://[::1]:2381 for an IPv6 one)."""
    return url_host("::1") if node.ip and ":" in node.ip else "127.0.0.1"


def renewal_script(cluster: Cluster, node: Node) -> str:
    index = control_plane_index(cluster, node)
    threshold = cluster.certificates.renew_window - index * certspec.STAGGER
    return render_script(
        "renewal/k8sgen-cert-renewal.sh.j2",
        index=index,
        stagger_days=certspec.STAGGER.days,
        threshold_seconds=int(threshold.total_seconds()),
        file_check_seconds=KUBELET_FILE_CHECK_SECONDS,
        etcd_health_urls=etcd_health_urls(cluster),
        etcd_metrics_url=f"http://{etcd_metrics_host(node)}:{ETCD_METRICS_PORT}/health",
        api_port=API_PORT,
        health_attempts=HEALTH_ATTEMPTS,
        health_pause_seconds=HEALTH_PAUSE_SECONDS,
    )


def renewal_config(cluster: Cluster, secrets: ClusterSecrets) -> str:
    """The ClusterConfiguration alone (no InitConfiguration: nothing node-specific, no token)."""
    return dump_all([cluster_configuration(cluster, secrets)])


def renewal_units(node: Node) -> dict[str, str]:
    """Unit file path -> content."""
    return {
        CERT_RENEWAL_UNIT_FILE: render_template(
            f"systemd/{CERT_RENEWAL_UNIT}.j2", node_name=node.name
        ),
        CERT_RENEWAL_TIMER_FILE: render_template(
            f"systemd/{CERT_RENEWAL_TIMER}.j2", node_name=node.name, random_delay=RANDOM_DELAY
        ),
        MANIFEST_RESTORE_UNIT_FILE: render_template(
            f"systemd/{MANIFEST_RESTORE_UNIT}.j2", node_name=node.name
        ),
    }


def renewal_commands(node: Node) -> list[list[str]]:
    """After the units are written and systemd reloaded: the timer runs from now on, the
    restore at every boot from the next one on."""
    if not node.is_control_plane:
        return []
    return [
        ["systemctl", "enable", MANIFEST_RESTORE_UNIT],
        ["systemctl", "enable", "--now", CERT_RENEWAL_TIMER],
    ]
