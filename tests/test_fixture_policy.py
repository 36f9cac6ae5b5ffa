"""Third-party fixtures: a fresh clone without them skips their tests; CI=true fails them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .support.repo import REPO

TEST = "tests/test_calico.py::test_known_hashes_are_those_of_the_real_release_manifests"


def run_without_fixtures(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(K8SGEN_FIXTURES=str(tmp_path / "nowhere"), **environment)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )


def test_missing_fixtures_are_skipped_with_one_line_naming_them(tmp_path: Path) -> None:
    result = run_without_fixtures(tmp_path)
    assert result.returncode == 0, result.stdout
    missing = tmp_path / "nowhere" / "calico" / "calico-v3.30.7.yaml"
    assert "SKIPPED [1] tests/support/repo.py" in result.stdout
    assert f"missing fixture {missing} (put shared/fixtures beside the clone" in result.stdout


def test_missing_fixtures_fail_under_ci(tmp_path: Path) -> None:
    result = run_without_fixtures(tmp_path, CI="true")
    assert result.returncode == 1, result.stdout
    assert "4 failed" in result.stdout and "missing fixture" in result.stdout
