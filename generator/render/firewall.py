"""firewalld on rocky, almalinux and openeuler: what a node opens when spec.os.firewalld is
"open". Ports are data, from kubernetes.io "Ports and Protocols" and Calico's network
requirements."""

from __future__ import annotations

from dataclasses import dataclass

from generator.model import API_PORT, Cluster, Node

# Inbound on control planes: API server, etcd, controller-manager, scheduler.
CONTROL_PLANE_PORTS = (f"{API_PORT}/tcp", "2379-2380/tcp", "10257/tcp", "10259/tcp")
# Inbound on every node: kubelet, kube-proxy health, NodePort services.
NODE_PORTS = ("10250/tcp", "10256/tcp", "30000-32767/tcp", "30000-32767/udp")
# Calico on every node: BGP, and VXLAN should the pool be switched to it.
CALICO_PORTS = ("179/tcp", "4789/udp")
# IP-in-IP, the encapsulation of calico.yaml's default pool: IP protocol 4.
CALICO_PROTOCOLS = ("4",)


@dataclass(frozen=True)
class FirewalldPlan:
    mode: str  # "disabled" or "open"
    ports: tuple[str, ...]
    protocols: tuple[str, ...]
    trusted_sources: tuple[str, ...]  # pod and service subnets: their traffic is the cluster's


def firewalld_plan(cluster: Cluster, node: Node) -> FirewalldPlan:
    return firewalld_for(cluster, node.is_control_plane)


def firewalld_for(cluster: Cluster, control_plane: bool) -> FirewalldPlan:
    """What a node opens: the control plane's ports too when CONTROL_PLANE."""
    ports = (*(CONTROL_PLANE_PORTS if control_plane else ()), *NODE_PORTS, *CALICO_PORTS)
    return FirewalldPlan(
        cluster.firewalld,
        ports,
        CALICO_PROTOCOLS,
        (*cluster.pod_subnets, *cluster.service_subnets),
    )
