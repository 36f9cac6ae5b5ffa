"""User-data size budgets of the platforms that deliver it, and what to do when it is too big."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from generator.errors import K8sgenError
from generator.layout import (
    APT_LISTS,
    BOOTSTRAP_SCRIPT,
    CALICO_PATCH_SCRIPT,
    CALICO_PATCHED,
    CERTS_DIR,
    CONTAINERD_CONFIGS,
    CRICTL_CONFIG,
    HOSTS_BLOCK,
    KUBEADM_CONFIG,
    PKI_STASH,
)
from generator.model import Cluster, Node
from generator.render import UserDataSize
from generator.render.cloudinit import cloud_config
from generator.render.node import plan
from generator.secrets import ClusterSecrets

RAW = "raw"  # the limit counts the user-data bytes
BASE64 = "base64"  # the limit counts the base64 text the API receives


@dataclass(frozen=True)
class Platform:
    name: str
    title: str
    limit: int | None  # bytes; None: no practical limit
    counts: str  # RAW or BASE64
    source: str  # where the number comes from


# fmt: off
PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform("aws", "AWS EC2", 16384, RAW,
                 "EC2 user guide: 16 KB in raw form, before base64"),
        Platform("azure", "Azure", 65535, RAW,
                 "customData: at most 65,535 bytes after base64 decoding"),
        Platform("openstack", "OpenStack Nova", 65535, BASE64,
                 "Nova: user_data base64-encoded, restricted to 65,535 bytes"),
        Platform("gcp", "Google Compute Engine", 262144, RAW,
                 "metadata value limit 256 KB (gzip needs user-data-encoding: base64)"),
        Platform("nocloud", "NoCloud seed ISO", None, RAW,
                 "a file on the seed: no limit that matters"),
    )
}
# fmt: on
GCP_BASE64_WHEN_GZIP = "gcp"  # GCE metadata is text: gzip must travel base64-encoded


def delivered_size(size: int, platform: Platform, gzipped: bool) -> int:
    """What the platform counts for a payload of SIZE bytes."""
    if platform.counts == BASE64 or (gzipped and platform.name == GCP_BASE64_WHEN_GZIP):
        return 4 * ((size + 2) // 3)
    return size


def fits(size: UserDataSize, platform: Platform, gzipped: bool) -> bool:
    if platform.limit is None:
        return True
    payload = size.gzip if gzipped else size.raw
    return delivered_size(payload, platform, gzipped) <= platform.limit


def verdict(size: UserDataSize, platform: Platform) -> str:
    """'ok' as it is, 'gzip' only gzip-compressed, 'NO' not even then."""
    if fits(size, platform, gzipped=False):
        return "ok"
    return "gzip" if fits(size, platform, gzipped=True) else "NO"


def size_table(sizes: Sequence[UserDataSize]) -> list[str]:
    """The summary's per-node table: sizes and, per platform, whether user-data fits."""
    limited = [p for p in PLATFORMS.values() if p.limit is not None]
    width = max([len("node"), *(len(s.node) for s in sizes)])
    header = f"  {'node':<{width}} {'raw':>9} {'gzip':>9}" + "".join(
        f" {p.name:>9}" for p in limited
    )
    lines = [
        "user-data size in bytes; fits: ok = as is, gzip = with --gzip, NO = neither "
        "(use --iso, or see --platform)",
        header,
    ]
    for size in sizes:
        lines.append(
            f"  {size.node:<{width}} {size.raw:>9,} {size.gzip:>9,}"
            + "".join(f" {verdict(size, p):>9}" for p in limited)
        )
    return lines


class BudgetError(K8sgenError):
    """User-data does not fit the platform named with --platform."""


