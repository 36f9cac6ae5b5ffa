"""The real tools a bundle is made with (apt-get, dpkg-deb, skopeo): found, run, explained."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from generator.errors import K8sgenError

# What to install when a tool is missing (Debian and Ubuntu package names).
PACKAGES = {"apt-get": "apt", "apt-cache": "apt", "dpkg-deb": "dpkg", "skopeo": "skopeo"}


class BundleError(K8sgenError):
    """Making the bundle failed; nothing was left in the output folder."""


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise BundleError(
            f"{tool} is not installed: k8sgen bundle needs it "
            f"(Debian/Ubuntu package {PACKAGES.get(tool, tool)})"
        )
    return path


def run(
    argv: Sequence[str],
    what: str,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: int = 3600,
) -> str:
    """Run a tool; on failure raise BundleError with WHAT and the tool's own last words."""
    try:
        result = subprocess.run(
            list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise BundleError(f"{what}: {argv[0]} did not finish in {timeout}s") from exc
    except OSError as exc:
        raise BundleError(f"{what}: cannot run {argv[0]}: {exc.strerror or exc}") from exc
    if result.returncode != 0:
        raise BundleError(f"{what} failed:\n{explain(result.stdout + result.stderr)}")
    return result.stdout


def explain(output: str, keep: int = 12) -> str:
    """A tool's error lines (apt's E:, skopeo's fatal), else its last lines, indented."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("E:", "Err:")) or "level=fatal" in line]
    chosen = errors or lines
    return "\n".join(f"  {line}" for line in chosen[-keep:])
