"""What a baked image is baked for: recorded in the image, checked on first boot."""

from __future__ import annotations

import json

from generator import __version__
from generator.model import Cluster


def baked_images(cluster: Cluster) -> tuple[str, ...]:
    """Pulled at bake time beyond kubeadm's own list: kube-vip (with a VIP) and Calico."""
    return (*((cluster.vip.image,) if cluster.vip else ()), *cluster.calico.images)


def image_marker(cluster: Cluster) -> str:
    """Everything the bake put into the image (versions, mirrors, images, k8sgen's own version,
    which decides the config files): a node whose spec says otherwise needs another image."""
    data = {
        "k8sgen": __version__,
        "kubernetesVersion": cluster.version,
        "os": f"{cluster.os.family} {cluster.os.version}",
        "arch": cluster.arch.name,
        "imageRepository": cluster.mirrors.images,
        "packages": cluster.mirrors.packages,
        "containerd": cluster.mirrors.containerd,
        "registries": {name: list(urls) for name, urls in cluster.mirrors.registries},
        "images": list(baked_images(cluster)),
    }
    return json.dumps(data, sort_keys=True) + "\n"
