"""Where the tests find the checkout, the examples and third-party test data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

from generator import versions

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
EXAMPLES = [p for p in EXAMPLES if not p.name.endswith(".secrets.yaml")]
# kubeadm's schemas only the tests read (written from the Kubernetes API Go types); not in
# the wheel (the kubelet's and kube-proxy's are in schemas/: tests/support/kubeadm.py).
TEST_SCHEMAS = REPO / "tests" / "schemas"
# Third-party test data lives beside the repository (see DESIGN.md), never inside it, or
# where K8SGEN_FIXTURES points.
FIXTURES = Path(os.environ.get("K8SGEN_FIXTURES") or REPO.parent / "shared" / "fixtures")
# The Calico releases whose real manifests the tests read: those whose sha256 k8sgen knows.
CALICO_FIXTURE_VERSIONS = tuple(versions.CALICO_MANIFEST_SHA256)


def missing(what: str) -> NoReturn:
    """Skip a test whose third-party input is absent (one line); under CI=true, fail it."""
    message = f"missing {what}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def fixture(*parts: str) -> Path:
    """A third-party file from FIXTURES (see missing())."""
    path = FIXTURES.joinpath(*parts)
    if not path.is_file():
        missing(f"fixture {path} (put shared/fixtures beside the clone or set K8SGEN_FIXTURES)")
    return path


def calico_fixture(version: str) -> Path:
    """The real calico.yaml of a Calico release, e.g. v3.30.7."""
    return fixture("calico", f"calico-{version}.yaml")
