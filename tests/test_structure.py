"""The shape of the code: no module of generator/ imports itself back, not even for typing.

The import graph is read from the source with `ast` (imports under TYPE_CHECKING and inside
functions count too: a cycle there is a cycle of the design, even where Python tolerates it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from .support.repo import REPO

PACKAGE = "generator"


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package below root."""
    names = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imported(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The package's modules that MODULE imports (`from a import b`: a.b if b is a module)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node.module, node.level)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in known:
                    yield target
                elif base in known:
                    yield base


def _absolute(module: str, is_package: bool, name: str | None, level: int) -> str:
    if level == 0:
        return name or ""
    parts = module.split(".")
    anchor = parts if is_package else parts[:-1]
    anchor = anchor[: len(anchor) - (level - 1)]
    return ".".join([*anchor, name] if name else anchor)


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    known = module_names(root, package)
    return {module: set(imported(module, path, known)) - {module} for module, path in known.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, white/grey/black)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def test_generator_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph(REPO, PACKAGE))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_a_typing_only_cycle_is_found(tmp_path: Path) -> None:
    """The detector sees a cycle that only TYPE_CHECKING closes (validate.py and validate_ha.py
    had one), through `from package import module` and relative imports."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "checks.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub.runner import Run\n"
    )
    (package / "sub" / "runner.py").write_text("from pkg import checks\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.sub.runner"] == {"pkg.checks"}
    assert find_cycle(graph) == ["pkg.checks", "pkg.sub.runner", "pkg.checks"]
    (package / "checks.py").write_text("X = 1\n")
    assert find_cycle(import_graph(tmp_path, "pkg")) is None


MAX_FUNCTION_LINES = 40  # the house rule: a longer function is split into named steps


def long_functions(root: Path, package: str) -> list[str]:
    """'file:line name (N lines)' for every function of the package over MAX_FUNCTION_LINES,
    counted from `def` to its last line, docstring included."""
    found = []
    for path in module_names(root, package).values():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    where = f"{path.relative_to(root)}:{node.lineno}"
                    found.append(f"{where} {node.name} ({length} lines)")
    return found


def test_no_function_of_generator_is_longer_than_the_limit() -> None:
    assert long_functions(REPO, PACKAGE) == []


def test_a_long_function_is_named(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "long.py").write_text(f"def short():\n    pass\n\n\ndef tall():\n{body}")
    assert long_functions(tmp_path, "pkg") == [
        f"pkg/long.py:5 tall ({MAX_FUNCTION_LINES + 1} lines)"
    ]
