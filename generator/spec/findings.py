"""What checking a spec finds (problems and warnings, each at a field's line), and the shape of
a semantic check: a function plus the parts of the spec it reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from generator.errors import Problem
from generator.spec.load import FieldPath, LoadedSpec, format_path

ANY = "*"  # in a path a check reads: every item of a list, every key of a mapping
KUBERNETES = ("spec", "kubernetes")
NODES = ("spec", "nodes")
NODE_ADDRESSES = (*NODES, ANY, "address")
NODE_ADDRESSES6 = (*NODES, ANY, "address6")
NODE_ROLES = (*NODES, ANY, "role")
CONTROL_PLANE = ("spec", "controlPlane")
VIP = (*CONTROL_PLANE, "vip")
MIRRORS = ("spec", "mirrors")
BOOTSTRAP = ("spec", "bootstrap")
OS = ("spec", "os")
NETWORK = ("spec", "network")
CALICO = ("spec", "cni", "calico")


@dataclass
class Findings:
    """Problems (the spec is refused) and warnings (it is accepted, with a caveat)."""

    spec: LoadedSpec
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    malformed: list[FieldPath] = field(default_factory=list)  # where the data has a wrong shape

    def error(self, path: FieldPath, message: str) -> None:
        self.problems.append(Problem(self.spec.line_of(path), format_path(path), message))

    def warn(self, path: FieldPath, message: str) -> None:
        self.warnings.append(Problem(self.spec.line_of(path), format_path(path), message))


Check = Callable[[dict[str, Any], Findings], None]


@dataclass(frozen=True)
class SemanticCheck:
    run: Check
    reads: tuple[FieldPath, ...]  # the parts of the spec it reads (defaults included)
