"""Errors of our own: the CLI turns each into one message and an exit code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class K8sgenError(Exception):
    """A failure an operator can act on; the message says what to fix."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a spec, located by line and field path."""

    line: int
    path: str
    message: str

    def format(self, filename: str) -> str:
        where = f"{filename}:{self.line}" if self.line else filename
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SpecError(K8sgenError):
    """The spec is invalid; carries every problem found, sorted."""

    def __init__(self, filename: str, problems: Sequence[Problem]) -> None:
        self.filename = filename
        self.problems = sorted(problems)
        super().__init__("\n".join(p.format(filename) for p in self.problems))


class SecretsError(K8sgenError):
    """The secrets file cannot be used as it is; it is never overwritten."""
