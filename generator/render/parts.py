"""The parts that first boot and the Packer bake share: the configuration files of the prepare,
install and runtime phases, and what the phase partials of their scripts read.

Each takes only what it uses (the cluster, a firewalld plan, what to pull), never a node or a
plan: the bake has neither.
"""

from __future__ import annotations

import base64
import gzip
from dataclasses import dataclass
from importlib import resources
from typing import Any

from generator.layout import (
    APT_LISTS,
    CALICO_PATCH_SCRIPT,
    CERTS_DIR,
    CONTAINERD_CONFIGS,
    CRICTL_CONFIG,
    MODULES_FILE,
    SYSCTL_FILE,
)
from generator.model import Cluster
from generator.nodeconfig import DEFAULT_FILE_PERMISSIONS
from generator.registries import Credential
from generator.render import kubeadm, rpm
from generator.render.firewall import FirewalldPlan
from generator.render.library import library
from generator.render.proxy import proxy_files
from generator.render.registry_hosts import PRIVATE, registry_files
from generator.render.repos import apt_settings
from generator.render.strip import strip_python_comments
from generator.render.templating import render_template
from generator.render.variables import Variables, assignments
from generator.render.yamlio import dump

PEM_START = "-----BEGIN "
KERNEL_MODULES = ("overlay", "br_netfilter")
# kube-proxy's ipvs mode (spec.kubeadm.kubeProxy.mode) needs these; it cannot load them itself.
IPVS_MODULES = ("ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack")
SYSCTLS = (
    ("net.bridge.bridge-nf-call-iptables", "1"),
    ("net.bridge.bridge-nf-call-ip6tables", "1"),
    ("net.ipv4.ip_forward", "1"),
)
# With an IPv6 network, kubeadm's preflight requires IPv6 forwarding (it reads
# net.ipv6.conf.default.forwarding); writing `all` also sets every NIC's.
IPV6_SYSCTLS = (
    ("net.ipv6.conf.all.forwarding", "1"),
    ("net.ipv6.conf.default.forwarding", "1"),
)


@dataclass(frozen=True)
class Pulls:
    """What the prepull phase pulls (and, with a bundle, the import phase expects): kubeadm's
    list for the node's own config (the init node) or for the version and image repository
    (control planes to come, the bake), and IMAGES with crictl beyond it."""

    images: tuple[str, ...]
    kubeadm_config: bool = False
    kubeadm_version: bool = False


def write_file(
    path: str, content: str, permissions: str = DEFAULT_FILE_PERMISSIONS
) -> dict[str, Any]:
    """A write_files entry. cloud-init's defaults (owner root:root, permissions 0644) are left
    out: spelled out, they cost every node ~40 bytes of user-data per file."""
    entry = {"path": path, "content": content}
    if permissions != DEFAULT_FILE_PERMISSIONS:
        entry["permissions"] = permissions
    return entry


def packed_file(
    path: str, content: str, permissions: str = DEFAULT_FILE_PERMISSIONS
) -> dict[str, Any]:
    """A write_files entry that travels gzip-compressed and base64-encoded (cloud-init's
    `encoding: gz+b64`): about half the bytes of the plain text, for a script."""
    return packed(write_file(path, content, permissions))


def packed(entry: dict[str, Any]) -> dict[str, Any]:
    """ENTRY (plain text) with its content gzip-compressed and base64-encoded."""
    content = base64.b64encode(gzip.compress(entry["content"].encode(), mtime=0)).decode()
    return {**entry, "content": content, "encoding": "gz+b64"}


def smallest(entry: dict[str, Any]) -> dict[str, Any]:
    """ENTRY as it costs user-data the fewest bytes: plain, or packed when that is smaller
    (a configuration file of repeated TOML table names, a long unit). PEM and every private
    file (0600: it carries a key, a token or a login) stay plain: their random bytes would
    decide the choice near a tie, so two clusters of one spec would ship different forms."""
    if "encoding" in entry or entry["content"].startswith(PEM_START):
        return entry
    if entry.get("permissions") == PRIVATE:
        return entry
    compressed = packed(entry)
    return compressed if len(dump([compressed])) < len(dump([entry])) else entry


def kernel_modules(cluster: Cluster) -> tuple[str, ...]:
    """Loaded by the prepare phase now, and by systemd-modules-load on every later boot."""
    ipvs = cluster.kubeadm_settings.kube_proxy.get("mode") == "ipvs"
    return (*KERNEL_MODULES, *(IPVS_MODULES if ipvs else ()))


def system_files(cluster: Cluster) -> list[dict[str, Any]]:
    """The kernel modules and sysctls of the prepare phase; spec.proxy's files."""
    return [
        write_file(MODULES_FILE, "".join(f"{m}\n" for m in kernel_modules(cluster))),
        write_file(SYSCTL_FILE, "".join(f"{k} = {v}\n" for k, v in sysctls(cluster))),
        *(write_file(path, text) for path, text in proxy_files(cluster).items()),
    ]


def sysctls(cluster: Cluster) -> tuple[tuple[str, str], ...]:
    return SYSCTLS + (IPV6_SYSCTLS if 6 in cluster.ip_families else ())


def package_files(cluster: Cluster) -> list[dict[str, Any]]:
    """apt's sources lists, which the install phase copies into place."""
    if cluster.os.package_format != "deb":
        return []  # dnf: cloud-init's yum_repos writes the repositories
    if cluster.offline.bundle:
        return []  # packages come from the bundle ISO
    return [
        write_file(f"{APT_LISTS}/{repo.list_file}", repo.sources_line())
        for repo in apt_settings(cluster).repositories
    ]


def runtime_files(
    cluster: Cluster, logins: dict[str, Credential] | None = None
) -> list[dict[str, Any]]:
    """LOGINS: the private registries' credentials; a baked image gets none."""
    context = {"pause_image": cluster.pause_image, "certs_dir": CERTS_DIR}
    files = [
        write_file(
            f"{CONTAINERD_CONFIGS}/config-v{v}.toml",
            render_template(f"containerd-config-v{v}.toml.j2", **context),
        )
        for v in (2, 3)
    ]
    hosts = registry_files(cluster, logins or {})
    files += [write_file(f.path, f.content, f.permissions) for f in hosts]
    crictl = {
        "runtime-endpoint": kubeadm.CRI_SOCKET,
        "image-endpoint": kubeadm.CRI_SOCKET,
        "timeout": 30,
    }
    files.append(write_file(CRICTL_CONFIG, dump(crictl)))
    return files


def calico_patcher(cluster: Cluster) -> list[dict[str, Any]]:
    """The node-side Calico patch, where the init node downloads the manifest."""
    if not cluster.calico.manifest_urls:
        return []
    source = resources.files("generator").joinpath("calico_patch.py").read_text("utf-8")
    return [write_file(CALICO_PATCH_SCRIPT, strip_python_comments(source), "0755")]


def script_context(
    cluster: Cluster,
    variables: Variables,
    library_files: tuple[str, ...],
    firewalld: FirewalldPlan,
    pulls: Pulls,
) -> dict[str, Any]:
    """What the prologue, the library and the phase partials shared by first boot and the
    image bake read."""
    return {
        "cluster": cluster,
        "variables": assignments(variables),
        "library": library(library_files),
        "firewalld": firewalld,
        "pulls": pulls,
        "apt": apt_settings(cluster),
        "dnf": rpm.dnf_settings(cluster),
        "kernel_modules": kernel_modules(cluster),
    }
