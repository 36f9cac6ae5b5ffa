"""The dnf path (rocky, almalinux, openeuler): repositories for cloud-init's `yum_repos`
module, packages pinned in rpm form, held with the versionlock plugin."""

from __future__ import annotations

from typing import Any

from generator.model import Cluster
from generator.render.repos import DnfRepository

# Our own repository ids (and so file names): cloud-init's yum_repos skips a repository
# whose file already exists, and images often carry an old "kubernetes.repo".
KUBERNETES_REPO = "k8sgen-kubernetes"
CONTAINERD_REPO = "k8sgen-docker-ce"
# Excluded in the repository as pkgs.k8s.io advises, so `dnf upgrade` never moves them;
# installed with --disableexcludes.
KUBERNETES_EXCLUDES = ("kubelet", "kubeadm", "kubectl", "cri-tools", "kubernetes-cni")
PINNED = ("kubelet", "kubeadm", "kubectl")
HELD = (*KUBERNETES_EXCLUDES, "containerd.io")


def kubernetes_repo_url(cluster: Cluster) -> str:
    return cluster.mirrors.package_repo(cluster.kubernetes, "rpm")


def containerd_tree(cluster: Cluster) -> str:
    """<mirror>/linux/rhel/8: the docker-ce tree of this OS release."""
    return f"{cluster.mirrors.containerd.rstrip('/')}/linux/{cluster.os.docker_ce_tree}"


def dnf_repositories(cluster: Cluster) -> tuple[DnfRepository, DnfRepository]:
    """The Kubernetes repository of CLUSTER's mirror, and docker-ce's for containerd.io."""
    kubernetes = kubernetes_repo_url(cluster)
    docker = containerd_tree(cluster)
    return (
        DnfRepository(
            KUBERNETES_REPO,
            f"Kubernetes v{cluster.kubernetes.name} (k8sgen)",
            kubernetes,
            f"{kubernetes}repodata/repomd.xml.key",
            exclude=KUBERNETES_EXCLUDES,
        ),
        DnfRepository(
            CONTAINERD_REPO,
            "docker-ce stable, for containerd.io (k8sgen)",
            # Architecture spelled out, not $basearch: the node checks `uname -m` against it.
            f"{docker}/{cluster.arch.rpm}/stable",
            f"{docker.rsplit('/', 1)[0]}/gpg",
            # As kubespray sets for docker-ce on EL8: modular filtering must not hide it.
            module_hotfixes=True,
        ),
    )


def yum_repos(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """cloud-init `yum_repos`: written to /etc/yum.repos.d before the bootstrap runs; with
    spec.proxy, dnf's own setting (the OS's repositories use the bootstrap's environment)."""
    proxy = cluster.proxy
    return {
        repo.id: repo.yum_repo(proxy.for_url(repo.baseurl) if proxy else None)
        for repo in dnf_repositories(cluster)
    }


def dnf_settings(cluster: Cluster) -> dict[str, Any]:
    """What install-rpm.sh.j2 needs: repository files to expect, packages, what to hold."""
    return {
        "kubernetes_repo": KUBERNETES_REPO,
        "repo_files": tuple(repo.file for repo in dnf_repositories(cluster)),
        "packages": (
            "containerd.io",
            *(f"{name}-{cluster.version}" for name in PINNED),
            *(() if cluster.offline.enabled else cluster.os.extra_packages),
        ),
        "versionlock": cluster.os.traits.versionlock,
        "image_packages": image_packages(cluster),
        "held": HELD,
        "repo_options": repo_options(cluster),
    }


def image_packages(cluster: Cluster) -> tuple[str, ...]:
    """Offline: what the node needs from the OS's repositories, which dnf does not see then;
    the image must carry it (rpm -q --whatprovides names a package or a capability)."""
    if not cluster.offline.enabled:
        return ()
    return (cluster.os.traits.versionlock, *cluster.os.extra_packages)


def repo_options(cluster: Cluster) -> tuple[str, ...]:
    """Offline: dnf refreshes and installs from k8sgen's repositories only; the image's own
    (an unreachable OS mirror) would fail makecache, whatever is already installed."""
    if not cluster.offline.enabled:
        return ()
    return ("--disablerepo=*", f"--enablerepo={KUBERNETES_REPO},{CONTAINERD_REPO}")
