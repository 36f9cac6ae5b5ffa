"""Read a spec file into plain data plus the line of every field (for error messages)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.errors import K8sgenError, Problem, SpecError
from generator.inputs import BoundedLoader, describe_yaml_error, read_input

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
    raw = read_input(path, "cluster spec", MAX_SPEC_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise K8sgenError(f"{filename}: not UTF-8 text (byte {exc.start})") from exc
    return load_text(text, filename, path.resolve().parent)


def load_text(text: str, filename: str, base_dir: Path | None = None) -> LoadedSpec:
    try:
        documents = list(yaml.compose_all(text, Loader=BoundedLoader))
    except yaml.YAMLError as exc:
        line, message = describe_yaml_error(exc)
        raise SpecError(filename, [Problem(line, "", message)]) from exc
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
    """Builds plain data from a node tree, recording lines (BoundedLoader refused surprises)."""

    def __init__(self, marks: dict[FieldPath, int]) -> None:
        self.marks = marks
        self.problems: list[Problem] = []
        self._scalars = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: FieldPath) -> Any:
        line = self.marks.setdefault(path, node.start_mark.line + 1)
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
