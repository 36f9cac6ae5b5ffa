"""Rendering streams: one node at a time, the manifest from hashes, secrets made once."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from generator import secrets
from generator.app import RenderRequest, SecretsNeed, load_cluster, render_cluster
from generator.cli import cli
from generator.render import Rendering, RenderOptions, render

from .support.counting import renders_per_node
from .support.repo import REPO
from .support.specs import example, render_spec, write_spec

HA = REPO / "examples" / "ha-external-lb.yaml"


def test_nodes_are_rendered_only_as_the_writer_asks_for_them() -> None:
    base = render_spec(HA)
    rendering = Rendering(base.cluster, base.secrets, RenderOptions(iso=True))
    stream = iter(rendering)
    seen = []
    for artifact in stream:
        seen.append(artifact.path)
        if artifact.path == "nodes/cp1/cidata.iso":
            break
    # The first node is complete; nothing of the second one exists yet.
    assert "nodes/cp1/user-data" in seen
    assert not any(p.startswith("nodes/cp2/") for p in seen)
    rest = [a.path for a in stream]
    nodes = {p.split("/")[1] for p in rest if p.startswith("nodes/")}
    assert nodes == {"cp2", "cp3", "w1", "w2"}
    assert rest[-1] == "manifest.json"


def test_manifest_lists_every_artifact_with_its_hash_and_size() -> None:
    base = render_spec(HA)
    artifacts = render(base.cluster, base.secrets, RenderOptions(iso=True, gzip=True))
    *files, manifest = artifacts
    data = json.loads(manifest.content)
    assert [f["path"] for f in data["files"]] == [a.path for a in files]
    for entry, artifact in zip(data["files"], files, strict=True):
        assert entry["sha256"] == hashlib.sha256(artifact.content).hexdigest()
        assert entry["bytes"] == len(artifact.content)
        assert entry["mode"] == f"{artifact.mode:04o}"
        assert (entry["node"], entry["role"]) == (artifact.node, artifact.role)
    roles = {e["node"]: e["role"] for e in data["files"] if e["node"]}
    assert roles == {
        "cp1": "control-plane",
        "cp2": "control-plane",
        "cp3": "control-plane",
        "w1": "worker",
        "w2": "worker",
    }


def test_a_fleet_render_generates_the_secrets_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = example("ha-external-lb")
    data["spec"]["nodes"] += [
        {"name": f"w{i}", "role": "worker", "address": f"192.168.10.{i}/24"} for i in range(30, 60)
    ]
    spec = write_spec(tmp_path, data, "fleet.yaml")
    calls = []
    real = secrets.generate

    def counting(cluster: str, **options: Any) -> secrets.ClusterSecrets:
        calls.append(cluster)
        return real(cluster, **options)

    monkeypatch.setattr(secrets, "generate", counting)
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(tmp_path / "out"), "--iso"])
    assert result.exit_code == 0, result.stderr
    assert calls == ["prod"]
    assert len(list((tmp_path / "out" / "prod" / "nodes").glob("*/cidata.iso"))) == 35


def test_render_renders_each_node_twice_preflight_and_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One preflight pass feeds the size budget and the egress lint; then the write pass."""
    spec = write_spec(tmp_path, example("airgap-mirror"))  # offline: the lint runs too
    counts = renders_per_node(monkeypatch)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(out), "--platform", "gcp"])
    assert result.exit_code == 0, result.stderr
    assert "zero-egress lint: clean" in result.stdout
    nodes = sorted(p.name for p in (out / "vault" / "nodes").iterdir())
    assert len(nodes) == 3
    assert counts == dict.fromkeys(nodes, 2)


def test_the_report_holds_the_sizes_of_what_was_written(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, example("ha-external-lb"))
    loaded = load_cluster(spec, SecretsNeed.LOAD_OR_NEW)
    report = render_cluster(loaded, RenderRequest(tmp_path / "out", gzip=True))
    assert [s.node for s in report.sizes] == ["cp1", "cp2", "cp3", "w1", "w2"]
    # The same secrets, written as they are: raw is that size (its files packed each, the
    # gzip form's plain, so raw is not the gzip form decompressed).
    as_is = render_cluster(
        load_cluster(spec, SecretsNeed.LOAD_OR_NEW), RenderRequest(tmp_path / "raw")
    )
    for size in report.sizes:
        packed = (report.root / "nodes" / size.node / "user-data").read_bytes()
        raw = (as_is.root / "nodes" / size.node / "user-data").read_bytes()
        assert (len(packed), len(raw)) == (size.gzip, size.raw)
        assert gzip.decompress(packed).startswith(b"#cloud-config\n")
    assert report.secrets.created and report.secrets.path.exists()
    assert {r.status for r in report.results} == {"created"}
    assert report.egress is None and report.stale == ()
