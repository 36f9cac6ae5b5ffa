"""Every image a cluster pulls: as its nodes name it, where it is published, where it comes from.

Tags come from generator/versions.py (kubeadm's own, per patch); references follow kubeadm's
rules (with a custom imageRepository CoreDNS is `<repo>/coredns:<tag>`, with registry.k8s.io it
is `registry.k8s.io/coredns/coredns:<tag>`).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

from generator import versions
from generator.model import Cluster
from generator.refs import parse_image

UPSTREAM_REGISTRY = "registry.k8s.io"  # kubeadm's default imageRepository
CONTROL_PLANE_IMAGES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")
KUBEADM = "kubeadm"
CALICO = "calico"
KUBE_VIP = "kube-vip"
FORMATS = ("list", "skopeo-sync", "json")


@dataclass(frozen=True)
class Image:
    component: str  # kube-apiserver, coredns, calico/node, ...
    group: str  # kubeadm or calico
    reference: str  # exactly as the nodes' configuration names it
    upstream: str  # where the project publishes it
    pull_from: tuple[str, ...]  # registry hosts containerd contacts, in order
    mirror: str | None  # where a sync copies the upstream image so that nodes find it


def cluster_images(cluster: Cluster) -> list[Image]:
    """kubeadm's images in `kubeadm config images list` order, Calico's, then kube-vip."""
    result = [_image(cluster, c, KUBEADM, ref, up) for c, ref, up in kubeadm_references(cluster)]
    result += [_image(cluster, c, CALICO, ref, up) for c, ref, up in calico_references(cluster)]
    if cluster.vip is not None:
        tag = parse_image(cluster.vip.image).tag or versions.KUBE_VIP_VERSION
        upstream = f"{versions.KUBE_VIP_REPOSITORY}:{tag}"
        result.append(_image(cluster, KUBE_VIP, KUBE_VIP, cluster.vip.image, upstream))
    return result


def calico_references(cluster: Cluster) -> list[tuple[str, str, str]]:
    calico = cluster.calico
    upstream = calico.release.images(calico.version)
    return [
        (f"calico/{parse_image(up).path.rsplit('/', 1)[1]}", reference, up)
        for reference, up in zip(calico.images, upstream, strict=True)
    ]


def kubeadm_references(cluster: Cluster) -> list[tuple[str, str, str]]:
    """(component, reference with the cluster's imageRepository, upstream reference)."""
    own = cluster.image_tags
    tags = [(name, f"v{cluster.version}") for name in CONTROL_PLANE_IMAGES]
    tags += [("coredns", own.coredns), ("pause", own.pause), ("etcd", own.etcd)]
    result = []
    for name, tag in tags:
        if name == "coredns":
            repository = coredns_repository(cluster.mirrors.images)
            upstream = f"{UPSTREAM_REGISTRY}/coredns/coredns:{tag}"
        else:
            repository = f"{cluster.mirrors.images}/{name}"
            upstream = f"{UPSTREAM_REGISTRY}/{name}:{tag}"
        result.append((name, f"{repository}:{tag}", upstream))
    return result


def kubeadm_image(cluster: Cluster, reference: str) -> Image:
    """An image `kubeadm config images list` names (it may differ from k8sgen's table)."""
    ref = parse_image(reference)
    component = ref.path.rsplit("/", 1)[-1]
    upstream_path = "coredns/coredns" if component == "coredns" else component
    return _image(
        cluster, component, KUBEADM, reference, f"{UPSTREAM_REGISTRY}/{upstream_path}:{ref.tag}"
    )


def coredns_repository(image_repository: str) -> str:
    # kubeadm keeps the upstream rename (coredns/coredns) only for its default repository.
    if image_repository == UPSTREAM_REGISTRY:
        return f"{UPSTREAM_REGISTRY}/coredns/coredns"
    return f"{image_repository}/coredns"


def _image(cluster: Cluster, component: str, group: str, reference: str, upstream: str) -> Image:
    ref = parse_image(reference)
    mirrors = dict(cluster.mirrors.registries).get(ref.registry, ())
    hosts = [urlsplit(m).netloc for m in mirrors]
    if not (mirrors and cluster.offline.enabled):
        hosts.append(ref.registry)  # containerd's fallback to the registry itself
    mirror: str | None = None
    if reference != upstream:
        mirror = reference
    elif mirrors and urlsplit(mirrors[0]).path.strip("/") == "":
        mirror = str(ref.moved(urlsplit(mirrors[0]).netloc))
    return Image(component, group, reference, upstream, tuple(dict.fromkeys(hosts)), mirror)


def render_images(cluster: Cluster, images: list[Image], fmt: str) -> str:
    if fmt == "json":
        return _as_json(cluster, images)
    if fmt == "skopeo-sync":
        return _as_sync_script(cluster, images)
    return _as_list(cluster, images)


def _as_list(cluster: Cluster, images: list[Image]) -> str:
    rows = [("IMAGE", "UPSTREAM", "PULLED FROM")]
    rows += [(i.reference, i.upstream, ", ".join(i.pull_from)) for i in images]
    widths = [max(len(row[c]) for row in rows) for c in range(2)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}" for r in rows]
    return "\n".join(lines) + "\n"


def _as_json(cluster: Cluster, images: list[Image]) -> str:
    data = {
        "cluster": cluster.name,
        "kubernetesVersion": cluster.version,
        "calicoVersion": cluster.calico.version,
        "images": [
            {
                "component": i.component,
                "group": i.group,
                "reference": i.reference,
                "upstream": i.upstream,
                "pullFrom": list(i.pull_from),
                "mirror": i.mirror,
            }
            for i in images
        ],
    }
    return json.dumps(data, indent=2) + "\n"


def _as_sync_script(cluster: Cluster, images: list[Image]) -> str:
    lines = [
        "#!/bin/sh",
        f"# Images of cluster {cluster.name} (Kubernetes {cluster.version}, Calico "
        f"{cluster.calico.version}),",
        "# copied from upstream to where its nodes pull them. Run on a connected host after",
        "# `skopeo login` to the mirror. --all keeps every platform, so the mirror serves the",
        "# upstream digests. Written by `k8sgen images --format skopeo-sync`.",
        "set -eu",
    ]
    for image in images:
        if image.mirror is None:
            lines.append(
                f"# {image.reference}: pulled from {image.pull_from[-1]} itself: nothing to copy"
            )
            continue
        source, target = (
            shlex.quote(f"docker://{image.upstream}"),
            shlex.quote(f"docker://{image.mirror}"),
        )
        lines.append(f"skopeo copy --all --retry-times 3 {source} {target}")
    return "\n".join(lines) + "\n"
