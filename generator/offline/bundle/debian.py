"""Kubernetes and containerd packages for the nodes' OS, downloaded with apt-get.

apt runs in a private root: its own sources (the spec's two repositories, each with the
key the nodes would fetch), lists, cache and an empty dpkg status, and none of this
machine's apt configuration (proxies in the environment still apply). apt checks each
repository's signature and every file it downloads against the Packages index (size and
SHA256); a mismatch is refused with apt's own message.
"""

from __future__ import annotations

import os
import re
import subprocess
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from generator.model import Cluster
from generator.offline.bundle.tools import BundleError, require, run
from generator.render.repos import AptSettings, apt_settings

KEY_BYTES = 1024 * 1024
# The packages the nodes install; their dependencies found in the same repositories follow.
WANTED = ("kubelet", "kubeadm", "kubectl")
CONTAINERD = "containerd.io"
_ALTERNATIVE = re.compile(
    r"^\s*([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9]+)?\s*(?:\(\s*([<>=]+)\s*([^)\s]+)\s*\))?"
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Requirement:
    name: str
    relation: str | None = None  # >=, <<, =, ...
    version: str | None = None

    def __str__(self) -> str:
        return f"{self.name} ({self.relation} {self.version})" if self.relation else self.name


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    architecture: str
    file: str  # name of the .deb in the bundle's packages/ folder
    depends: tuple[tuple[Requirement, ...], ...]  # groups of alternatives


@dataclass(frozen=True)
class PackageSet:
    packages: tuple[Package, ...]
    # Dependencies no bundled package provides: the node's OS must have them already.
    os_dependencies: tuple[str, ...]  # "conntrack", "iptables | nftables", ...


def download_packages(
    cluster: Cluster, target: Path, work: Path, architecture: str, progress: Progress
) -> PackageSet:
    """Download the packages into TARGET (WORK holds apt's private root)."""
    require("apt-get")
    require("dpkg-deb")
    settings = apt_settings(cluster)
    env = _apt_root(settings, work, architecture)
    repositories = " and ".join(repo.url for repo in settings.repositories)
    progress(f"packages: reading {repositories}")
    run(["apt-get", "update"], "apt-get update of the spec's package repositories", env=env)
    available = set(run(["apt-cache", "pkgnames"], "apt-cache pkgnames", env=env).split())
    pin = settings.version_pin
    wanted = [f"{name}={pin}" for name in WANTED] + [CONTAINERD]
    packages: dict[str, Package] = {}
    os_dependencies: set[str] = set()
    while wanted:
        progress(f"packages: downloading {' '.join(wanted)}")
        before = set(os.listdir(target))
        what = f"downloading {' '.join(wanted)} from {repositories}"
        run(["apt-get", "download", *wanted], what, cwd=target, env=env)
        new = [read_package(target / f) for f in sorted(set(os.listdir(target)) - before)]
        packages.update((p.name, p) for p in new)
        # Only what no downloaded package is yet: a pinned kubelet must not be fetched again.
        wanted = _dependencies(new, packages, available, os_dependencies)
    result = tuple(sorted(packages.values(), key=lambda p: p.name))
    _check(result, architecture, cluster.version)
    return PackageSet(result, tuple(sorted(os_dependencies)))


def _dependencies(
    new: list[Package], have: dict[str, Package], available: set[str], os_dependencies: set[str]
) -> list[str]:
    """Dependencies of NEW the repositories provide and HAVE lacks; the rest go to the OS."""
    wanted: list[str] = []
    for package in new:
        for group in package.depends:
            in_repo = [r for r in group if r.name in available]
            if not in_repo:
                os_dependencies.add(" | ".join(r.name for r in group))
            elif not any(r.name in have or r.name in wanted for r in in_repo):
                wanted.append(in_repo[0].name)
    return wanted


def _apt_root(settings: AptSettings, work: Path, architecture: str) -> dict[str, str]:
    """A private apt root with the spec's repositories, each signed by the key the nodes would
    fetch; returns the environment for apt."""
    root = work / "apt"
    for folder in (
        "etc/apt/apt.conf.d",
        "etc/apt/preferences.d",
        "etc/apt/trusted.gpg.d",
        "etc/apt/sources.list.d",
        "var/lib/apt/lists/partial",
        "var/cache/apt/archives/partial",
        "keys",
    ):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "status").write_text("")
    sources = ""
    for repo in settings.repositories:
        key = root / "keys" / Path(repo.keyring).name
        _fetch_key(repo.key_url, key)
        sources += repo.sources_line(keyring=str(key))
    (root / "etc/apt/sources.list").write_text(sources)
    config = root / "apt.conf"
    config.write_text(
        f'Dir "{root}/";\n'
        f'Dir::State::status "{root}/status";\n'
        f'APT::Architecture "{architecture}";\n'
        f'APT::Architectures {{ "{architecture}"; }};\n'
        'Acquire::Languages "none";\n'
        'Acquire::Retries "3";\n'
        'APT::Update::Error-Mode "any";\n'
        'APT::Sandbox::User "root";\n'
        'Debug::NoLocking "true";\n'
    )
    # APT_CONFIG is read before apt.conf.d: with Dir set there, this machine's parts are not.
    return {**os.environ, "APT_CONFIG": str(config), "LC_ALL": "C"}


