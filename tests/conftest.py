"""Shared test set-up: example specs rendered once per session with throwaway secrets."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator import model, secrets
from generator.load import load_spec
from generator.render import render
from generator.render.artifact import Artifact
from generator.validate import validate

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
EXAMPLES = [p for p in EXAMPLES if not p.name.endswith(".secrets.yaml")]
# Third-party test data lives beside the repository (see DESIGN.md), never inside it.
FIXTURES = REPO.parent / "shared" / "fixtures"


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


def without_warnings(stderr: str) -> list[str]:
    """stderr's lines less validation's warnings (e.g. a patch missing from the image table)."""
    return [line for line in stderr.splitlines() if not line.endswith(" (warning)")]


def need(tool: str) -> str:
    """The path of an oracle tool; CI installs them all, so missing means a broken set-up."""
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed: run the test set-up from the README")
    return path


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
