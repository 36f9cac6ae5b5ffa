"""Shared test set-up: example specs rendered once per session with throwaway secrets.

Helpers the test modules share live in tests/support/."""

from __future__ import annotations

import pytest

from generator import secrets

from .support.repo import EXAMPLES
from .support.specs import Rendered, render_spec


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="Rewrite tests/golden from the current output."
    )


@pytest.fixture(scope="session")
def rendered_examples() -> list[Rendered]:
    return [render_spec(spec) for spec in EXAMPLES]


@pytest.fixture(scope="session")
def demo_secrets() -> secrets.ClusterSecrets:
    return secrets.generate("demo")
