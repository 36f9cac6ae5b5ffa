"""spec.kubeadm and kubeadmPatches in effect on the loopback control plane (tests/k8s/): the
real etcd and kube-apiserver run with the flags kubeadm rendered from the spec, and the real
kubeadm uploads the spec's kubelet and kube-proxy settings to the cluster."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from ..support.specs import Rendered
from .cluster import render_example
from .controlplane import KUBEADM_CONFIG, MANIFESTS, ControlPlane

NODE_PORTS = "30000-30100"  # the default range is 30000-32767
QUOTA_BYTES = 4 * 1024**3  # etcd's default is 2 GiB
MAX_PODS = 42
SETTINGS: dict[str, Any] = {
    "kubeadm": {
        "apiServer": {"extraArgs": {"service-node-port-range": NODE_PORTS}},
        "etcd": {"extraArgs": {"quota-backend-bytes": str(QUOTA_BYTES)}},
        "kubelet": {"maxPods": MAX_PODS},
        "kubeProxy": {"mode": "nftables"},
    },
    "roles": {
        "control-plane": {
            "kubeadmPatches": [
                {
                    "target": "kube-apiserver",
                    "patch": {"metadata": {"annotations": {"example.com/patched": "true"}}},
                }
            ]
        }
    },
}
ETCD_METRICS = "http://127.0.0.1:2381/metrics"  # kubeadm's --listen-metrics-urls


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """The shared example with SETTINGS (this module's own control plane uses it)."""
    return render_example(tmp_path_factory.mktemp("spec"), more_spec=SETTINGS)


def create_node_port(plane: ControlPlane, name: str, port: int) -> tuple[int, str]:
    result = plane.machine.run(
        [
            "kubectl",
            "--kubeconfig=/etc/kubernetes/admin.conf",
            "create",
            "service",
            "nodeport",
            name,
            "--tcp=80",
            f"--node-port={port}",
        ],
        check=False,
    )
    return result.returncode, result.stdout


def test_control_plane_apiserver_runs_with_the_specs_flag_and_patch(plane: ControlPlane) -> None:
    code, out = create_node_port(plane, "outside", 31000)  # fine with the default range
    assert code != 0 and f"The range of valid ports is {NODE_PORTS}" in out, out
    code, out = create_node_port(plane, "inside", 30050)
    assert code == 0, out
    manifest = yaml.safe_load(plane.machine.read(f"{MANIFESTS}/kube-apiserver.yaml"))
    assert manifest["metadata"]["annotations"]["example.com/patched"] == "true"


def test_control_plane_etcd_runs_with_the_specs_quota(plane: ControlPlane) -> None:
    metrics = plane.machine.run(["curl", "-sS", "--max-time", "5", ETCD_METRICS]).stdout
    quota = next(
        line.split()[1]
        for line in metrics.splitlines()
        if line.startswith("etcd_server_quota_backend_bytes ")
    )
    assert float(quota) == QUOTA_BYTES


def test_control_plane_kubeadm_uploads_the_kubelet_and_kube_proxy_settings(
    plane: ControlPlane,
) -> None:
    kubelet = yaml.safe_load(
        plane.kubectl("-n", "kube-system", "get", "configmap", "kubelet-config", "-o", "yaml")
    )
    config = yaml.safe_load(kubelet["data"]["kubelet"])
    assert (config["maxPods"], config["cgroupDriver"]) == (MAX_PODS, "systemd")
    plane.kubeadm("init", "phase", "addon", "kube-proxy", f"--config={KUBEADM_CONFIG}")
    proxy = yaml.safe_load(
        plane.kubectl("-n", "kube-system", "get", "configmap", "kube-proxy", "-o", "yaml")
    )
    assert yaml.safe_load(proxy["data"]["config.conf"])["mode"] == "nftables"
