"""Where templates and schemas live: inside the wheel, or beside the package in a checkout."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The installed copy (generator/<name>) wins; a source checkout has it one level up."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"k8sgen is installed without its {name}/ folder")


@cache
def load_schema(filename: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((resource_dir("schemas") / filename).read_text("utf-8"))
    return data
