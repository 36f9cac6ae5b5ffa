"""What each node does on first boot: its kind, what it waits for, what it pre-pulls."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from generator.model import API_PORT, CERTIFICATES_FILES, Cluster, Node
from generator.netfamily import url_host


class NodeKind(StrEnum):
    """What a bootstrap script is for; the value is its NODE_ROLE and status.json's role."""

    INIT = "init"  # kubeadm init: the first control plane
    JOIN_CONTROL_PLANE = "join-control-plane"
    JOIN_WORKER = "join-worker"
    BAKE = "bake"  # the Packer bake: no cluster, pulls what any node of the cluster needs


PHASES = ("prepare", "install", "runtime", "prepull", "kubeadm")
# What a Packer build runs once, and what first boot of such an image runs instead of PHASES:
# "image" checks that the image was baked for this spec.
BAKE_PHASES = ("prepare", "install", "runtime", "prepull")
BAKED_PHASES = ("prepare", "image", "kubeadm")
# Bundle mode: packages from the bundle ISO, images imported from it instead of pulled.
BUNDLE_PHASES = ("prepare", "install", "runtime", "import", "kubeadm")
# After a failure that time can heal, the node starts its bootstrap again by itself (a
# transient systemd timer) HEAL_DELAY_SECONDS later, at most HEAL_ATTEMPTS times in all.
# Other failures (a wrong spec, a kubeadm init or a join past etcd's member add, an expired or
# deleted token: an operator must create it again) never loop.
HEAL_ATTEMPTS = 4
HEAL_DELAY_SECONDS = 1800
HEALING_REASONS = ("network", "package-lock", "api-wait", "kubeadm-join")


@dataclass(frozen=True)
class NodePlan:
    kind: NodeKind
    phases: tuple[str, ...]
    images: tuple[str, ...]  # pulled with crictl, beyond what kubeadm pulls itself
    wait_url: str | None  # joiners wait until this /readyz answers "ok"
    wait_what: str
    wait_timeout: int
    calico_urls: tuple[str, ...]  # the init node downloads and patches this manifest


def plan(cluster: Cluster, node: Node) -> NodePlan:
    # kube-vip's static pod starts before (init) or right after (join) kubeadm: pull it early.
    control_plane_images = (*((cluster.vip.image,) if cluster.vip else ()), *cluster.calico.images)
    phases = with_hooks(_phases(cluster), node)
    if node == cluster.init_node:
        return NodePlan(
            NodeKind.INIT,
            (*phases, "cni", "report"),
            control_plane_images,
            None,
            "",
            0,
            cluster.calico.manifest_urls,
        )
    if node.is_control_plane:
        return _control_plane_join_plan(cluster, node, phases, control_plane_images)
    return _worker_plan(cluster, phases)


def _control_plane_join_plan(
    cluster: Cluster, node: Node, phases: tuple[str, ...], images: tuple[str, ...]
) -> NodePlan:
    previous = _previous_control_plane(cluster, node)
    # Stacked etcd grows one member at a time: wait for the control plane before us.
    host = url_host(previous.ip) if previous.ip else cluster.endpoint_host
    port = API_PORT if previous.ip else cluster.endpoint_port
    return NodePlan(
        NodeKind.JOIN_CONTROL_PLANE,
        (*phases, "report"),
        images,
        f"https://{host}:{port}/readyz",
        f"the API server of {previous.name}",
        cluster.bootstrap.api_wait_seconds,
        (),
    )


def _worker_plan(cluster: Cluster, phases: tuple[str, ...]) -> NodePlan:
    worker_images = (
        f"{cluster.mirrors.images}/kube-proxy:v{cluster.version}",
        cluster.pause_image,
        *cluster.calico.images,
    )
    return NodePlan(
        NodeKind.JOIN_WORKER,
        (*phases, "report"),
        worker_images,
        f"https://{cluster.endpoint}/readyz",
        "the cluster API endpoint",
        cluster.bootstrap.api_wait_seconds,
        (),
    )


def _phases(cluster: Cluster) -> tuple[str, ...]:
    if cluster.baked:
        return BAKED_PHASES
    return BUNDLE_PHASES if cluster.offline.bundle else PHASES


def with_hooks(phases: tuple[str, ...], node: Node) -> tuple[str, ...]:
    """The node's pre-kubeadm commands just before kubeadm, its post-kubeadm ones right after:
    one phase each, so a resumed boot skips those that finished."""
    kubeadm = phases.index("kubeadm")
    before = tuple(f"pre_kubeadm_{i}" for i in range(1, len(node.extras.pre_kubeadm) + 1))
    after = tuple(f"post_kubeadm_{i}" for i in range(1, len(node.extras.post_kubeadm) + 1))
    return (*phases[:kubeadm], *before, "kubeadm", *after, *phases[kubeadm + 1 :])


def _previous_control_plane(cluster: Cluster, node: Node) -> Node:
    control_planes = [n for n in cluster.nodes if n.is_control_plane]
    return control_planes[control_planes.index(node) - 1]


def carries_shared_pki(cluster: Cluster, plan: NodePlan) -> bool:
    """The init node always starts from the pre-generated CAs (their hash is in every join);
    joining control planes get them too, unless they download what init uploaded."""
    files_mode = cluster.certificate_distribution == CERTIFICATES_FILES
    return plan.kind == NodeKind.INIT or (plan.kind == NodeKind.JOIN_CONTROL_PLANE and files_mode)
