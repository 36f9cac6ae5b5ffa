"""The bootstrap library: plain bash files (templates/bootstrap/lib/), picked by what a script
runs.

Each file lints on its own (`shellcheck templates/bootstrap/lib/*.sh`); its shellcheck
directives are not copied. A script holds the files it calls into, without their comments,
after the prologue that sets the variables they read (generator/render/variables.py). Where
nodes differ by more than a value, a file pair defines the same functions two ways
(kubeadm-join-worker.sh, kubeadm-join-control-plane.sh; apt.sh, dnf.sh), and the plan picks one.
Where a file is optional, a variable says whether it is there (REPORT_URL: report.sh, PKI_STASH:
shared-pki.sh, PACKAGES: packages.sh), so the code that calls into it is the same everywhere.
"""

from __future__ import annotations

from functools import cache

from generator.model import Cluster
from generator.render.node import NodeKind, NodePlan, carries_shared_pki
from generator.render.strip import strip_shell_comments
from generator.render.variables import PACKAGE_MANAGERS
from generator.resources import resource_dir

LIBRARY = resource_dir("templates") / "bootstrap" / "lib"
# Every script: status records, failures, retries, the phase runner.
ALWAYS = ("status", "failure", "retry", "phases")
JOIN_POLICIES = {
    NodeKind.JOIN_WORKER: "kubeadm-join-worker",
    NodeKind.JOIN_CONTROL_PLANE: "kubeadm-join-control-plane",
}


def library_files(cluster: Cluster, plan: NodePlan) -> tuple[str, ...]:
    """The names of the library files the script of a node with PLAN calls into."""
    files = [*ALWAYS]
    if "install" in plan.phases:
        files += package_files(cluster)
    if cluster.bootstrap.report_url:
        files.append("report")
    if plan.wait_url:
        files.append("wait")  # joiners wait for the control plane before them
    if "kubeadm" in plan.phases:
        files += kubeadm_files(cluster, plan)
    return tuple(files)


def bake_library_files(cluster: Cluster) -> tuple[str, ...]:
    """The image bake installs packages; it neither reports, waits nor runs kubeadm."""
    return (*ALWAYS, *package_files(cluster))


def package_files(cluster: Cluster) -> list[str]:
    """For an install phase: the package lock, and the package manager's own words."""
    return ["packages", PACKAGE_MANAGERS[cluster.os.package_format]]


def kubeadm_files(cluster: Cluster, plan: NodePlan) -> list[str]:
    files = ["kubeadm"]
    if carries_shared_pki(cluster, plan):
        files.append("shared-pki")
    if plan.kind != NodeKind.JOIN_WORKER:
        files.append("kubeadm-guard")  # init and control-plane joins never loop
    if plan.kind == NodeKind.INIT:
        return [*files, "kubeadm-init"]
    return [*files, "kubeadm-join", JOIN_POLICIES[plan.kind]]


def library(names: tuple[str, ...]) -> str:
    return "".join(library_file(name) for name in names)


@cache
def library_file(name: str) -> str:
    text = (LIBRARY / f"{name}.sh").read_text("utf-8")
    assert text.startswith("# shellcheck shell=bash"), name
    # Its directives serve the lint of the file alone; the rendered script is linted as a whole.
    return strip_shell_comments("\n" + text, directives=False).lstrip("\n")
