"""The node's layout is defined once (generator/layout.py), and node kinds are an enum: no
template or module spells out a path of the layout or a kind of node."""

from __future__ import annotations

import ast
import re

from generator import layout
from generator.render.node import NodeKind
from generator.render.strip import is_docstring

from .support.repo import REPO

PATHS = {name: value for name, value in vars(layout).items() if name.isupper()}
TEMPLATES = REPO / "templates"
JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
KIND_LITERAL = re.compile(r"plan\.kind\s*(==|!=|in)\s*\(?\s*[\"']")


def template_code(text: str) -> str:
    """A template without Jinja comments and whole-line shell comments."""
    text = JINJA_COMMENT.sub("", text)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_templates_compare_kinds_with_the_enum_and_read_paths_from_the_layout() -> None:
    checked = 0
    # The bootstrap library (plain bash) reads them from the prologue's variables.
    for path in sorted([*TEMPLATES.rglob("*.j2"), *TEMPLATES.rglob("*.sh")]):
        code = template_code(path.read_text())
        assert not KIND_LITERAL.search(code), f"{path.name}: compare plan.kind with kind.NAME"
        retyped = [name for name, value in PATHS.items() if value in code]
        assert not retyped, f"{path.name}: use layout.{retyped[0]}"
        checked += 1
    assert checked > 10


def python_strings(tree: ast.AST) -> list[str]:
    """Every string constant of a module but its docstrings."""
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and is_docstring(body[0]):
            docstrings.add(id(body[0].value))
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


def test_python_reads_paths_from_the_layout() -> None:
    for path in sorted((REPO / "generator").rglob("*.py")):
        if path.name == "layout.py":
            continue
        strings = python_strings(ast.parse(path.read_text()))
        retyped = [name for name, value in PATHS.items() for s in strings if value in s]
        assert not retyped, f"{path.relative_to(REPO)}: use layout.{retyped[0]}"


def test_kinds_are_what_scripts_and_status_json_say() -> None:
    assert [str(kind) for kind in NodeKind] == ["init", "join-control-plane", "join-worker", "bake"]
