"""Reading files k8sgen did not write: a regular file of bounded size, YAML without surprises.

Every input (spec, secrets, local Calico manifest, a node's status.json) goes through
read_input before it is parsed, so a FIFO cannot hang k8sgen and /dev/zero cannot fill its
memory; YAML goes through BoundedLoader, which refuses aliases (billion laughs), nesting
deeper than any real document and tags on mappings or lists.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from generator.errors import K8sgenError

MAX_DEPTH = 64  # a cluster spec nests about 6 levels, calico.yaml about 20
# The tags a plain mapping or list resolves to; any other (!!set, !!python/...) is refused.
TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
_FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class InputError(K8sgenError):
    """An input file is not what k8sgen can read (not a file, too large, unsafe YAML)."""


def read_input(path: Path, what: str, max_bytes: int, private: bool = False) -> bytes:
    """The bytes of PATH, if it is a regular file of at most max_bytes.

    O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused right after).
    private: the file holds keys; like ssh, refuse it when group or others may access it.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{path}: cannot read the {what}: {_kind(info.st_mode)}")
        if private and info.st_mode & 0o077:
            raise InputError(
                f"{path}: permissions {info.st_mode & 0o777:04o} are too open for the {what}: "
                f"others may read its keys; run `chmod 600 {path}`"
            )
        if info.st_size > max_bytes:
            raise InputError(
                f"{path}: {info.st_size} bytes is too large for a {what} (at most {max_bytes})"
            )
        data = _read_at_most(fd, max_bytes + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # it grew while being read
        raise InputError(f"{path}: the {what} is larger than {max_bytes} bytes")
    return data


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO")):
        if test(mode):
            return f"not a regular file but {name}"
    return "not a regular file (a device or socket)"


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        chunk = os.read(fd, min(limit - size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


class UnsupportedYAML(yaml.composer.ComposerError):
    """Valid YAML that k8sgen refuses to load."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(None, None, problem, mark)


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses aliases, deep nesting and tagged collections.

    Errors are yaml.MarkedYAMLError with the line, like any other YAML error.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            raise UnsupportedYAML("YAML aliases are not supported", event.start_mark)
        if self._depth >= MAX_DEPTH:
            raise UnsupportedYAML(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in TAGS:
            raise UnsupportedYAML(f"YAML tag {node.tag} is not supported", node.start_mark)
        return node


def safe_yaml(text: str) -> Any:
    """The one document in text, loaded with BoundedLoader."""
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def check_yaml_events(text: str) -> None:
    """Refuse aliases and deep nesting in a large document before it is loaded.

    For files parsed elsewhere with libyaml (calico.yaml): the event stream is flat and fast.
    """
    depth = 0
    for event in yaml.parse(text, Loader=_FastLoader):
        if isinstance(event, yaml.AliasEvent):
            raise UnsupportedYAML("YAML aliases are not supported", event.start_mark)
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise UnsupportedYAML(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def describe_yaml_error(exc: yaml.YAMLError) -> tuple[int, str]:
    """(1-based line or 0, message) of a YAML error."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return 0, f"YAML error: {exc}"
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 0
    column = f"column {mark.column + 1}" if mark else ""
    reason = exc.problem or exc.context or "invalid YAML"
    if isinstance(exc, UnsupportedYAML):
        return line, f"{reason} ({column})"
    return line, f"YAML syntax error, {column}: {reason}"
