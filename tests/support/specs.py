"""Example specs as data, patched and written where a test needs them, and rendered in-process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator import model, secrets
from generator.app import SecretsNeed, load_cluster
from generator.render import render
from generator.render.artifact import Artifact
from generator.secrets import joincred

from .repo import REPO


@dataclass(frozen=True)
class Rendered:
    spec: Path
    cluster: model.Cluster
    secrets: secrets.ClusterSecrets
    artifacts: dict[str, Artifact]

    def text(self, path: str) -> str:
        return self.artifacts[path].content.decode()


def render_spec(spec: Path, cluster_secrets: secrets.ClusterSecrets | None = None) -> Rendered:
    cluster = load_cluster(spec).cluster
    algorithm = secrets.NEW_KEY_ALGORITHM
    # As `k8sgen render` does: the join credentials the spec's nodes need are minted first.
    made = cluster_secrets or secrets.generate(
        cluster.name, lifetimes=cluster.certificates, algorithm=algorithm
    )
    value = joincred.reconcile(cluster, made).secrets
    artifacts = {a.path: a for a in render(cluster, value)}
    return Rendered(spec, cluster, value, artifacts)


def cluster_and_secrets(spec: Path) -> tuple[model.Cluster, secrets.ClusterSecrets]:
    """The model of SPEC and its existing secrets file (beside it), as `k8sgen` loads them."""
    loaded = load_cluster(spec, SecretsNeed.EXISTING)
    return loaded.cluster, loaded.require_secrets().value


def set_at(data: Any, path: Sequence[str], value: Any) -> None:
    """Set the value at PATH (a digit part is a list index), creating missing mappings."""
    *parents, last = path
    target = data
    for part in parents:
        target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
    target[int(last) if last.isdigit() else last] = value


def example(name: str, **patch: Any) -> dict[str, Any]:
    """examples/NAME.yaml as data, a fresh copy, with PATCH applied: each key is a path whose
    parts are joined by `__`, e.g. example("single", spec__kubernetes__version="1.33.5")."""
    data: dict[str, Any] = yaml.safe_load((REPO / "examples" / f"{name}.yaml").read_text())
    for path, value in patch.items():
        set_at(data, path.split("__"), value)
    return data


def write_spec(folder: Path, data: dict[str, Any], name: str = "cluster.yaml") -> Path:
    """The spec DATA written as FOLDER/NAME (keys in their order), for the CLI or render_spec."""
    spec = folder / name
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    _copy_registry_cas(data, folder)
    return spec


def _copy_registry_cas(data: dict[str, Any], folder: Path) -> None:
    """The CA files an example's spec.registries names (relative to examples/) go beside the
    copy, so that the copy renders as the example does."""
    spec = data.get("spec")
    registries = spec.get("registries") if isinstance(spec, dict) else None
    for settings in registries.values() if isinstance(registries, dict) else ():
        ca = settings.get("ca") if isinstance(settings, dict) else None
        source = REPO / "examples" / ca if isinstance(ca, str) and ca else None
        target = folder / ca if source else None
        if source and target and source.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
