"""kube-vip as a static pod on every control plane: ARP, leader election, the VIP as endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.layout import KUBE_VIP_STAGED, STATIC_PODS_DIR
from generator.model import API_PORT, Cluster, Node, Vip

MANIFEST = f"{STATIC_PODS_DIR}/kube-vip.yaml"
# Staged outside the manifests folder: the bootstrap script moves one in at the right moment.
STAGED = f"{KUBE_VIP_STAGED}/kube-vip.yaml"  # runs on admin.conf
STAGED_INIT = f"{KUBE_VIP_STAGED}/kube-vip-init.yaml"  # runs on super-admin.conf
ADMIN_CONF = "/etc/kubernetes/admin.conf"
SUPER_ADMIN_CONF = "/etc/kubernetes/super-admin.conf"
# kube-vip reaches its own node's API server as kubernetes:<port>, a name in the API server's
# certificate; hostAliases (and the node's /etc/hosts, see hosts_lines) map it to loopback.
LOCAL_API_NAME = "kubernetes"
LEASE_NAME = "plndr-cp-lock"  # kube-vip's default control-plane lease


@dataclass(frozen=True)
class KubeVipSteps:
    """What the bootstrap script of one control plane does with kube-vip."""

    manifest: str
    staged: str
    staged_init: str | None  # init node from 1.29: start on super-admin.conf, then switch
    readyz_url: str  # the VIP's /readyz, to see kube-vip answer again after the switch

    @property
    def switches_after_init(self) -> bool:
        return self.staged_init is not None


def steps(cluster: Cluster, node: Node) -> KubeVipSteps | None:
    if cluster.vip is None or not node.is_control_plane:
        return None
    super_admin = node == cluster.init_node and cluster.kubernetes.has_super_admin_conf
    return KubeVipSteps(
        manifest=MANIFEST,
        staged=STAGED,
        staged_init=STAGED_INIT if super_admin else None,
        readyz_url=f"https://{cluster.vip.address}:{API_PORT}/readyz",
    )


def pod(vip: Vip, kubeconfig: str) -> dict[str, Any]:
    """The static pod `kube-vip manifest pod --arp --controlplane --leaderElection` describes."""
    env: list[dict[str, Any]] = [
        {"name": "vip_arp", "value": "true"},
        {"name": "port", "value": str(API_PORT)},
        {"name": "vip_nodename", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "vip_interface", "value": vip.interface},
        {"name": "vip_subnet", "value": "32"},
        {"name": "cp_enable", "value": "true"},
        {"name": "cp_namespace", "value": "kube-system"},
        {"name": "vip_leaderelection", "value": "true"},
        {"name": "vip_leasename", "value": LEASE_NAME},
        {"name": "vip_leaseduration", "value": "5"},
        {"name": "vip_renewdeadline", "value": "3"},
        {"name": "vip_retryperiod", "value": "1"},
        {"name": "address", "value": vip.address},
    ]
    container = {
        "name": "kube-vip",
        "image": vip.image,
        # Pre-pulled by the bootstrap script: never depend on a registry when the VIP moves.
        "imagePullPolicy": "IfNotPresent",
        "args": ["manager"],
        "env": env,
        "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
        # kube-vip reads its kubeconfig at this path, whichever file the host provides.
        "volumeMounts": [{"name": "kubeconfig", "mountPath": ADMIN_CONF, "readOnly": True}],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "kube-vip", "namespace": "kube-system"},
        "spec": {
            "containers": [container],
            "hostAliases": [{"ip": "127.0.0.1", "hostnames": [LOCAL_API_NAME]}],
            "hostNetwork": True,
            # type File: never let the kubelet create a missing kubeconfig as a directory.
            "volumes": [{"name": "kubeconfig", "hostPath": {"path": kubeconfig, "type": "File"}}],
        },
    }


def manifests(cluster: Cluster, node: Node) -> dict[str, dict[str, Any]]:
    """Staged manifests of one node by path: none on workers or without a VIP."""
    kube_vip = steps(cluster, node)
    if kube_vip is None or cluster.vip is None:
        return {}
    result = {kube_vip.staged: pod(cluster.vip, ADMIN_CONF)}
    if kube_vip.staged_init:
        result[kube_vip.staged_init] = pod(cluster.vip, SUPER_ADMIN_CONF)
    return result


def hosts_lines(cluster: Cluster, node: Node) -> list[str]:
    # hostAliases are not applied to static pods on some kubelets (kube-vip#692,
    # kubernetes#119852); a host-network pod then reads the node's /etc/hosts instead.
    if cluster.vip is None or not node.is_control_plane:
        return []
    return [f"127.0.0.1 {LOCAL_API_NAME}"]
