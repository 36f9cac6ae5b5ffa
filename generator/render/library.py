"""The bootstrap library: plain bash files (templates/bootstrap/lib/), picked by a node's plan.

Each file lints on its own (`shellcheck templates/bootstrap/lib/*.sh`); its shellcheck
directives are not copied. The script a node runs holds the files
its plan needs, without their comments, after the prologue that sets the variables they read.
"""

from __future__ import annotations

from functools import cache

from generator.render.node import NodeKind, NodePlan
from generator.render.strip import strip_shell_comments
from generator.resources import resource_dir

LIBRARY = resource_dir("templates") / "bootstrap" / "lib"
ALWAYS = ("status", "failure", "retry", "phases")


def library_files(plan: NodePlan) -> tuple[str, ...]:
    """The names of the library files a script with PLAN calls into."""
    files = list(ALWAYS)
    if plan.wait_url:
        files.append("wait")  # joiners wait for the control plane before them
    if "kubeadm" in plan.phases:
        if plan.kind != NodeKind.JOIN_WORKER:
            files.append("kubeadm-guard")  # init and control-plane joins never loop
        files.append("kubeadm-init" if plan.kind == NodeKind.INIT else "kubeadm-join")
    return tuple(files)


def library(plan: NodePlan) -> str:
    return "".join(library_file(name) for name in library_files(plan))


@cache
def library_file(name: str) -> str:
    text = (LIBRARY / f"{name}.sh").read_text("utf-8")
    assert text.startswith("# shellcheck shell=bash"), name
    # Its directives serve the lint of the file alone; the rendered script is linted as a whole.
    return strip_shell_comments("\n" + text, directives=False).lstrip("\n")
