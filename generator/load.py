"""Read a spec file into plain data plus the line of every field (for error messages)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.errors import K8sgenError, Problem, SpecError

MAX_SPEC_BYTES = 1024 * 1024
STR_TAG = "tag:yaml.org,2002:str"

# A path is a tuple of mapping keys and list indexes, e.g. ("spec", "nodes", 2, "role").
FieldPath = tuple[str | int, ...]


def format_path(path: FieldPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass
class LoadedSpec:
    """The spec as data, with the 1-based line of each field path."""

    filename: str
    data: Any
    marks: dict[FieldPath, int] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path)

    def line_of(self, path: FieldPath) -> int:
        """The line of the path, or of its nearest ancestor present in the file."""
        for end in range(len(path), -1, -1):
            line = self.marks.get(path[:end])
            if line:
                return line
        return 1


def load_spec(path: Path) -> LoadedSpec:
    filename = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise K8sgenError(
                f"{filename}: {size} bytes is too large for a cluster spec "
                f"(at most {MAX_SPEC_BYTES}); is this the right file?"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise K8sgenError(f"{filename}: cannot read the spec: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise K8sgenError(f"{filename}: not UTF-8 text (byte {exc.start})") from exc
    return load_text(text, filename, path.resolve().parent)


def load_text(text: str, filename: str, base_dir: Path | None = None) -> LoadedSpec:
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        column = f", column {mark.column + 1}" if mark else ""
        reason = exc.problem or exc.context or "invalid YAML"
        problem = Problem(line, "", f"YAML syntax error{column}: {reason}")
        raise SpecError(filename, [problem]) from exc
    except yaml.YAMLError as exc:
        raise SpecError(filename, [Problem(0, "", f"YAML error: {exc}")]) from exc
    if len(documents) != 1 or documents[0] is None:
        count = len([d for d in documents if d is not None])
        raise SpecError(filename, [Problem(1, "", f"expected one YAML document, found {count}")])
    loaded = LoadedSpec(filename, None, base_dir=base_dir or Path.cwd())
    builder = _Builder(loaded.marks)
    loaded.data = builder.build(documents[0], ())
    if builder.problems:
        raise SpecError(filename, builder.problems)
    return loaded


class _Builder:
    """Builds plain data from a node tree, recording lines and refusing YAML surprises."""

    def __init__(self, marks: dict[FieldPath, int]) -> None:
        self.marks = marks
        self.problems: list[Problem] = []
        self._seen: set[int] = set()
        self._scalars = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: FieldPath) -> Any:
        line = self.marks.setdefault(path, node.start_mark.line + 1)
        if id(node) in self._seen:
            # An alias: it can expand exponentially and hides where a value came from.
            self.problems.append(Problem(line, format_path(path), "YAML aliases are not supported"))
            return None
        self._seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            return self._scalars.construct_object(node)
        except yaml.YAMLError as exc:
            reason = getattr(exc, "problem", None) or str(exc)
            self.problems.append(Problem(line, format_path(path), f"unsupported value: {reason}"))
            return None

    def _mapping(self, node: yaml.MappingNode, path: FieldPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != STR_TAG:
                shown = getattr(key_node, "value", "?")
                self.problems.append(
                    Problem(
                        key_line, format_path(path), f"key {shown!r} must be a string (quote it)"
                    )
                )
                continue
            key = key_node.value
            if key in result:
                self.problems.append(Problem(key_line, format_path((*path, key)), "duplicate key"))
                continue
            self.marks[(*path, key)] = key_line
            result[key] = self.build(value_node, (*path, key))
        return result
