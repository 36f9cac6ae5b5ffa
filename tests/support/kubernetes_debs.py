"""The deb packages of a fake Kubernetes release and of containerd, for the apt sites the
tests build (tests/support/aptrepo.py): names, versions and dependencies as upstream's; and
the air-gapped cluster that installs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .aptrepo import Deb
from .specs import write_spec

VERSION = "1.33.6"
KUBEADM_ETCD = "3.5.21-0"  # what the test kubeadm names: differs from k8sgen's table on purpose
FAKE_KUBEADM = f"""#!/bin/sh
# The tests' kubeadm: answers `kubeadm config images list` and nothing else.
set -eu
version='' repo=registry.k8s.io
while [ $# -gt 0 ]; do
  case "$1" in
    --kubernetes-version) version=$2; shift ;;
    --image-repository) repo=$2; shift ;;
  esac
  shift
done
for name in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
  echo "$repo/$name:$version"
done
echo "$repo/coredns:v1.12.0"
echo "$repo/pause:3.10"
echo "$repo/etcd:{KUBEADM_ETCD}"
"""
KUBERNETES_DEBS = [
    Deb(
        "kubelet",
        f"{VERSION}-1.1",
        "iptables (>= 1.4.21), socat, conntrack, kubernetes-cni (>= 1.1.1)",
    ),
    Deb("kubelet", "1.33.3-1.1", "iptables, socat, conntrack, kubernetes-cni"),
    # Newer than the spec's version: only the pin keeps it out of the bundle.
    Deb("kubelet", "1.33.5-1.1", "iptables, socat, conntrack, kubernetes-cni"),
    Deb("kubectl", "1.33.5-1.1"),
    Deb(
        "kubeadm",
        f"{VERSION}-1.1",
        "kubelet (>= 1.19.0), kubectl, cri-tools (>= 1.30.0)",
        {"/usr/bin/kubeadm": FAKE_KUBEADM},
    ),
    Deb("kubectl", f"{VERSION}-1.1"),
    Deb("kubernetes-cni", "1.6.0-1.1", "iproute2 | iproute"),
    Deb("cri-tools", "1.33.0-1.1"),
]
CONTAINERD_DEBS = [Deb("containerd.io", "1.7.27-1", "libc6 (>= 2.34), libseccomp2 (>= 2.5.0)")]


def island_spec(
    folder: Path, site: str, registry: str, offline: dict[str, Any], images: str = "k8s"
) -> Path:
    """An air-gapped two-node cluster whose mirrors are SITE (packages, Calico) and REGISTRY
    (images), both on loopback: the spec of the offline and bundle tests."""
    data = {
        "apiVersion": "k8sgen/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": "island"},
        "spec": {
            "kubernetes": {"version": VERSION},
            "mirrors": {
                "preset": "custom",
                "images": f"{registry}/{images}",
                "packages": f"{site}/k8s",
                "containerd": f"{site}/docker",
                "registries": {"docker.io": [f"http://{registry}"]},
            },
            "cni": {"calico": {"version": "v3.30.7", "manifest": f"{site}/calico.yaml"}},
            "offline": offline,
            "os": {"family": "ubuntu", "version": "24.04"},
            "network": {"interface": "ens3"},
            "ntp": ["10.40.0.1"],
            "nodes": [
                {"name": "cp1", "role": "control-plane", "address": "10.40.0.10/24"},
                {"name": "w1", "role": "worker", "address": "10.40.0.21/24"},
            ],
        },
    }
    return write_spec(folder, data, "island.yaml")
