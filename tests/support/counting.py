"""Counting how often each node's user-data is rendered (a render pass costs one per node)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from generator import render


def renders_per_node(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """From now on, every user-data render of a node adds one to the node's count."""
    counts: Counter[str] = Counter()
    real = render.user_data

    def counting(cluster: Any, node: Any, *args: Any) -> str:
        counts[node.name] += 1
        return real(cluster, node, *args)

    monkeypatch.setattr(render, "user_data", counting)
    return counts
