"""The control planes' certificate renewal: a daily systemd timer, its service and script."""

from __future__ import annotations

from generator.layout import (
    CERT_RENEWAL_TIMER,
    CERT_RENEWAL_TIMER_FILE,
    CERT_RENEWAL_UNIT,
    CERT_RENEWAL_UNIT_FILE,
)
from generator.model import Cluster, Node
from generator.render.templating import render_script, render_template

# The kubelet's fileCheckFrequency (20s, kubeadm leaves the default) with a margin: how long a
# static pod's manifest stays away for the kubelet to stop the pod.
KUBELET_FILE_CHECK_SECONDS = 30
RANDOM_DELAY = "1h"  # spreads the control planes of one cluster over an hour


def renewal_script(cluster: Cluster) -> str:
    return render_script(
        "renewal/k8sgen-cert-renewal.sh.j2",
        renew_before_seconds=int(cluster.certificates.renew_window.total_seconds()),
        file_check_seconds=KUBELET_FILE_CHECK_SECONDS,
    )


def renewal_units(node: Node) -> dict[str, str]:
    """Unit file path -> content."""
    return {
        CERT_RENEWAL_UNIT_FILE: render_template(
            f"systemd/{CERT_RENEWAL_UNIT}.j2", node_name=node.name
        ),
        CERT_RENEWAL_TIMER_FILE: render_template(
            f"systemd/{CERT_RENEWAL_TIMER}.j2", node_name=node.name, random_delay=RANDOM_DELAY
        ),
    }


def renewal_commands(node: Node) -> list[list[str]]:
    """After the units are written and systemd reloaded: the timer runs from now on."""
    if not node.is_control_plane:
        return []
    return [["systemctl", "enable", "--now", CERT_RENEWAL_TIMER]]
