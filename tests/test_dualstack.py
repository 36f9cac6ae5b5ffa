"""Dual-stack and single-stack IPv6: every pairing rule refused with FILE:LINE, and what the
nodes get (kubeadm networking, kubelet node-ip, certSANs, network-config, Calico).

The real kubeadm reads examples/dual-stack.yaml and examples/ipv6.yaml in
tests/k8s/test_kubeadm_real.py and refuses what k8sgen refuses in tests/k8s/test_dualstack_real.py;
cloud-init's renderers read their network-config in tests/test_network.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from generator.calico_patch import patch_manifest
from generator.cli import cli

from .support.nodedata import files, kubeadm_documents
from .support.repo import REPO, calico_fixture
from .support.specs import Rendered, example, render_spec, write_spec

DUAL = "dual-stack"
KUBEADM_CONFIG = "/etc/k8sgen/kubeadm.yaml"


def refused(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    spec = write_spec(tmp_path, data)
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 1, result.stdout
    return [line for line in result.stderr.splitlines() if not line.endswith("(warning)")]


def line_of(spec_text: str, needle: str) -> int:
    return next(i for i, line in enumerate(spec_text.splitlines(), 1) if needle in line)


def dual(**kubernetes: Any) -> dict[str, Any]:
    data = example(DUAL)
    data["spec"]["kubernetes"].update(kubernetes)
    return data


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            dual(podSubnet="10.244.0.0/16,10.245.0.0/16"),
            "podSubnet",
            "two IPv4 networks: dual-stack takes one IPv4 and one IPv6 network",
        ),
        (
            dual(serviceSubnet="fd00:10:96::/112,10.96.0.0/16"),
            "serviceSubnet",
            "families IPv6, IPv4 differ from podSubnet's (IPv4, IPv6)",
        ),
        (dual(serviceSubnet="10.96.0.0/16"), "serviceSubnet", "families IPv4 differ"),
        (
            dual(serviceSubnet="10.96.0.0/16,fd00:10:96::/100"),
            "serviceSubnet",
            "an IPv6 service network is a /108 or smaller",
        ),
        (
            dual(podSubnet="10.244.0.0/16,fd00:10::/40"),
            "podSubnet",
            "wider than kube-controller-manager takes with /64 per node",
        ),
        (
            dual(podSubnet="10.244.0.0/16,fd00:10::/72"),
            "podSubnet",
            "smaller than the /64 each node gets of the IPv6 pod network",
        ),
        (
            dual(podSubnet="10.0.0.0/7,fd00:10:244::/56"),
            "podSubnet",
            "wider than kube-controller-manager takes with /24 per node",
        ),
        (
            dual(serviceSubnet="10.96.0.0/16,fd00:10:244::/112"),
            "serviceSubnet",
            "overlaps the pod subnet fd00:10:244::/56",
        ),
        (
            dual(podSubnet="10.244.0.0/16,fd00:10:244::1/56"),
            "podSubnet",
            "is not a valid IPv6 network; did you mean fd00:10:244::/56?",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_cluster_network_rules(
    tmp_path: Path, data: dict[str, Any], field: str, message: str
) -> None:
    errors = refused(tmp_path, data)
    text = (tmp_path / "cluster.yaml").read_text()
    where = f"{tmp_path / 'cluster.yaml'}:{line_of(text, f'{field}:')}: spec.kubernetes.{field}:"
    assert any(e.startswith(where) and message in e for e in errors), errors


def node_patch(index: int, **fields: Any) -> dict[str, Any]:
    data = example(DUAL)
    node = data["spec"]["nodes"][index]
    node.update({k: v for k, v in fields.items() if v is not None})
    for key in [k for k, v in fields.items() if v is None]:
        del node[key]
    return data


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        (
            node_patch(3, address6=None, gateway6=None),
            "spec.nodes[3]",
            "address6 is required: the cluster is IPv4, IPv6",
        ),
        (
            node_patch(3, address=None, gateway=None),
            "spec.nodes[3]",
            "address is required",
        ),
        (node_patch(1, address6="fd00:40::11/64"), "spec.nodes[1].address6", "also the address"),
        (
            node_patch(3, address=None, gateway=None, dns=["fd00:::1"]),
            "spec.nodes[3].dns[0]",
            "not a valid address",
        ),
        (node_patch(1, address6="fe80::12/64"), "spec.nodes[1].address6", "not a routable"),
        (
            node_patch(1, gateway6="fd00:99::1"),
            "spec.nodes[1].gateway6",
            "must be another address of fd00:40::/64, or a link-local",
        ),
        (
            node_patch(1, address6="fd00:10:244::12/64"),
            "spec.nodes[1].address6",
            "overlaps the cluster network fd00:10:244::/56",
        ),
    ],
    ids=["no-address6", "no-address", "duplicate", "dns6", "link-local", "gateway", "in-pods"],
)
def test_node_address_rules(tmp_path: Path, data: dict[str, Any], path: str, message: str) -> None:
    errors = refused(tmp_path, data)
    assert any(f": {path}: " in e and message in e for e in errors), errors
    assert all(e.startswith(f"{tmp_path / 'cluster.yaml'}:") for e in errors)


def test_ipv4_address_in_an_ipv6_cluster_and_ipv6_primary_endpoint(tmp_path: Path) -> None:
    data = example("ipv6")
    data["spec"]["nodes"][1]["address"] = "192.168.50.21/24"
    errors = refused(tmp_path, data)
    assert any(": spec.nodes[1].address: the cluster has no IPv4 network" in e for e in errors), (
        errors
    )
    data = dual(podSubnet="fd00:10:244::/56,10.244.0.0/16")
    data["spec"]["kubernetes"]["serviceSubnet"] = "fd00:10:96::/112,10.96.0.0/16"
    data["spec"]["controlPlane"] = {}
    data["spec"]["nodes"] = data["spec"]["nodes"][:1] + data["spec"]["nodes"][3:]
    errors = refused(tmp_path, data)
    assert any("endpoint is required when the primary family is IPv6" in e for e in errors)


def test_vip_needs_an_ipv4_network(tmp_path: Path) -> None:
    data = example("ipv6")
    data["spec"]["controlPlane"] = {"vip": {"address": "192.168.50.100", "interface": "ens3"}}
    errors = refused(tmp_path, data)
    assert any(": spec.controlPlane.vip: kube-vip holds an IPv4 VIP" in e for e in errors), errors


@pytest.fixture(scope="module")
def dual_rendered() -> Rendered:
    return render_spec(REPO / "examples" / f"{DUAL}.yaml")


def test_kubeadm_networking_node_ip_and_sans(dual_rendered: Rendered) -> None:
    init, cluster, _ = kubeadm_documents(dual_rendered, "cp1")
    assert cluster["networking"]["podSubnet"] == "10.244.0.0/16,fd00:10:244::/56"
    assert cluster["networking"]["serviceSubnet"] == "10.96.0.0/16,fd00:10:96::/112"
    assert init["localAPIEndpoint"]["advertiseAddress"] == "192.168.40.11"  # primary family
    args = {a["name"]: a["value"] for a in init["nodeRegistration"]["kubeletExtraArgs"]}
    assert args["node-ip"] == "192.168.40.11,fd00:40::11"
    assert {"fd00:40::11", "fd00:40::12", "fd00:40::13"} <= set(cluster["apiServer"]["certSANs"])
    (worker,) = kubeadm_documents(dual_rendered, "w1")
    args = {a["name"]: a["value"] for a in worker["nodeRegistration"]["kubeletExtraArgs"]}
    assert args["node-ip"] == "192.168.40.21,fd00:40::21"


def test_ipv6_primary_orders_node_ip_and_brackets_the_wait_url(tmp_path: Path) -> None:
    data = dual(podSubnet="fd00:10:244::/56,10.244.0.0/16")
    data["spec"]["kubernetes"]["serviceSubnet"] = "fd00:10:96::/112,10.96.0.0/16"
    rendered = render_spec(write_spec(tmp_path, data))
    init = kubeadm_documents(rendered, "cp1")[0]
    assert init["localAPIEndpoint"]["advertiseAddress"] == "fd00:40::11"
    args = {a["name"]: a["value"] for a in init["nodeRegistration"]["kubeletExtraArgs"]}
    assert args["node-ip"] == "fd00:40::11,192.168.40.11"
    script = files(rendered, "cp2")["/usr/local/sbin/k8sgen-bootstrap"]["content"]
    assert "https://[fd00:40::11]:6443/readyz" in script


def test_network_config_has_both_families_and_gateway6(dual_rendered: Rendered) -> None:
    network = yaml.safe_load(dual_rendered.text("nodes/cp1/network-config"))
    ethernet = network["ethernets"]["ens3"]
    assert ethernet["addresses"] == ["192.168.40.11/24", "fd00:40::11/64"]
    assert ethernet["gateway6"] == "fd00:40::1"
    assert all(route["to"] != "::/0" for route in ethernet.get("routes", []))
    six = render_spec(REPO / "examples" / "ipv6.yaml")
    ethernet = yaml.safe_load(six.text("nodes/w1/network-config"))["ethernets"]["ens3"]
    assert ethernet == {
        "addresses": ["fd00:50::21/64"],
        "gateway6": "fd00:50::1",
        "nameservers": {"addresses": ["2400:3200::1"]},
    }


def calico_settings(text: str) -> tuple[dict[str, str], str]:
    documents = [d for d in yaml.safe_load_all(text) if d]
    node = next(d for d in documents if d["kind"] == "DaemonSet")
    container = node["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    config = next(d for d in documents if d["kind"] == "ConfigMap")["data"]["cni_network_config"]
    return env, config


@pytest.mark.parametrize("version", ["v3.28.5", "v3.30.7", "v3.31.7"])
def test_calico_dual_stack_and_ipv6_only(version: str) -> None:
    manifest = calico_fixture(version).read_text()
    env, config = calico_settings(patch_manifest(manifest, "10.244.0.0/16,fd00:10:244::/56"))
    assert env["CALICO_IPV4POOL_CIDR"] == "10.244.0.0/16"
    assert env["CALICO_IPV6POOL_CIDR"] == "fd00:10:244::/56"
    assert env["IP"] == "autodetect" and env["IP6"] == "autodetect"
    assert env["FELIX_IPV6SUPPORT"] == "true"
    assert '"assign_ipv4": "true", "assign_ipv6": "true"' in config
    env, config = calico_settings(patch_manifest(manifest, "fd00:10:244::/56"))
    assert "CALICO_IPV4POOL_CIDR" not in env
    assert env["IP"] == "none" and env["CALICO_ROUTER_ID"] == "hash"
    assert '"assign_ipv4": "false", "assign_ipv6": "true"' in config
    # IPv4 alone: the manifest's CNI configuration is left as it is.
    _, config = calico_settings(patch_manifest(manifest, "10.244.0.0/16"))
    assert "assign_ipv6" not in config


def test_ipv6_forwarding_where_the_cluster_has_ipv6(dual_rendered: Rendered) -> None:
    """kubeadm's preflight refuses an IPv6 cluster without net.ipv6.conf.default.forwarding."""
    six = render_spec(REPO / "examples" / "ipv6.yaml")
    single = render_spec(REPO / "examples" / "single.yaml")
    for rendered, node, expected in ((dual_rendered, "w1", True), (six, "cp1", True)):
        content = files(rendered, node)["/etc/sysctl.d/99-k8sgen.conf"]["content"]
        assert ("net.ipv6.conf.default.forwarding = 1\n" in content) is expected
    content = files(single, "master1")["/etc/sysctl.d/99-k8sgen.conf"]["content"]
    assert "net.ipv6.conf" not in content and "net.ipv4.ip_forward = 1\n" in content
