"""The command line: exit codes, stdout and stderr checked separately."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from generator.app import default_secrets_path
from generator.cli import cli

from .support.specs import example, write_spec


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def copy_spec(tmp_path: Path, name: str = "single", **changes: object) -> Path:
    return write_spec(tmp_path, example(name, **changes))


def all_files(root: Path) -> dict[str, bytes]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def test_validate_ok(runner: CliRunner, tmp_path: Path) -> None:
    spec = copy_spec(tmp_path)
    result = runner.invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{spec}: valid (3 nodes, Kubernetes 1.33.6)\n"
    assert result.stderr == ""  # the default Calico manifest comes from verified mirrors


def test_validate_reports_every_problem_on_stderr(runner: CliRunner, tmp_path: Path) -> None:
    spec = copy_spec(tmp_path, spec__nodes__1__role="master", spec__kubernetes__version="1.20.1")
    result = runner.invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{spec}:")
    assert "spec.kubernetes.version: Kubernetes 1.20.1" in lines[0]
    assert "spec.nodes[1].role: 'master' is not one of" in lines[1]
    assert "Traceback" not in result.stderr


def test_render_writes_the_contract_tree_with_modes(runner: CliRunner, tmp_path: Path) -> None:
    spec = copy_spec(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(cli, ["render", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    root = out / "demo"
    expected = {"admin.conf", "manifest.json", "terraform/main.tf.json", "terraform/README.md"} | {
        f"nodes/{n}/{f}"
        for n in ("master1", "node1", "node2")
        for f in ("user-data", "meta-data", "network-config")
    }
    assert set(all_files(root)) == expected
    for name in ("admin.conf", "nodes/node1/user-data"):
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "nodes/node1/meta-data").stat().st_mode) == 0o644
    secrets_file = tmp_path / "cluster.secrets.yaml"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert "created the cluster secrets" in result.stdout
    assert "13 created, 0 changed, 0 unchanged" in result.stdout
    assert "master1" in result.stdout and "(runs kubeadm init)" in result.stdout


def test_render_twice_is_byte_identical_and_reports_unchanged(
    runner: CliRunner, tmp_path: Path
) -> None:
    spec = copy_spec(tmp_path)
    out = tmp_path / "out"
    assert runner.invoke(cli, ["render", str(spec), "-o", str(out)]).exit_code == 0
    first = all_files(out)
    second_out = tmp_path / "again"
    assert runner.invoke(cli, ["render", str(spec), "-o", str(second_out)]).exit_code == 0
    assert all_files(second_out) == first
    again = runner.invoke(cli, ["render", str(spec), "-o", str(out)])
    assert "0 created, 0 changed, 13 unchanged" in again.stdout
    assert "created the cluster secrets" not in again.stdout


def test_changed_spec_reports_changed_and_stale(runner: CliRunner, tmp_path: Path) -> None:
    spec = copy_spec(tmp_path)
    out = tmp_path / "out"
    runner.invoke(cli, ["render", str(spec), "-o", str(out)])
    data = yaml.safe_load(spec.read_text())
    data["spec"]["nodes"].pop()
    spec.write_text(yaml.safe_dump(data))
    result = runner.invoke(cli, ["render", str(spec), "-o", str(out)])
    assert result.exit_code == 0
    # The manifest and the Terraform module change; the other nodes' files do not (their
    # /etc/hosts names the control planes only).
    assert "10 files (0 created, 2 changed, 8 unchanged)" in result.stdout
    assert "nodes/node2/user-data: not produced by this render (left in place)" in result.stderr


def test_invalid_spec_writes_nothing(runner: CliRunner, tmp_path: Path) -> None:
    spec = copy_spec(tmp_path, spec__kubernetes__podSubnet="10.96.0.0/16")
    out = tmp_path / "out"
    result = runner.invoke(cli, ["render", str(spec), "-o", str(out)])
    assert result.exit_code == 1
    assert "overlaps the pod subnet" in result.stderr
    assert not out.exists()
    assert not default_secrets_path(spec).exists()


def test_dry_run_writes_nothing(runner: CliRunner, tmp_path: Path) -> None:
    spec = copy_spec(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(cli, ["render", str(spec), "-o", str(out), "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert "would write 13 files" in result.stdout
    assert not out.exists() and not default_secrets_path(spec).exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("garbage: [", "corrupt (not YAML at line 1"),
        ("apiVersion: k8sgen/v1alpha1\nkind: ClusterSecrets\n", "missing or misplaced field"),
    ],
)
def test_bad_secrets_file_is_refused_and_kept(
    runner: CliRunner, tmp_path: Path, content: str, message: str
) -> None:
    spec = copy_spec(tmp_path)
    secrets_file = default_secrets_path(spec)
    secrets_file.write_text(content)
    secrets_file.chmod(0o600)
    out = tmp_path / "out"
    result = runner.invoke(cli, ["render", str(spec), "-o", str(out)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith(f"error: {secrets_file}: ")
    assert message in result.stderr
    assert secrets_file.read_text() == content
    assert not out.exists()


def test_secrets_of_another_cluster_are_refused(runner: CliRunner, tmp_path: Path) -> None:
    spec = copy_spec(tmp_path)
    other = tmp_path / "other.secrets.yaml"
    assert runner.invoke(cli, ["secrets", str(spec), "--secrets", str(other)]).exit_code == 0
    renamed = copy_spec(tmp_path, metadata__name="prod")
    args = ["render", str(renamed), "--secrets", str(other), "-o", str(tmp_path)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert "belong to cluster 'demo', not 'prod'" in result.stderr


def test_secrets_command_creates_then_checks(runner: CliRunner, tmp_path: Path) -> None:
    spec = copy_spec(tmp_path)
    first = runner.invoke(cli, ["secrets", str(spec)])
    assert first.exit_code == 0 and "created" in first.stdout and "sha256:" in first.stdout
    second = runner.invoke(cli, ["secrets", str(spec)])
    assert "exists, valid" in second.stdout
    assert first.stdout.splitlines()[1] == second.stdout.splitlines()[1]


def test_usage_errors_exit_2(runner: CliRunner) -> None:
    assert runner.invoke(cli, ["render"]).exit_code == 2
    assert runner.invoke(cli, ["frobnicate"]).exit_code == 2
    assert runner.invoke(cli, ["render", "x.yaml", "--bogus"]).exit_code == 2


def test_missing_spec_is_one_clear_line(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    missing = tmp_path / "nope.yaml"
    assert (
        result.stderr
        == f"error: {missing}: cannot read the cluster spec: No such file or directory\n"
    )


def test_debug_shows_the_traceback(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["--debug", "validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr


def test_init_writes_a_spec_that_validates(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "starter.yaml"
    options = (
        "--name lab --os debian:12 --control-plane 10.1.0.10/24 --control-plane 10.1.0.11/24"
        " --control-plane 10.1.0.12/24 --worker 10.1.0.20/24 --gateway 10.1.0.1"
        " --endpoint 10.1.0.5:6443"
    )
    result = runner.invoke(cli, ["init", "-o", str(target), *options.split()])
    assert result.exit_code == 0, result.stderr
    text = target.read_text()
    assert text.count("# ") > 10  # commented for a person
    assert runner.invoke(cli, ["validate", str(target)]).exit_code == 0
    data = yaml.safe_load(text)
    assert [n["role"] for n in data["spec"]["nodes"]] == ["control-plane"] * 3 + ["worker"]
    again = runner.invoke(cli, ["init", "-o", str(target)])
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_init_defaults_to_stdout_and_refuses_bad_options(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["init"])
    assert result.exit_code == 0 and result.stdout.startswith("# k8sgen cluster spec")
    two = ["--control-plane", "1.2.3.4/24", "--control-plane", "1.2.3.5/24"]
    bad = runner.invoke(cli, ["init", *two])
    assert bad.exit_code == 1
    assert "endpoint is required with 2 control planes" in bad.stderr
    hostile = runner.invoke(cli, ["init", "--name", 'x"; rm -rf /'])
    assert hostile.exit_code == 1 and "metadata.name" in hostile.stderr
