"""The bootstrap library: plain bash files that lint unrendered, picked by each node's plan."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from generator.render.bootstrap import bootstrap_context
from generator.render.library import (
    ALWAYS,
    LIBRARY,
    bake_library_files,
    library,
    library_files,
)
from generator.render.node import NodeKind, plan
from generator.render.packer import bake_context
from generator.render.variables import assignment

from .support.specs import Rendered, example, render_spec, write_spec
from .support.tools import need

FILES = sorted(LIBRARY.glob("*.sh"))
TEMPLATES = LIBRARY.parents[1]
FUNCTION = re.compile(r"^([a-z_]+)\(\) \{$", re.MULTILINE)


def test_the_library_files_pass_shellcheck_unrendered() -> None:
    assert len(FILES) >= 15
    for path in FILES:
        text = path.read_text()
        assert "{{" not in text and "{%" not in text and "{#" not in text, path.name
    result = subprocess.run(
        [need("shellcheck"), "--severity=style", *map(str, FILES)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def test_no_jinja_library_is_left() -> None:
    assert not (TEMPLATES / "bootstrap" / "lib.sh.j2").exists()
    for path in TEMPLATES.rglob("*.j2"):
        assert "lib.sh" not in path.read_text(), path.name


def test_each_plan_gets_the_files_it_calls_into(rendered_examples: list[Rendered]) -> None:
    picked: dict[NodeKind, set[str]] = {}
    for rendered in rendered_examples:
        cluster = rendered.cluster
        packages = ("packages", {"deb": "apt", "rpm": "dnf"}[cluster.os.package_format])
        for node in cluster.nodes:
            node_plan = plan(cluster, node)
            files = library_files(cluster, node_plan)
            assert files[:4] == ALWAYS
            # A baked image's nodes install nothing: no package manager's code.
            assert (files[4:6] == packages) == ("install" in node_plan.phases)
            assert ("report" in files) == bool(cluster.bootstrap.report_url)
            picked.setdefault(node_plan.kind, set()).update(set(files) - {*ALWAYS, *packages})
        assert bake_library_files(cluster) == (*ALWAYS, *packages)
    assert picked == {
        NodeKind.INIT: {"kubeadm", "shared-pki", "kubeadm-guard", "kubeadm-init"},
        NodeKind.JOIN_CONTROL_PLANE: {
            "wait",
            "kubeadm",
            "shared-pki",  # certificateDistribution "files"
            "kubeadm-guard",
            "kubeadm-join",
            "kubeadm-join-control-plane",
        },
        NodeKind.JOIN_WORKER: {"wait", "kubeadm", "kubeadm-join", "kubeadm-join-worker"},
    }


def test_every_function_a_script_calls_into_is_defined_once(
    rendered_examples: list[Rendered],
) -> None:
    """A file pair defines the same functions two ways; a script holds one of each."""
    for rendered in rendered_examples:
        cluster = rendered.cluster
        contexts = [
            bootstrap_context(cluster, n, plan(cluster, n), rendered.secrets) for n in cluster.nodes
        ]
        for context in [*contexts, bake_context(cluster)]:
            names = FUNCTION.findall(context["library"])
            assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_the_library_travels_without_comments_or_the_lint_directive(
    rendered_examples: list[Rendered],
) -> None:
    cluster = rendered_examples[0].cluster
    text = library(library_files(cluster, plan(cluster, cluster.init_node)))
    assert "shellcheck shell=bash" not in text
    assert not [
        line
        for line in text.splitlines()
        if line.lstrip().startswith("# ") and "shellcheck" not in line
    ]
    assert "run_phases() {" in text and "kubeadm_init() {" in text and "wait_for_api" not in text


def test_a_report_url_brings_the_code_that_posts(tmp_path: Path) -> None:
    data = example("single", spec__bootstrap={"reportURL": "https://ops.example/s"})
    cluster = render_spec(write_spec(tmp_path, data)).cluster
    files = library_files(cluster, plan(cluster, cluster.nodes[-1]))
    assert "report" in files and "post_status() {" in library(files)


def test_the_bootstrap_and_the_bake_share_one_prologue() -> None:
    for name in ("bootstrap/main.sh.j2", "packer/bake.sh.j2"):
        text = (TEMPLATES / name).read_text()
        assert '{% include "bootstrap/prologue.sh.j2" %}' in text, name
        assert "set -Eeuo pipefail" not in text and "readonly STATE_DIR" not in text, name
    prologue = (TEMPLATES / "bootstrap" / "prologue.sh.j2").read_text()
    assert "{% if" not in prologue and "kind." not in prologue


def test_variables_are_quoted_for_bash() -> None:
    assert assignment("WAIT_WHAT", "the API server of cp1") == (
        "readonly WAIT_WHAT='the API server of cp1'"
    )
    assert assignment("APT_OPTIONS", ("-o", "A=b c")) == "readonly -a APT_OPTIONS=(-o 'A=b c')"
    assert assignment("APT_OPTIONS", ()) == "readonly -a APT_OPTIONS=()"
