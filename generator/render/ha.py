"""What an operator must know about a cluster with several control planes, in a few lines."""

from __future__ import annotations

from generator.model import CERTIFICATES_UPLOAD, Cluster

UPLOAD_EXPIRY = "2 hours"  # kubeadm deletes the uploaded certificates with their token


def summary(cluster: Cluster) -> list[str]:
    lines = []
    if cluster.vip:
        lines.append(
            f"VIP {cluster.vip.address} on {cluster.vip.interface}: kube-vip "
            f"{cluster.vip.image} on every control plane"
        )
    names = [n.name for n in cluster.control_planes]
    if len(names) > 1:
        order = " -> ".join([f"{names[0]} (init)", *names[1:]])
        lines.append(f"join order: {order}; each waits for the one before it")
    if cluster.certificate_distribution == CERTIFICATES_UPLOAD:
        lines.append(
            "certificates: uploaded by `kubeadm init --upload-certs`; the upload expires "
            f"{UPLOAD_EXPIRY} after init: every control plane must join within that window"
        )
    elif len(names) > 1:
        lines.append("certificates: the shared CA files are in each control plane's user-data")
    return lines
