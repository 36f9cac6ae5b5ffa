"""Shared test set-up: example specs rendered once per session with throwaway secrets.

Helpers the test modules share live in tests/support/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from generator import secrets

from .support.loopback import Registry, registry_with_hello
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


@pytest.fixture(scope="module")
def hello_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A loopback registry holding library/hello:1, one per test module that asks for it."""
    root = tmp_path_factory.mktemp("registry")
    with registry_with_hello(root, "k8sgen registry test") as registry:
        yield registry
