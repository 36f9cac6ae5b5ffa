"""The package repositories a node installs from, as data: the apt sources of the Debian
family and the dnf repositories of the RHEL family.

cloud-init's files, the install phase, the Packer bake and `k8sgen bundle` (which downloads
from the same apt repositories) read these; each spells them in its own format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from generator.model import Cluster

KEYRINGS = "/etc/apt/keyrings"  # where the nodes keep the repositories' keys
SOURCES = "/etc/apt/sources.list.d"
REPO_DIR = "/etc/yum.repos.d"


@dataclass(frozen=True)
class AptRepository:
    name: str  # its sources list is NAME.list
    key_name: str  # its key is KEYRINGS/KEY_NAME.asc
    url: str
    suite: str  # "/": a flat repository (pkgs.k8s.io), no components
    components: tuple[str, ...]
    key_url: str  # ASCII-armored OpenPGP key
    architecture: str  # Debian's name: amd64, arm64

    @property
    def list_file(self) -> str:
        return f"{self.name}.list"

    @property
    def keyring(self) -> str:
        return f"{KEYRINGS}/{self.key_name}.asc"

    @property
    def source_list(self) -> str:
        """Where the install phase puts the sources list on the node."""
        return f"{SOURCES}/{self.list_file}"

    def sources_line(self, keyring: str | None = None) -> str:
        """The one-line sources.list entry, signed by KEYRING (default: the node's)."""
        options = f"[arch={self.architecture} signed-by={keyring or self.keyring}]"
        return " ".join(["deb", options, self.url, self.suite, *self.components]) + "\n"


@dataclass(frozen=True)
class AptSettings:
    kubernetes: AptRepository
    containerd: AptRepository  # docker-ce's repository, for containerd.io
    version_pin: str  # kubelet=PIN: the spec's Kubernetes version, any Debian revision

    @property
    def repositories(self) -> tuple[AptRepository, AptRepository]:
        return (self.kubernetes, self.containerd)


def apt_settings(cluster: Cluster) -> AptSettings:
    """The apt repositories of CLUSTER's mirrors, and the version pin."""
    repo = cluster.mirrors.package_repo(cluster.kubernetes, "deb")
    docker = f"{cluster.mirrors.containerd.rstrip('/')}/linux/{cluster.os.family}"
    arch = cluster.arch.deb
    return AptSettings(
        kubernetes=AptRepository(
            "kubernetes", "kubernetes", repo, "/", (), f"{repo}Release.key", arch
        ),
        containerd=AptRepository(
            "containerd", "docker", docker, cluster.os.codename, ("stable",), f"{docker}/gpg", arch
        ),
        version_pin=f"{cluster.version}-*",
    )


@dataclass(frozen=True)
class DnfRepository:
    id: str  # its file is REPO_DIR/ID.repo
    name: str
    baseurl: str
    gpgkey: str
    exclude: tuple[str, ...] = ()  # never upgraded from here; installed with --disableexcludes
    module_hotfixes: bool = False

    @property
    def file(self) -> str:
        return f"{REPO_DIR}/{self.id}.repo"

    def yum_repo(self, proxy: str | None = None) -> dict[str, Any]:
        """The repository as cloud-init's `yum_repos` takes it (and writes it to FILE), through
        PROXY when one is given."""
        config: dict[str, Any] = {
            "name": self.name,
            "baseurl": self.baseurl,
            "enabled": True,
            "gpgcheck": True,
            "gpgkey": self.gpgkey,
        }
        if self.exclude:
            config["exclude"] = " ".join(self.exclude)
        # A dead mirror must fail the install, not be skipped quietly.
        config["skip_if_unavailable"] = False
        if self.module_hotfixes:
            config["module_hotfixes"] = True
        if proxy:
            config["proxy"] = proxy
        return config