# Ways to make user-data smaller, by the parts they remove.
USE_URL, BAKE = "url", "bake"
REMEDIES = {
    USE_URL: "set cni.calico.manifest to the URL of calico.yaml on a mirror the nodes reach "
    "(the init node downloads it) instead of embedding a local file",
    BAKE: "bake the image (spec.bootstrap.baked: true, Packer template in OUT/<cluster>/packer/): "
    "user-data then leaves out the install, runtime and prepull steps and their configuration",
}
# (path or path prefix in write_files, what it is, the remedy that removes it)
PARTS: tuple[tuple[str, str, str | None], ...] = (
    (CALICO_PATCHED, "embedded Calico manifest", USE_URL),
    (PKI_STASH + "/", "CA material (kubeadm's shared certificates, control planes)", None),
    (HOSTS_BLOCK, "/etc/hosts block (the control planes and the node)", None),
    (BOOTSTRAP_SCRIPT, "bootstrap script", BAKE),
    (CONTAINERD_CONFIGS + "/", "containerd configuration", BAKE),
    (CERTS_DIR + "/", "registry mirror configuration", BAKE),
    (APT_LISTS + "/", "package repositories", BAKE),
    (CRICTL_CONFIG, "crictl configuration", BAKE),
    (CALICO_PATCH_SCRIPT, "Calico manifest patcher (init node)", None),
    (KUBEADM_CONFIG, "kubeadm configuration", None),
)
OTHER = "other files"


def large_parts(cluster: Cluster, node: Node, secrets: ClusterSecrets) -> list[tuple[str, int]]:
    """The write_files of a node's user-data grouped by PARTS, largest first (content bytes)."""
    totals: dict[str, int] = {}
    config = cloud_config(cluster, node, plan(cluster, node), secrets)
    for entry in config["write_files"]:
        label = next((p[1] for p in PARTS if entry["path"].startswith(p[0])), OTHER)
        totals[label] = totals.get(label, 0) + len(entry["content"].encode())
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def check(
    cluster: Cluster,
    secrets: ClusterSecrets,
    platform: Platform,
    gzipped: bool,
    sizes: Sequence[UserDataSize],
) -> None:
    """BudgetError when the user-data of a node (SIZES, measured by the preflight of
    app.render_cluster) does not fit PLATFORM."""
    over = [s for s in sizes if not fits(s, platform, gzipped)]
    if over:
        raise BudgetError(overflow_message(cluster, secrets, platform, gzipped, over))


def overflow_message(
    cluster: Cluster,
    secrets: ClusterSecrets,
    platform: Platform,
    gzipped: bool,
    over: Sequence[UserDataSize],
) -> str:
    assert platform.limit is not None
    form = "gzip-compressed" if gzipped else "raw"
    counted = " after base64" if delivered_size(1, platform, gzipped) != 1 else ""
    lines = [
        f"user-data of {len(over)} node(s) does not fit {platform.title} "
        f"({platform.limit:,} bytes{counted}; {platform.source}):"
    ]
    for size in over[:10]:
        payload = size.gzip if gzipped else size.raw
        lines.append(
            f"  {size.node}: {delivered_size(payload, platform, gzipped):,} bytes {form}{counted} "
            f"(raw {size.raw:,}, gzip {size.gzip:,})"
        )
    if len(over) > 10:
        lines.append(f"  ... and {len(over) - 10} more")
    largest = max(over, key=lambda s: s.raw)
    node = next(n for n in cluster.nodes if n.name == largest.node)
    parts = large_parts(cluster, node, secrets)
    lines.append(f"largest parts of {node.name}'s user-data:")
    lines += [f"  {label}: {size:,} bytes" for label, size in parts[:5]]
    lines.append("what to do:")
    lines += [f"  - {advice}" for advice in _advice(cluster, platform, gzipped, over, parts)]
    return "\n".join(lines)


def _advice(
    cluster: Cluster,
    platform: Platform,
    gzipped: bool,
    over: Sequence[UserDataSize],
    parts: Sequence[tuple[str, int]],
) -> list[str]:
    advice = []
    if not gzipped and all(fits(s, platform, gzipped=True) for s in over):
        advice.append("render with --gzip: every node then fits (cloud-init decompresses it)")
    sizes = dict(parts)
    for remedy, text in REMEDIES.items():
        if remedy == BAKE and cluster.baked:
            continue
        saved = sum(sizes.get(label, 0) for _, label, r in PARTS if r == remedy)
        if saved:
            advice.append(f"{text} (up to {saved:,} bytes less before compression)")
    advice.append(
        "deliver by seed ISO where the platform takes one (VMware, Proxmox, KVM): "
        "k8sgen render --iso, no size limit"
    )
    return advice