def _fetch_key(url: str, target: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read(KEY_BYTES + 1)
    except OSError as exc:
        raise BundleError(f"cannot download the repository key {url}: {exc}") from exc
    if len(data) > KEY_BYTES or b"BEGIN PGP PUBLIC KEY BLOCK" not in data:
        raise BundleError(f"{url} is not an ASCII-armored OpenPGP key")
    target.write_bytes(data)


def read_package(path: Path) -> Package:
    fields = parse_control(run(["dpkg-deb", "--field", str(path)], f"reading {path.name}"))
    depends = ", ".join(v for v in (fields.get("Pre-Depends"), fields.get("Depends")) if v)
    return Package(
        name=fields["Package"],
        version=fields["Version"],
        architecture=fields.get("Architecture", ""),
        file=path.name,
        depends=parse_depends(depends),
    )


def parse_control(text: str) -> dict[str, str]:
    """deb822 fields of one control paragraph; continuation lines are joined."""
    fields: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and last:
            fields[last] += "\n" + line.strip()
        elif ":" in line:
            last, _, value = line.partition(":")
            fields[last] = value.strip()
    return fields


def parse_depends(text: str) -> tuple[tuple[Requirement, ...], ...]:
    groups = []
    for group in text.split(","):
        alternatives = []
        for alternative in group.split("|"):
            match = _ALTERNATIVE.match(alternative)
            if match:
                alternatives.append(Requirement(match[1], match[2], match[3]))
        if alternatives:
            groups.append(tuple(alternatives))
    return tuple(groups)


def _check(packages: tuple[Package, ...], architecture: str, version: str) -> None:
    """Every package for the nodes' architecture; bundled dependencies' versions satisfied."""
    by_name = {p.name: p for p in packages}
    for package in packages:
        if package.architecture not in (architecture, "all"):
            raise BundleError(
                f"{package.file}: architecture {package.architecture}, not {architecture}"
            )
        for group in package.depends:
            bundled = [r for r in group if r.name in by_name]
            if bundled and not any(_satisfied(by_name[r.name].version, r) for r in bundled):
                have = ", ".join(f"{r.name} {by_name[r.name].version}" for r in bundled)
                raise BundleError(
                    f"{package.name} {package.version} needs "
                    f"{' | '.join(map(str, group))}, but the repository gave {have}"
                )
    for name in WANTED:
        if not by_name[name].version.startswith(f"{version}-"):
            raise BundleError(f"{name} {by_name[name].version} is not Kubernetes {version}")


def _satisfied(version: str, requirement: Requirement) -> bool:
    if requirement.relation is None or requirement.version is None:
        return True
    relations = {">=": "ge", "<=": "le", ">>": "gt", "<<": "lt", "=": "eq", ">": "gt", "<": "lt"}
    argv = ["dpkg", "--compare-versions", version, relations[requirement.relation]]
    return subprocess.run([*argv, requirement.version], capture_output=True).returncode == 0
