"""A node's bootstrap script: the prologue, the library files its plan calls into, and the
phase partials (templates/bootstrap/main.sh.j2), without comments."""

from __future__ import annotations

from typing import Any

from generator.model import MAX_MANIFEST_BYTES, Cluster, Node
from generator.offline import BUNDLE_LABEL
from generator.render import kubevip
from generator.render.firewall import firewalld_plan
from generator.render.library import library_files
from generator.render.node import NodeKind, NodePlan, carries_shared_pki
from generator.render.parts import Pulls, script_context
from generator.render.templating import render_script
from generator.render.variables import node_variables
from generator.render.vm_image import image_marker
from generator.secrets import ClusterSecrets
from generator.secrets.joincred import DATE, credential, not_after

BOOTSTRAP_TEMPLATE = "bootstrap/main.sh.j2"


def bootstrap_script(cluster: Cluster, node: Node, plan: NodePlan, secrets: ClusterSecrets) -> str:
    return render_script(BOOTSTRAP_TEMPLATE, **bootstrap_context(cluster, node, plan, secrets))


def bootstrap_context(
    cluster: Cluster, node: Node, plan: NodePlan, secrets: ClusterSecrets
) -> dict[str, Any]:
    shared = script_context(
        cluster,
        node_variables(cluster, node, plan),
        library_files(cluster, plan),
        firewalld_plan(cluster, node),
        node_pulls(plan),
    )
    return dict(
        shared,
        node=node,
        plan=plan,
        kube_vip=kubevip.steps(cluster, node),
        image_marker=image_marker(cluster),
        bundle_label=BUNDLE_LABEL,
        max_manifest_bytes=MAX_MANIFEST_BYTES,
        shared_pki=carries_shared_pki(cluster, plan),
        join_credential=join_credential_end(cluster, node, secrets),
    )


def join_credential_end(
    cluster: Cluster, node: Node, secrets: ClusterSecrets
) -> dict[str, Any] | None:
    """When the node's join certificate ends: the node stops before kubeadm with a clear cause
    once it has (None: the node joins with the token, or runs kubeadm init)."""
    pair = credential(cluster, node, secrets)
    if pair is None:
        return None
    until = not_after(pair)
    return {"epoch": int(until.timestamp()), "date": f"{until:{DATE}}"}


def node_pulls(plan: NodePlan) -> Pulls:
    """The init node pulls for its own config; a joining control plane for the version it
    joins; a worker only the images of PLAN (kube-proxy, pause, the CNI)."""
    return Pulls(
        plan.images,
        kubeadm_config=plan.kind == NodeKind.INIT,
        kubeadm_version=plan.kind == NodeKind.JOIN_CONTROL_PLANE,
    )
