"""kubeadm configuration documents, as data, for the API version of the cluster's minor."""

from __future__ import annotations

from typing import Any

from generator.layout import JOIN_KUBECONFIG, KUBEADM_PATCHES
from generator.model import API_PORT, CERTIFICATES_UPLOAD, Cluster, Node
from generator.nodeconfig import COMPONENTS, Component, KubeadmPatch
from generator.render import security
from generator.secrets import ClusterSecrets
from generator.secrets.joincred import credential

CRI_SOCKET = "unix:///var/run/containerd/containerd.sock"
KUBELET_API = "kubelet.config.k8s.io/v1beta1"
KUBE_PROXY_API = "kubeproxy.config.k8s.io/v1alpha1"
TOKEN_GROUPS = ["system:bootstrappers:kubeadm:default-node-token"]
TOKEN_USAGES = ["signing", "authentication"]
# A joiner starts once the API server before it answers /readyz; the init node creates the
# bootstrap token (and cluster-info) a few minutes later at worst: keep discovery patient.
DISCOVERY_TIMEOUT = "15m0s"  # kubeadm's default is 5m0s


def token(cluster: Cluster, secrets: ClusterSecrets) -> str:
    return cluster.token_override or secrets.bootstrap_token


def init_documents(cluster: Cluster, node: Node, secrets: ClusterSecrets) -> list[dict[str, Any]]:
    """InitConfiguration + ClusterConfiguration + KubeletConfiguration for `kubeadm init`."""
    api = cluster.kubernetes.kubeadm_api
    init: dict[str, Any] = {
        "apiVersion": api,
        "kind": "InitConfiguration",
        "bootstrapTokens": [
            {
                "token": token(cluster, secrets),
                "description": f"k8sgen: nodes of cluster {cluster.name} join with this token",
                "ttl": cluster.token_ttl,
                "groups": TOKEN_GROUPS,
                "usages": TOKEN_USAGES,
            }
        ],
        "nodeRegistration": _node_registration(cluster, node),
        **_patches(node),
    }
    if node.ip:
        init["localAPIEndpoint"] = {"advertiseAddress": node.ip, "bindPort": API_PORT}
    if cluster.certificate_distribution == CERTIFICATES_UPLOAD:
        # Pre-generated, so the joiners' configuration carries it before init runs.
        init["certificateKey"] = secrets.certificate_key
    documents = [init, cluster_configuration(cluster, secrets), kubelet_configuration(cluster)]
    if cluster.kubeadm_settings.kube_proxy:
        documents.append(kube_proxy_configuration(cluster))
    return documents


def cluster_configuration(cluster: Cluster, secrets: ClusterSecrets) -> dict[str, Any]:
    configuration: dict[str, Any] = {
        "apiVersion": cluster.kubernetes.kubeadm_api,
        "kind": "ClusterConfiguration",
        "clusterName": cluster.name,
        "kubernetesVersion": f"v{cluster.version}",
        "controlPlaneEndpoint": cluster.endpoint,
        "imageRepository": cluster.mirrors.images,
        "networking": {
            "podSubnet": cluster.pod_subnet,
            "serviceSubnet": cluster.service_subnet,
            "dnsDomain": cluster.dns_domain,
        },
        "apiServer": {"certSANs": cert_sans(cluster)},
        **validity_periods(cluster),
    }
    algorithm = secrets.encryption_algorithm
    if algorithm and cluster.kubernetes.has_encryption_algorithm:
        # kubeadm makes its own keys (leaf certificates, kubeconfigs) of the CAs' type; before
        # v1beta4 they stay RSA, signed by whatever CA it loads.
        configuration["encryptionAlgorithm"] = str(algorithm)
    for name in COMPONENTS:
        settings = _component_settings(cluster, cluster.kubeadm_settings.component(name), name)
        if settings and name == "etcd":
            configuration["etcd"] = {"local": settings}  # stacked etcd, as kubeadm runs it
        elif settings:
            configuration[name] = {**configuration.get(name, {}), **settings}

    return configuration


def _component_settings(cluster: Cluster, component: Component, name: str) -> dict[str, Any]:
    """extraArgs (a map in v1beta3, a list of {name, value} in v1beta4) and extraVolumes: the
    API server's audit and encryption ones (render/security.py) first, the spec's after (a flag
    the spec names too takes the spec's value)."""
    own_args = security.api_server_args(cluster) if name == "apiServer" else {}
    own_volumes = security.api_server_volumes(cluster) if name == "apiServer" else []
    args = {**own_args, **dict(component.extra_args)}
    volumes = [*own_volumes, *(dict(v) for v in component.extra_volumes)]
    settings: dict[str, Any] = {}
    if args:
        settings["extraArgs"] = _extra_args(cluster, args)
    if volumes:
        settings["extraVolumes"] = volumes
    return settings


