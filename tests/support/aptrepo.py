"""Small signed apt repositories built by the tests: packages made with dpkg-deb, indexes
with apt-ftparchive, signatures with gpg (a throwaway key in a temporary GNUPGHOME)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .tools import need


@dataclass(frozen=True)
class Deb:
    name: str
    version: str
    depends: str = ""
    files: dict[str, str] = field(default_factory=dict)  # path -> text (executable if #!)
    architecture: str = "amd64"

    @property
    def filename(self) -> str:
        return f"{self.name}_{self.version}_{self.architecture}.deb"


def build_deb(deb: Deb, folder: Path) -> Path:
    root = folder / f"{deb.name}-{deb.version}"
    (root / "DEBIAN").mkdir(parents=True)
    control = [
        f"Package: {deb.name}",
        f"Version: {deb.version}",
        f"Architecture: {deb.architecture}",
        "Maintainer: k8sgen tests <tests@example.invalid>",
        f"Description: {deb.name} built by the k8sgen tests",
    ]
    if deb.depends:
        control.append(f"Depends: {deb.depends}")
    (root / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
    for path, text in deb.files.items():
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(0o755 if text.startswith("#!") else 0o644)
    output = folder / deb.filename
    subprocess.run(
        [need("dpkg-deb"), "--root-owner-group", "-Zgzip", "--build", str(root), str(output)],
        check=True,
        capture_output=True,
    )
    return output


class Signer:
    """A throwaway OpenPGP key; repositories are signed as apt expects (InRelease)."""

    def __init__(self, home: Path) -> None:
        self.env = {**os.environ, "GNUPGHOME": str(home)}
        home.mkdir(mode=0o700, parents=True)
        self._gpg(
            "--quick-gen-key", "k8sgen tests <tests@example.invalid>", "ed25519", "sign", "never"
        )
        self.public_key = self._gpg("--armor", "--export")

    def _gpg(self, *args: str) -> bytes:
        argv = [
            need("gpg"),
            "--batch",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]
        return subprocess.run([*argv, *args], env=self.env, check=True, capture_output=True).stdout

    def sign(self, release: Path) -> None:
        self._gpg("--yes", "--clearsign", "-o", str(release.parent / "InRelease"), str(release))
        self._gpg("--yes", "--armor", "--detach-sign", "-o", str(release) + ".gpg", str(release))

    def stop(self) -> None:
        subprocess.run([need("gpgconf"), "--kill", "all"], env=self.env, capture_output=True)


@contextmanager
def signer(home: Path) -> Iterator[Signer]:
    key = Signer(home)
    try:
        yield key
    finally:
        key.stop()


def ftparchive(*args: str, cwd: Path) -> bytes:
    return subprocess.run(
        [need("apt-ftparchive"), *args], cwd=cwd, check=True, capture_output=True
    ).stdout


def flat_repository(folder: Path, debs: list[Path], key: Signer) -> None:
    """pkgs.k8s.io's layout: `deb URL /` with Packages, InRelease and Release.key in FOLDER."""
    folder.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        (folder / deb.name).write_bytes(deb.read_bytes())
    (folder / "Packages").write_bytes(ftparchive("packages", ".", cwd=folder))
    (folder / "Release").write_bytes(ftparchive("release", ".", cwd=folder))
    key.sign(folder / "Release")
    (folder / "Release.key").write_bytes(key.public_key)


def dists_repository(
    base: Path, codename: str, component: str, debs: list[Path], key: Signer
) -> None:
    """download.docker.com's layout: `deb URL CODENAME COMPONENT`, key at BASE/gpg."""
    pool = base / "pool"
    pool.mkdir(parents=True, exist_ok=True)
    for deb in debs:
        (pool / deb.name).write_bytes(deb.read_bytes())
    binary = base / "dists" / codename / component / "binary-amd64"
    binary.mkdir(parents=True)
    (binary / "Packages").write_bytes(ftparchive("packages", "pool", cwd=base))
    options = [
        "-o",
        f"APT::FTPArchive::Release::Codename={codename}",
        "-o",
        f"APT::FTPArchive::Release::Suite={codename}",
        "-o",
        f"APT::FTPArchive::Release::Components={component}",
        "-o",
        "APT::FTPArchive::Release::Architectures=amd64",
    ]
    dist = base / "dists" / codename
    (dist / "Release").write_bytes(ftparchive(*options, "release", ".", cwd=dist))
    key.sign(dist / "Release")
    (base / "gpg").write_bytes(key.public_key)
