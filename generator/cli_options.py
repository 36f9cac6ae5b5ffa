"""Arguments and options that more than one module of commands declares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

SPEC_ARGUMENT = click.argument(
    "spec_path", metavar="SPEC", type=click.Path(path_type=Path, dir_okay=False)
)


def format_option(formats: Sequence[str], default: str, help: str) -> Callable[..., Any]:
    """--format (the parameter `fmt`) choosing one of FORMATS."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(formats),
        default=default,
        show_default=True,
        help=help,
    )
