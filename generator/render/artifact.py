"""What rendering produces: files as bytes with their mode, not yet written anywhere."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Artifact:
    path: str  # relative to OUT/<cluster>/, with forward slashes
    content: bytes
    mode: int = 0o644
    node: str | None = None
    role: str | None = None
