"""Every rendered output, checked by tools and schemas someone else wrote."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from generator.layout import JOIN_KUBECONFIG
from generator.render.node import NodeKind, plan
from generator.secrets import joincred

from .support.kubeadm import SHARED_PKI, api_validator
from .support.nodedata import (
    cloud_config,
    files,
    install_script,
    installed_files,
    kubeadm_documents,
    node_names,
    scripts,
)
from .support.repo import fixture
from .support.specs import Rendered
from .support.tools import check_with_cloud_init, cloud_init_schema, need


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def every_node(rendered_examples: list[Rendered]) -> list[tuple[Rendered, str]]:
    return [(r, n) for r in rendered_examples for n in node_names(r)]


def test_user_data_matches_cloud_inits_json_schema(rendered_examples: list[Rendered]) -> None:
    validator = jsonschema.Draft4Validator(
        load_json(cloud_init_schema("schema-cloud-config-v1.json"))
    )
    for rendered, node in every_node(rendered_examples):
        errors = [e.message for e in validator.iter_errors(cloud_config(rendered, node))]
        assert errors == [], f"{rendered.spec.name} {node}"


def test_user_data_passes_cloud_init_schema_command(
    rendered_examples: list[Rendered], tmp_path: Path
) -> None:
    for rendered, node in every_node(rendered_examples):
        check_with_cloud_init(rendered, node, tmp_path)


def test_network_config_matches_cloud_inits_v2_schema(rendered_examples: list[Rendered]) -> None:
    validator = jsonschema.Draft7Validator(
        load_json(fixture("cloud-init", "schema-network-config-v2.json"))
    )
    checked = 0
    for rendered, node in every_node(rendered_examples):
        artifact = rendered.artifacts.get(f"nodes/{node}/network-config")
        model_node = next(n for n in rendered.cluster.nodes if n.name == node)
        static = model_node.address or model_node.address6  # IPv4, IPv6 or both
        assert (artifact is not None) == (static is not None)
        if artifact is None:
            continue
        data = yaml.safe_load(artifact.content)
        assert [e.message for e in validator.iter_errors(data)] == []
        for ethernet in data["ethernets"].values():
            for route in ethernet.get("routes", []):
                assert route["to"] == "0.0.0.0/0"  # cloud-init 22.4's ifupdown rejects "default"
        checked += 1
    assert checked > 0


def test_every_node_script_passes_shellcheck(
    rendered_examples: list[Rendered], tmp_path: Path
) -> None:
    tool = need("shellcheck")
    paths = []
    for rendered, node in every_node(rendered_examples):
        for index, content in enumerate(scripts(rendered, node).values()):
            path = tmp_path / f"{rendered.cluster.name}-{node}-{index}.sh"
            path.write_text(content)
            paths.append(str(path))
    assert paths
    result = subprocess.run([tool, "--severity=style", *paths], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_kubeadm_documents_match_the_strict_api_schemas(rendered_examples: list[Rendered]) -> None:
    """A fast first check with schemas we wrote from the Go types (not someone else's oracle):
    the real kubeadm's verdict is tests/k8s/test_kubeadm_real.py."""
    components = {
        kind: api_validator(api)
        for kind, api in (
            ("KubeletConfiguration", "kubelet.config.k8s.io/v1beta1"),
            ("KubeProxyConfiguration", "kubeproxy.config.k8s.io/v1alpha1"),
        )
    }
    apis = set()
    for rendered, node in every_node(rendered_examples):
        for document in kubeadm_documents(rendered, node):
            if document["kind"] in components:
                validator = components[document["kind"]]
            else:
                apis.add(document["apiVersion"])
                assert document["apiVersion"] == rendered.cluster.kubernetes.kubeadm_api
                validator = api_validator(document["apiVersion"])
            errors = [
                f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)
            ]
            assert errors == [], f"{rendered.spec.name} {node} {document['kind']}"
    assert apis == {"kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4"}


def test_kubeadm_documents_per_bootstrap_kind(rendered_examples: list[Rendered]) -> None:
    for rendered, node in every_node(rendered_examples):
        model_node = next(n for n in rendered.cluster.nodes if n.name == node)
        kinds = [d["kind"] for d in kubeadm_documents(rendered, node)]
        kind = plan(rendered.cluster, model_node).kind
        if kind == NodeKind.INIT:
            # KubeProxyConfiguration only when the spec sets kube-proxy fields.
            proxy = (
                ["KubeProxyConfiguration"] if rendered.cluster.kubeadm_settings.kube_proxy else []
            )
            assert kinds == [
                "InitConfiguration",
                "ClusterConfiguration",
                "KubeletConfiguration",
                *proxy,
            ]
            cluster = kubeadm_documents(rendered, node)[1]
            assert cluster["imageRepository"] == rendered.cluster.mirrors.images
            assert cluster["networking"]["podSubnet"] == rendered.cluster.pod_subnet
            kubelet = kubeadm_documents(rendered, node)[2]
            assert kubelet["cgroupDriver"] == "systemd"
        else:
            (join,) = kubeadm_documents(rendered, node)
            if joincred.join_method(rendered.cluster, model_node) == "certificate":
                assert join["discovery"]["file"] == {"kubeConfigPath": JOIN_KUBECONFIG}
                assert "bootstrapToken" not in join["discovery"]
            else:
                token = join["discovery"]["bootstrapToken"]
                assert token["caCertHashes"] == [rendered.secrets.ca_cert_hash]
                assert token["token"] == rendered.secrets.bootstrap_token
            assert ("controlPlane" in join) == (kind == NodeKind.JOIN_CONTROL_PLANE)


