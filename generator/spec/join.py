"""Semantic checks of how nodes join: the join window of their certificates (issue 14)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from generator import model
from generator.secrets import tokenlife
from generator.spec.rules import ttl_seconds

if TYPE_CHECKING:
    from generator.spec.findings import Findings

JOIN_WINDOW = ("spec", "bootstrap", "joinWindow")


def check_join_window(data: dict[str, Any], findings: Findings) -> None:
    """A join certificate cannot be revoked: its window is what bounds a leaked one."""
    bootstrap = data["spec"].get("bootstrap", {})
    window = bootstrap.get("joinWindow", model.DEFAULT_JOIN_WINDOW)
    seconds = ttl_seconds(window)
    if seconds == 0:
        findings.error(JOIN_WINDOW, f"{window}: a join window must be longer than zero")
    elif seconds > tokenlife.MAX_TTL_SECONDS:
        findings.error(
            JOIN_WINDOW,
            f"{window} is longer than a year ({tokenlife.MAX_TTL_SECONDS // 3600}h): a node that "
            "boots later gets a fresh certificate from the render that adds it",
        )
    if "joinWindow" in bootstrap and bootstrap.get("joinWith", model.DEFAULT_JOIN_WITH) != (
        model.JOIN_WITH_CERTIFICATE
    ):
        findings.warn(
            JOIN_WINDOW,
            "only nodes that join with a certificate use it: set joinWith: certificate",
        )
