"""The variables a bootstrap script reads at run time, rendered once into its prologue.

The bootstrap library (templates/bootstrap/lib/*.sh) is the same bash for every node: what
differs by spec and plan is data here, quoted, never a branch of a template. The node's
script and the image bake build theirs from the same parts.
"""

from __future__ import annotations

import shlex

from generator.layout import (
    APT_LISTS,
    KUBEADM_CONFIG,
    KUBEADM_STATE,
    PKI_DIR,
    PKI_STASH,
    STATIC_PODS_DIR,
)
from generator.model import Cluster, Node
from generator.render.node import (
    HEAL_ATTEMPTS,
    HEAL_DELAY_SECONDS,
    HEALING_REASONS,
    NodeKind,
    NodePlan,
    carries_shared_pki,
)

# How long the node waits, in sleeps between tries, for a package-manager lock that another
# run (unattended-upgrades, apt-daily, dnf-automatic) holds, before it fails (transiently).
PACKAGE_LOCK_WAIT_SECONDS = 600
# The package manager of each package format: PACKAGES, and its library file.
PACKAGE_MANAGERS = {"deb": "apt", "rpm": "dnf"}
BAKE_NODE_NAME = "image-bake"

Value = str | int | tuple[str, ...]  # a tuple is a bash array
Variables = dict[str, Value]


def node_variables(cluster: Cluster, node: Node, plan: NodePlan) -> Variables:
    """What the script of NODE reads besides the layout's paths."""
    variables = {
        **identity(cluster, node.name, plan.kind),
        **runtime(cluster, plan.phases),
        **({"KUBEADM_CONFIG": KUBEADM_CONFIG} if "kubeadm" in plan.phases else {}),
        "PHASES": plan.phases,
        **retries(cluster),
    }
    if plan.kind in (NodeKind.JOIN_WORKER, NodeKind.JOIN_CONTROL_PLANE):
        variables["JOIN_ATTEMPTS"] = cluster.bootstrap.join_attempts
    if plan.kind == NodeKind.JOIN_CONTROL_PLANE:  # a failed join is repeated only before etcd
        variables["STATIC_PODS_DIR"] = STATIC_PODS_DIR
    variables["REPORT_URL"] = cluster.bootstrap.report_url or ""
    if plan.wait_url:
        variables["WAIT_URL"] = plan.wait_url
        variables["WAIT_WHAT"] = plan.wait_what
        variables["WAIT_TIMEOUT_SECONDS"] = plan.wait_timeout
    variables.update(healing(HEALING_REASONS))
    variables.update(package_manager(cluster, plan.phases))
    if "kubeadm" in plan.phases:
        variables.update(kubeadm_state(carries_shared_pki(cluster, plan)))
    return variables


def bake_variables(cluster: Cluster, phases: tuple[str, ...]) -> Variables:
    """What the image bake reads: no node, no report, no wait; nothing heals (Packer reports
    the failure to whoever runs it)."""
    return {
        **identity(cluster, BAKE_NODE_NAME, NodeKind.BAKE),
        **runtime(cluster, phases),
        "PHASES": phases,
        **retries(cluster),
        "REPORT_URL": "",
        **healing(()),
        **package_manager(cluster, phases),
    }


def identity(cluster: Cluster, node_name: str, role: NodeKind) -> Variables:
    """Who runs the script, on what: checked against the machine by the prepare phase."""
    return {
        "CLUSTER_NAME": cluster.name,
        "NODE_NAME": node_name,
        "NODE_ROLE": str(role),
        "OS_ID": cluster.os.traits.os_release_id,
        "OS_VERSION_ID": cluster.os.version,
        "ARCH": cluster.arch.name,
        "MACHINE": cluster.arch.rpm,
        "KUBERNETES_VERSION": cluster.version,
        "IMAGE_REPOSITORY": cluster.mirrors.images,
    }


def runtime(cluster: Cluster, phases: tuple[str, ...]) -> Variables:
    return {"PAUSE_IMAGE": cluster.pause_image} if "runtime" in phases else {}


def retries(cluster: Cluster) -> Variables:
    """spec.bootstrap: retries of network steps."""
    return {
        "RETRY_ATTEMPTS": cluster.bootstrap.retry_attempts,
        "RETRY_INITIAL_DELAY": cluster.bootstrap.retry_initial_delay,
        "RETRY_MAX_DELAY": cluster.bootstrap.retry_max_delay,
    }


def healing(reasons: tuple[str, ...]) -> Variables:
    """The failures after which the script starts again by itself (schedule_heal)."""
    return {
        "HEAL_REASONS": " ".join(reasons),
        "HEAL_ATTEMPTS": HEAL_ATTEMPTS,
        "HEAL_DELAY_SECONDS": HEAL_DELAY_SECONDS,
    }


def package_manager(cluster: Cluster, phases: tuple[str, ...]) -> Variables:
    """PACKAGES: the package manager the install phase drives (packages.sh, apt.sh, dnf.sh),
    empty without one; how long it waits for a package lock; apt's options: offline, apt reads
    only k8sgen's lists (APT_LISTS), never the image's own sources, whose unreachable OS mirror
    would fail every update (Error-Mode=any)."""
    if "install" not in phases:
        return {"PACKAGES": ""}
    manager = PACKAGE_MANAGERS[cluster.os.package_format]
    variables: Variables = {
        "PACKAGES": manager,
        "PACKAGE_LOCK_WAIT_SECONDS": PACKAGE_LOCK_WAIT_SECONDS,
    }
    if manager == "apt":
        offline = (
            "-o",
            "Dir::Etc::sourcelist=/dev/null",
            "-o",
            f"Dir::Etc::sourceparts={APT_LISTS}",
        )
        variables["APT_OPTIONS"] = offline if cluster.offline.enabled else ()
    return variables


def kubeadm_state(shared_pki: bool) -> Variables:
    """Where kubeadm's attempts are marked; PKI_STASH, where the CA material this node was
    given waits (empty: none), and PKI_DIR, kubeadm's, where it goes before each attempt."""
    variables: Variables = {"KUBEADM_STATE": KUBEADM_STATE}
    variables["PKI_STASH"] = PKI_STASH if shared_pki else ""
    if shared_pki:
        variables["PKI_DIR"] = PKI_DIR
    return variables


def assignments(variables: Variables) -> str:
    """VARIABLES as bash assignments, read-only, every value quoted."""
    return "".join(f"{assignment(name, value)}\n" for name, value in variables.items())


def assignment(name: str, value: Value) -> str:
    if isinstance(value, tuple):
        return f"readonly -a {name}=({' '.join(shlex.quote(v) for v in value)})"
    return f"readonly {name}={shlex.quote(str(value))}"