def test_secrets_reach_only_the_nodes_that_need_them(rendered_examples: list[Rendered]) -> None:
    for rendered, node in every_node(rendered_examples):
        model_node = next(n for n in rendered.cluster.nodes if n.name == node)
        kind = plan(rendered.cluster, model_node).kind
        node_files = files(rendered, node)
        assert not [p for p in node_files if p.startswith("/etc/kubernetes/")]
        pki = {p for p in node_files if p.startswith("/var/lib/k8sgen/pki/")}
        user_data = rendered.text(f"nodes/{node}/user-data")
        if kind == NodeKind.JOIN_WORKER:
            assert pki == set()
            assert "PRIVATE KEY" not in user_data
            assert rendered.secrets.certificate_key not in user_data
        else:
            assert pki == SHARED_PKI
            for path in pki:
                assert node_files[path]["permissions"] == "0600", path
        assert node_files["/etc/k8sgen/kubeadm.yaml"]["permissions"] == "0600"
        assert rendered.artifacts[f"nodes/{node}/user-data"].mode == 0o600


def test_containerd_configs_parse_and_carry_the_settings(rendered_examples: list[Rendered]) -> None:
    for rendered in rendered_examples:
        node_files = installed_files(rendered, rendered.cluster.init_node.name)
        pause = rendered.cluster.pause_image
        v2 = tomllib.loads(node_files["/etc/k8sgen/containerd/config-v2.toml"]["content"])
        cri = v2["plugins"]["io.containerd.grpc.v1.cri"]
        assert v2["version"] == 2
        assert cri["sandbox_image"] == pause
        assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
        assert cri["registry"]["config_path"] == "/etc/containerd/certs.d"
        v3 = tomllib.loads(node_files["/etc/k8sgen/containerd/config-v3.toml"]["content"])
        images = v3["plugins"]["io.containerd.cri.v1.images"]
        runtime = v3["plugins"]["io.containerd.cri.v1.runtime"]
        assert v3["version"] == 3
        assert images["pinned_images"]["sandbox"] == pause
        assert images["registry"]["config_path"] == "/etc/containerd/certs.d"
        assert runtime["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
        for registry, mirrors in rendered.cluster.mirrors.registries:
            hosts = tomllib.loads(
                node_files[f"/etc/containerd/certs.d/{registry}/hosts.toml"]["content"]
            )
            assert list(hosts["host"]) == list(mirrors)
            assert all(h["capabilities"] == ["pull", "resolve"] for h in hosts["host"].values())


def test_crictl_and_kernel_settings(rendered_examples: list[Rendered]) -> None:
    for rendered, node in every_node(rendered_examples):
        node_files = installed_files(rendered, node)
        crictl = yaml.safe_load(node_files["/etc/crictl.yaml"]["content"])
        assert crictl["runtime-endpoint"] == "unix:///var/run/containerd/containerd.sock"
        assert node_files["/etc/modules-load.d/k8sgen.conf"]["content"].split() == [
            "overlay",
            "br_netfilter",
        ]
        assert "net.ipv4.ip_forward = 1" in node_files["/etc/sysctl.d/99-k8sgen.conf"]["content"]


def test_package_repositories_are_the_exact_minor(rendered_examples: list[Rendered]) -> None:
    formats = set()
    for rendered, node in every_node(rendered_examples):
        cluster = rendered.cluster
        if cluster.offline.bundle:
            continue  # packages come from the bundle ISO (tests/test_bundle.py)
        formats.add(cluster.os.package_format)
        script = install_script(rendered, node)
        if cluster.os.package_format == "rpm":
            repos = cloud_config(rendered, node)["yum_repos"]
            assert repos["k8sgen-kubernetes"]["baseurl"].endswith(
                f"/v{cluster.kubernetes.name}/rpm/"
            )
            for package in ("kubelet", "kubeadm", "kubectl"):
                assert f"{package}-{cluster.version}" in script.split()
            assert "dnf_run versionlock add kubelet kubeadm kubectl" in script
            continue
        lists = installed_files(rendered, node)
        line = lists["/etc/k8sgen/apt/kubernetes.list"]["content"]
        assert f"/v{cluster.kubernetes.name}/deb/ /" in line
        for package in ("kubelet", "kubeadm", "kubectl"):
            assert f"{package}='{cluster.version}-*'" in script
        assert "apt-mark hold kubelet kubeadm kubectl" in script
    assert formats == {"deb", "rpm"}


def test_admin_kubeconfig_is_signed_by_the_cluster_ca(
    rendered_examples: list[Rendered], tmp_path: Path
) -> None:
    import base64

    openssl = need("openssl")
    for rendered in rendered_examples:
        artifact = rendered.artifacts["admin.conf"]
        assert artifact.mode == 0o600
        config = yaml.safe_load(artifact.content)
        cluster = config["clusters"][0]["cluster"]
        assert cluster["server"] == f"https://{rendered.cluster.endpoint}"
        ca = tmp_path / "ca.crt"
        ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        cert = tmp_path / "admin.crt"
        cert.write_bytes(base64.b64decode(config["users"][0]["user"]["client-certificate-data"]))
        result = subprocess.run(
            [openssl, "verify", "-CAfile", str(ca), str(cert)], capture_output=True
        )
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", ["calico_patch.py"])
def test_python_helpers_shipped_to_nodes_compile(
    rendered_examples: list[Rendered], script: str
) -> None:
    shipped = [
        entry["content"]
        for rendered in rendered_examples
        for path, entry in files(rendered, rendered.cluster.init_node.name).items()
        if path.endswith(script)
    ]
    assert shipped
    for source in shipped:
        compile(source, script, "exec")
