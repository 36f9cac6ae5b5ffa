"""How skopeo reaches the registries a bundle copies from: spec.registries' CA, login and
skipVerify (as the nodes' containerd does), and --insecure-registry.

The login goes to skopeo in an auth file (0600, in the bundle's private work folder), never
on its command line, which every user of the machine can read.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from generator.model import Cluster
from generator.registries import CA_FILE, Credential


@dataclass(frozen=True)
class PullAccess:
    insecure: frozenset[str] = frozenset()  # registry hosts: no TLS verification
    cert_dirs: dict[str, Path] = field(default_factory=dict)  # host -> folder with ca.crt
    auth_file: Path | None = None  # containers-auth.json with the logins

    def options(self, registry: str) -> list[str]:
        """skopeo copy's source options for REGISTRY (host[:port])."""
        argv = []
        if registry in self.insecure:
            argv.append("--src-tls-verify=false")
        if registry in self.cert_dirs:
            argv.append(f"--src-cert-dir={self.cert_dirs[registry]}")
        if self.auth_file is not None:
            argv.append(f"--src-authfile={self.auth_file}")
        return argv


def pull_access(
    cluster: Cluster, work: Path, insecure: Collection[str], logins: dict[str, Credential]
) -> PullAccess:
    """WORK: a private folder of this run, removed after it."""
    skip = {r.host for r in cluster.registries if r.skip_verify}
    cert_dirs = {}
    for registry in cluster.registries:
        if registry.ca is not None:
            folder = work / "certs" / registry.host
            folder.mkdir(parents=True)
            (folder / CA_FILE).write_text(registry.ca)
            cert_dirs[registry.host] = folder
    return PullAccess(frozenset({*insecure, *skip}), cert_dirs, _auth_file(work, logins))


def _auth_file(work: Path, logins: dict[str, Credential]) -> Path | None:
    if not logins:
        return None
    auths = {
        host: {"auth": base64.b64encode(f"{c.username}:{c.password}".encode()).decode()}
        for host, c in logins.items()
    }
    path = work / "auth.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"auths": auths}, handle)
    return path
