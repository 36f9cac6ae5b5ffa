"""The bootstrap library: plain bash files that lint unrendered, picked by each node's plan."""

from __future__ import annotations

import subprocess

from generator.render.library import LIBRARY, library, library_files
from generator.render.node import NodeKind, plan
from generator.render.packer import bake_plan

from .support.specs import Rendered
from .support.tools import need

FILES = sorted(LIBRARY.glob("*.sh"))


def test_the_library_files_pass_shellcheck_unrendered() -> None:
    assert len(FILES) >= 6
    for path in FILES:
        text = path.read_text()
        assert "{{" not in text and "{%" not in text and "{#" not in text, path.name
    result = subprocess.run(
        [need("shellcheck"), "--severity=style", *map(str, FILES)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_each_plan_gets_the_files_it_calls_into(rendered_examples: list[Rendered]) -> None:
    picked = {}
    for rendered in rendered_examples:
        for node in rendered.cluster.nodes:
            node_plan = plan(rendered.cluster, node)
            picked[node_plan.kind] = set(library_files(node_plan))
            assert library_files(node_plan)[:4] == ("status", "failure", "retry", "phases")
        picked[NodeKind.BAKE] = set(library_files(bake_plan(rendered.cluster)))
    extra = {
        kind: files - {"status", "failure", "retry", "phases"} for kind, files in picked.items()
    }
    assert extra == {
        NodeKind.INIT: {"kubeadm-guard", "kubeadm-init"},
        NodeKind.JOIN_CONTROL_PLANE: {"wait", "kubeadm-guard", "kubeadm-join"},
        NodeKind.JOIN_WORKER: {"wait", "kubeadm-join"},
        NodeKind.BAKE: set(),
    }


def test_the_library_travels_without_comments_or_the_lint_directive(
    rendered_examples: list[Rendered],
) -> None:
    cluster = rendered_examples[0].cluster
    text = library(plan(cluster, cluster.init_node))
    assert "shellcheck shell=bash" not in text
    assert not [
        line
        for line in text.splitlines()
        if line.lstrip().startswith("# ") and "shellcheck" not in line
    ]
    assert "run_phases() {" in text and "kubeadm_once() {" in text and "wait_for_api" not in text


def test_the_bootstrap_and_the_bake_share_one_prologue() -> None:
    templates = LIBRARY.parents[1]
    for name in ("bootstrap/main.sh.j2", "packer/bake.sh.j2"):
        text = (templates / name).read_text()
        assert '{% include "bootstrap/prologue.sh.j2" %}' in text, name
        assert "set -Eeuo pipefail" not in text and "readonly STATE_DIR" not in text, name
