"""The rendered calico_download run alone in bash, with real curl and sha256sum."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .nodedata import shell_function


def run_calico_download(
    script: str, config_dir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """calico_download of SCRIPT (a node's bootstrap) with the functions it calls; log lines go
    to stderr. ENV is added to a PATH-only environment."""
    program = "\n".join(
        [
            'log() { printf "%s\\n" "$*" >&2; }',
            shell_function(script, "redact"),
            shell_function(script, "one_line"),
            shell_function(script, "calico_download"),
            "calico_download",
        ]
    )
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", program],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "CONFIG_DIR": str(config_dir), **(env or {})},
        timeout=120,
    )