def validity_periods(cluster: Cluster) -> dict[str, str]:
    """v1beta4's lifetimes, when the spec names them (validation refuses them on v1beta3)."""
    chosen = cluster.certificates
    periods: dict[str, str] = {}
    if not cluster.kubernetes.has_validity_periods:
        return periods
    if chosen.validity_set:
        periods["certificateValidityPeriod"] = chosen.validity
    if chosen.ca_validity_set:
        periods["caCertificateValidityPeriod"] = chosen.ca_validity
    return periods


def cert_sans(cluster: Cluster) -> list[str]:
    """The endpoint host, the VIP and every control-plane address: any of them serves the API."""
    names = [cluster.endpoint_host]
    if cluster.vip:
        names.append(cluster.vip.address)
    names += [ip for n in cluster.nodes if n.is_control_plane for ip in n.ips]
    return list(dict.fromkeys(names))


def kubelet_configuration(cluster: Cluster) -> dict[str, Any]:
    """k8sgen's cgroupDriver (validate refuses it in spec.kubeadm.kubelet) and the spec's."""
    return {
        "apiVersion": KUBELET_API,
        "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd",
        **cluster.kubeadm_settings.kubelet,
    }


def kube_proxy_configuration(cluster: Cluster) -> dict[str, Any]:
    return {
        "apiVersion": KUBE_PROXY_API,
        "kind": "KubeProxyConfiguration",
        **cluster.kubeadm_settings.kube_proxy,
    }


def patch_file_name(index: int, patch: KubeadmPatch) -> str:
    """kubeadm applies a target's patches in file-name order: the index keeps the spec's."""
    return f"{patch.target}{index:03d}+{patch.type}.yaml"


def patch_files(node: Node) -> dict[str, Any]:
    """File name under KUBEADM_PATCHES -> the patch, for the node's kubeadm patches."""
    return {patch_file_name(i, p): p.patch for i, p in enumerate(node.extras.patches)}


def _patches(node: Node) -> dict[str, Any]:
    return {"patches": {"directory": KUBEADM_PATCHES}} if node.extras.patches else {}


def join_documents(cluster: Cluster, node: Node, secrets: ClusterSecrets) -> list[dict[str, Any]]:
    """JoinConfiguration with the node's own certificate (discovery.file: the kubeconfig holds
    the CA, so no hash) or the pre-shared token and CA hash; control planes also serve."""
    join: dict[str, Any] = {
        "apiVersion": cluster.kubernetes.kubeadm_api,
        "kind": "JoinConfiguration",
        "discovery": _discovery(cluster, node, secrets),
        "nodeRegistration": _node_registration(cluster, node),
        **_patches(node),
    }
    if cluster.kubernetes.timeouts_in_own_section:
        join["timeouts"] = {"discovery": DISCOVERY_TIMEOUT}
    else:
        join["discovery"]["timeout"] = DISCOVERY_TIMEOUT
    if node.is_control_plane:
        local: dict[str, Any] = {"bindPort": API_PORT}
        if node.ip:
            local = {"advertiseAddress": node.ip, **local}
        join["controlPlane"] = {"localAPIEndpoint": local}
        if cluster.certificate_distribution == CERTIFICATES_UPLOAD:
            join["controlPlane"]["certificateKey"] = secrets.certificate_key
    return [join]


def _discovery(cluster: Cluster, node: Node, secrets: ClusterSecrets) -> dict[str, Any]:
    if credential(cluster, node, secrets):
        return {"file": {"kubeConfigPath": JOIN_KUBECONFIG}}
    return {
        "bootstrapToken": {
            "token": token(cluster, secrets),
            "apiServerEndpoint": cluster.endpoint,
            "caCertHashes": [secrets.ca_cert_hash],
        }
    }


def _node_registration(cluster: Cluster, node: Node) -> dict[str, Any]:
    registration: dict[str, Any] = {"name": node.name, "criSocket": CRI_SOCKET}
    args = _kubelet_args(node)
    if args:
        registration["kubeletExtraArgs"] = _extra_args(cluster, args)
    if node.extras.taints is not None:
        registration["taints"] = [t.as_kubeadm() for t in node.extras.taints]
    elif node.is_control_plane and not any(not n.is_control_plane for n in cluster.nodes):
        # No workers: leave control planes schedulable so workloads have somewhere to run.
        registration["taints"] = []
    return registration


def _kubelet_args(node: Node) -> dict[str, str]:
    args: dict[str, str] = {}
    if node.ips:
        # Pin the node IP: with several NICs the kubelet may otherwise pick the wrong one.
        # Dual-stack: both, the primary family first (as in podSubnet).
        args["node-ip"] = ",".join(node.ips)
    if node.labels:
        args["node-labels"] = ",".join(f"{k}={v}" for k, v in node.labels)
    return args


def _extra_args(cluster: Cluster, args: dict[str, str]) -> Any:
    if cluster.kubernetes.extra_args_as_list:
        return [{"name": name, "value": value} for name, value in args.items()]
    return dict(args)
