"""The validated spec as frozen data: defaults filled in, derived values computed once."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, TypedDict

from generator import certspec, netfamily, versions
from generator.calico_patch import calico_image
from generator.nodeconfig import (
    KubeadmSettings,
    NodeExtras,
    build_extras,
    build_kubeadm_settings,
    merged_labels,
)
from generator.offline import Offline, build_offline
from generator.proxy import Proxy, build_proxy
from generator.registries import RegistryHost, build_registries
from generator.security import Audit, EncryptionAtRest, build_audit, build_encryption
from generator.spec.rules import (
    DEFAULT_MIRROR_PRESET,
    cluster_subnets,
    node_address,
    split_host_port,
)

DEFAULT_DNS_DOMAIN = "cluster.local"
DEFAULT_TOKEN_TTL = "24h"
JOIN_WITH_CERTIFICATE = "certificate"  # a kubelet client certificate per node, minted at render
JOIN_WITH_TOKEN = "token"  # the cluster-wide bootstrap token
# The default since tests/k8s/test_join_credentials_real.py proved it on the real programs.
DEFAULT_JOIN_WITH = JOIN_WITH_CERTIFICATE
# A week: long enough to boot a fleet over a few days (or a weekend's delay), short enough that
# a leaked user-data file stops being a credential soon after; a later node gets a fresh one.
DEFAULT_JOIN_WINDOW = "168h"
DEFAULT_NTP = ("ntp.aliyun.com",)
DEFAULT_ARCH = "amd64"
DEFAULT_FIREWALLD = "disabled"
DEFAULT_RETRY_ATTEMPTS = 8
DEFAULT_RETRY_INITIAL_DELAY = 5
DEFAULT_RETRY_MAX_DELAY = 120
DEFAULT_API_WAIT_SECONDS = 3600  # the init node installs and pulls everything first: be patient
DEFAULT_JOIN_ATTEMPTS = 3
API_PORT = 6443
DEFAULT_KUBE_VIP_IMAGE = f"{versions.KUBE_VIP_REPOSITORY}:{versions.KUBE_VIP_VERSION}"
CERTIFICATES_FILES = "files"  # the shared CA material is in each control plane's user-data
CERTIFICATES_UPLOAD = "upload"  # kubeadm init --upload-certs; the upload expires after 2 hours
DEFAULT_CERTIFICATE_DISTRIBUTION = CERTIFICATES_FILES
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
# Where the init node downloads a release's calico.yaml by default, in this order: public
# mirrors of GitHub files that answer from mainland China (jsDelivr's Fastly and G-Core
# endpoints, the gh-proxy service ghfast.top), then jsDelivr's main endpoint and GitHub itself.
# A mirror is never trusted: the file must have the release's sha256 (versions.py).
CALICO_MANIFEST_PATH = "projectcalico/calico/{version}/manifests/calico.yaml"
GITHUB_RAW = "https://raw.githubusercontent.com/" + CALICO_MANIFEST_PATH
CALICO_MANIFEST_MIRRORS = (
    "https://fastly.jsdelivr.net/gh/projectcalico/calico@{version}/manifests/calico.yaml",
    "https://gcore.jsdelivr.net/gh/projectcalico/calico@{version}/manifests/calico.yaml",
    "https://ghfast.top/" + GITHUB_RAW,
    "https://cdn.jsdelivr.net/gh/projectcalico/calico@{version}/manifests/calico.yaml",
    GITHUB_RAW,
)

# Each preset fills images, packages, containerd and registries.
MIRROR_PRESETS: dict[str, dict[str, Any]] = {
    DEFAULT_MIRROR_PRESET: {
        "images": "registry.aliyuncs.com/google_containers",
        "packages": "https://mirrors.aliyun.com/kubernetes-new/core/stable",
        "containerd": "https://mirrors.aliyun.com/docker-ce",
        "registries": {
            "docker.io": ["https://docker.m.daocloud.io"],
            "ghcr.io": ["https://ghcr.m.daocloud.io"],
            "quay.io": ["https://quay.m.daocloud.io"],
        },
    },
    "upstream": {
        "images": "registry.k8s.io",
        "packages": "https://pkgs.k8s.io/core:/stable:",
        "containerd": "https://download.docker.com",
        "registries": {},
    },
    "custom": {"registries": {}},
}

# The server each well-known registry really answers at (containerd hosts.toml `server`).
REGISTRY_SERVERS = {"docker.io": "https://registry-1.docker.io"}


@dataclass(frozen=True)
class Mirrors:
    preset: str
    images: str
    packages: str
    containerd: str
    registries: tuple[tuple[str, tuple[str, ...]], ...]  # sorted by registry
    calico_images: str | None = None  # Calico image references are rewritten to this path

    def package_repo(self, minor: versions.KubernetesMinor, package_format: str) -> str:
        return f"{self.packages.rstrip('/')}/v{minor.name}/{package_format}/"


@dataclass(frozen=True)
class Calico:
    version: str
    release: versions.CalicoRelease
    manifest_urls: tuple[str, ...]  # the init node downloads from the first that works...
    manifest_sha256: str | None  # ...and serves this sha256; then it patches the manifest
    manifest_file: Path | None  # or: read, patched and embedded at render time
    # That file with the pod CIDR set (and images moved): embed.py reads and patches it
    # after build, which does no I/O.
    manifest_patched: str | None
    image_repository: str | None = None  # mirrors.calicoImages

    @property
    def images(self) -> tuple[str, ...]:
        upstream = self.release.images(self.version)
        if self.image_repository is None:
            return upstream
        return tuple(calico_image(image, self.image_repository) for image in upstream)


@dataclass(frozen=True)
class Vip:
    """A virtual IP that kube-vip moves between the control planes."""

    address: str
    interface: str
    image: str


@dataclass(frozen=True)
class BootstrapPolicy:
    """How a node's first boot retries, waits and reports (spec.bootstrap)."""

    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    retry_initial_delay: int = DEFAULT_RETRY_INITIAL_DELAY  # seconds; doubles per failure
    retry_max_delay: int = DEFAULT_RETRY_MAX_DELAY
    api_wait_seconds: int = DEFAULT_API_WAIT_SECONDS
    join_attempts: int = DEFAULT_JOIN_ATTEMPTS  # workers only, `kubeadm reset -f` in between
    report_url: str | None = None


@dataclass(frozen=True)
class Node:
    name: str
    role: str
    address: ipaddress.IPv4Interface | None
    gateway: str | None
    dns: tuple[str, ...]
    interface: str | None  # the NIC of the address: node's, spec.network's or the OS default
    labels: tuple[tuple[str, str], ...]
    mac: str | None = None  # lower case; the NIC with it is renamed to `interface`
    address6: ipaddress.IPv6Interface | None = None  # dual-stack or single-stack IPv6
    gateway6: str | None = None
    ipv6_primary: bool = False  # the cluster's first family is IPv6 (see netfamily.py)
    extras: NodeExtras = field(default_factory=NodeExtras)  # taints, files, hooks, patches

    @property
    def is_control_plane(self) -> bool:
        return self.role == "control-plane"

    @property
    def ip(self) -> str | None:
        """The address of the cluster's primary family: the API server advertises it."""
        return self.ips[0] if self.ips else None

    @property
    def ips(self) -> tuple[str, ...]:
        """Every static address, the primary family first (the kubelet's node-ip)."""
        ips = [str(a.ip) for a in (self.address, self.address6) if a is not None]
        return tuple(reversed(ips)) if self.ipv6_primary else tuple(ips)


@dataclass(frozen=True)
class Cluster:
    name: str
    version: str
    kubernetes: versions.KubernetesMinor
    pod_subnet: str
    service_subnet: str
    dns_domain: str
    endpoint_host: str
    endpoint_port: int
    mirrors: Mirrors
    calico: Calico
    os: versions.OSRelease
    token_ttl: str
    token_override: str | None
    bootstrap: BootstrapPolicy
    ssh_keys: tuple[str, ...]
    ntp: tuple[str, ...]
    nodes: tuple[Node, ...]
    arch: versions.Architecture = versions.ARCHITECTURES[DEFAULT_ARCH]
    firewalld: str = DEFAULT_FIREWALLD  # rpm families: "disabled" or "open"
    vip: Vip | None = None
    certificate_distribution: str = DEFAULT_CERTIFICATE_DISTRIBUTION
    baked: bool = False  # the image was baked (Packer): first boot skips install/runtime/prepull
    offline: Offline = field(default_factory=Offline)
    join_with: str = DEFAULT_JOIN_WITH
    join_window: str = DEFAULT_JOIN_WINDOW  # lifetime of each node's join certificate
    certificates: certspec.Certificates = field(default_factory=certspec.Certificates)
    audit: Audit | None = None  # the API server's audit log, on every control plane
    encryption: EncryptionAtRest | None = None  # Secrets encrypted in etcd
    proxy: Proxy | None = None
    registries: tuple[RegistryHost, ...] = ()  # private registries: CA, auth, skipVerify
    kubeadm_settings: KubeadmSettings = field(default_factory=KubeadmSettings)  # spec.kubeadm

    @property
    def endpoint(self) -> str:
        return f"{self.endpoint_host}:{self.endpoint_port}"

    @property
    def pod_subnets(self) -> tuple[str, ...]:
        """podSubnet's networks, the primary family first (one, or two for dual-stack)."""
        return tuple(self.pod_subnet.split(","))

    @property
    def service_subnets(self) -> tuple[str, ...]:
        return tuple(self.service_subnet.split(","))

    @property
    def ip_families(self) -> tuple[int, ...]:
        """4 and/or 6, the primary first (validation makes both subnets agree)."""
        return tuple(netfamily.family_of(c) for c in self.service_subnets)

    @property
    def init_node(self) -> Node:
        """The first control plane in the list runs `kubeadm init`."""
        return next(n for n in self.nodes if n.is_control_plane)

    @property
    def control_planes(self) -> tuple[Node, ...]:
        """In spec order: the order in which they init and join."""
        return tuple(n for n in self.nodes if n.is_control_plane)

    @property
    def image_tags(self) -> versions.ImageTags:
        """pause, etcd and CoreDNS tags of this patch's kubeadm (or the nearest known patch's)."""
        return versions.image_tags(self.version)

    @property
    def pause_image(self) -> str:
        return f"{self.mirrors.images}/pause:{self.image_tags.pause}"

    @cached_property
    def host_lines(self) -> str:
        """'IP NAME' lines of the control planes with a static address, computed once. Not of
        every node: adding a worker to the spec must leave the other nodes' files unchanged."""
        return "".join(f"{n.ip} {n.name}\n" for n in self.control_planes if n.ip)


def build(data: dict[str, Any], base_dir: Path) -> Cluster:
    """Model of a spec that `validate` accepted. Pure: a local Calico manifest is only named
    here (embed.embed_local_manifest reads and patches it)."""
    spec = data["spec"]
    kube = spec["kubernetes"]
    ipv6_primary = netfamily.primary_is_ipv6(spec["kubernetes"])
    nodes = tuple(_node(spec, n, base_dir, ipv6_primary) for n in spec["nodes"])
    control_plane = spec.get("controlPlane", {})
    front = _control_plane_front(control_plane, nodes)
    minor = versions.KUBERNETES[versions.minor_of(kube["version"])]
    subnets = cluster_subnets(kube)
    mirrors = _mirrors(spec.get("mirrors", {}))
    return Cluster(
        name=data["metadata"]["name"],
        version=kube["version"],
        kubernetes=minor,
        pod_subnet=subnets["podSubnet"],
        service_subnet=subnets["serviceSubnet"],
        dns_domain=kube.get("dnsDomain", DEFAULT_DNS_DOMAIN),
        endpoint_host=front.host,
        endpoint_port=front.port,
        mirrors=mirrors,
        calico=_calico(
            spec.get("cni", {}).get("calico", {}), minor, base_dir, mirrors.calico_images
        ),
        ssh_keys=tuple(spec.get("ssh", {}).get("authorizedKeys", ())),
        ntp=tuple(spec.get("ntp", DEFAULT_NTP)),
        nodes=nodes,
        vip=front.vip,
        certificate_distribution=front.certificate_distribution,
        offline=build_offline(spec),
        certificates=certspec.build(spec),
        audit=build_audit(control_plane),
        encryption=build_encryption(control_plane),
        proxy=_proxy(spec, nodes, subnets, front.host),
        registries=build_registries(spec, base_dir),
        kubeadm_settings=build_kubeadm_settings(spec.get("kubeadm", {})),
        **_bootstrap_fields(spec.get("bootstrap", {})),
        **_machine_fields(spec),
    )


class _MachineFields(TypedDict):
    """The fields of Cluster that say what the machines are: OS release, architecture."""

    os: versions.OSRelease
    arch: versions.Architecture
    firewalld: str


def _machine_fields(spec: dict[str, Any]) -> _MachineFields:
    return _MachineFields(
        os=versions.OPERATING_SYSTEMS[(spec["os"]["family"], spec["os"]["version"])],
        arch=versions.ARCHITECTURES[spec.get("arch", DEFAULT_ARCH)],
        firewalld=spec["os"].get("firewalld", DEFAULT_FIREWALLD),
    )


class _BootstrapFields(TypedDict):
    """The fields of Cluster that spec.bootstrap sets."""

    token_ttl: str
    token_override: str | None
    bootstrap: BootstrapPolicy
    baked: bool
    join_with: str
    join_window: str


def _bootstrap_fields(bootstrap: dict[str, Any]) -> _BootstrapFields:
    return _BootstrapFields(
        token_ttl=bootstrap.get("tokenTTL", DEFAULT_TOKEN_TTL),
        token_override=bootstrap.get("token"),
        bootstrap=_bootstrap_policy(bootstrap),
        baked=bootstrap.get("baked", False),
        join_with=bootstrap.get("joinWith", DEFAULT_JOIN_WITH),
        join_window=bootstrap.get("joinWindow", DEFAULT_JOIN_WINDOW),
    )


def _proxy(
    spec: dict[str, Any], nodes: tuple[Node, ...], subnets: dict[str, str], host: str
) -> Proxy | None:
    """NO_PROXY: the node networks, pod and service subnets, endpoint and cluster domain; and
    each node's address and name, for the curl of EL8/EL9 and Ubuntu 22.04 (before 7.86),
    which ignores networks in NO_PROXY and would ask the proxy for the API's /readyz."""
    kube = spec["kubernetes"]
    node_networks = dict.fromkeys(str(n.address.network) for n in nodes if n.address)
    networks = (*node_networks, subnets["podSubnet"], subnets["serviceSubnet"])
    own = [name for n in nodes for name in (n.ip, n.name) if name]
    names = (host, *own, "." + kube.get("dnsDomain", DEFAULT_DNS_DOMAIN))
    return build_proxy(spec.get("proxy"), networks, names)


def _bootstrap_policy(data: dict[str, Any]) -> BootstrapPolicy:
    retries = data.get("retries", {})
    return BootstrapPolicy(
        retry_attempts=retries.get("attempts", DEFAULT_RETRY_ATTEMPTS),
        retry_initial_delay=retries.get("initialDelaySeconds", DEFAULT_RETRY_INITIAL_DELAY),
        retry_max_delay=retries.get("maxDelaySeconds", DEFAULT_RETRY_MAX_DELAY),
        api_wait_seconds=data.get("apiWaitSeconds", DEFAULT_API_WAIT_SECONDS),
        join_attempts=data.get("joinAttempts", DEFAULT_JOIN_ATTEMPTS),
        report_url=data.get("reportURL"),
    )


def node_interface(spec: dict[str, Any], node: dict[str, Any]) -> str | None:
    """The NIC a node's address is on: its own `interface`, else spec.network.interface, else
    the OS family's default (None: nobody named it; validate refuses that for static nodes)."""
    family = versions.OS_FAMILIES.get(spec["os"]["family"])  # None: the schema refused it
    name: str | None = node.get("interface") or spec.get("network", {}).get("interface")
    return name or (family and family.default_interface) or None


def control_plane_interface(nodes: tuple[Node, ...]) -> str | None:
    """The one NIC name every control plane has (the VIP's default), or None."""
    names = {n.interface for n in nodes if n.is_control_plane}
    return names.pop() if len(names) == 1 else None


def _node(
    spec: dict[str, Any], data: dict[str, Any], base_dir: Path, ipv6_primary: bool = False
) -> Node:
    address6 = data.get("address6")
    mac = data.get("mac")
    return Node(
        address6=ipaddress.IPv6Interface(address6) if address6 else None,
        gateway6=data.get("gateway6"),
        ipv6_primary=ipv6_primary,
        name=data["name"],
        role=data["role"],
        address=node_address(data),
        gateway=data.get("gateway"),
        dns=tuple(data.get("dns", ())),
        interface=node_interface(spec, data),
        labels=tuple(sorted(merged_labels(spec, data).items())),
        mac=mac.lower() if mac else None,
        extras=build_extras(spec, data, base_dir),
    )


@dataclass(frozen=True)
class _ControlPlaneFront:
    """How nodes reach the control plane: its endpoint, the VIP if any, how certs travel."""

    vip: Vip | None
    host: str
    port: int
    certificate_distribution: str


def _control_plane_front(
    control_plane: dict[str, Any], nodes: tuple[Node, ...]
) -> _ControlPlaneFront:
    vip = _vip(control_plane.get("vip"), nodes)
    host, port = _endpoint(control_plane, vip, nodes)
    distribution = control_plane.get("certificateDistribution", DEFAULT_CERTIFICATE_DISTRIBUTION)
    return _ControlPlaneFront(vip, host, port, distribution)


def _vip(data: dict[str, Any] | None, nodes: tuple[Node, ...]) -> Vip | None:
    if data is None:
        return None
    interface = data.get("interface") or control_plane_interface(nodes)
    assert interface, "validate requires vip.interface when the control planes' NIC is unknown"
    return Vip(data["address"], interface, data.get("image", DEFAULT_KUBE_VIP_IMAGE))


def _endpoint(
    control_plane: dict[str, Any], vip: Vip | None, nodes: tuple[Node, ...]
) -> tuple[str, int]:
    endpoint = control_plane.get("endpoint")
    if endpoint:
        host, port = split_host_port(endpoint)
        return host, int(port)
    if vip:
        return vip.address, API_PORT
    first = next(n for n in nodes if n.is_control_plane)
    assert first.ip, "validate requires an endpoint for a control plane without address"
    return first.ip, API_PORT


def _mirrors(data: dict[str, Any]) -> Mirrors:
    preset = data.get("preset", DEFAULT_MIRROR_PRESET)
    merged = {**MIRROR_PRESETS[preset], **{k: v for k, v in data.items() if k != "preset"}}
    return Mirrors(
        preset=preset,
        images=merged["images"],
        packages=merged["packages"],
        containerd=merged["containerd"],
        registries=tuple(sorted((k, tuple(v)) for k, v in merged["registries"].items())),
        calico_images=merged.get("calicoImages"),
    )


def _calico(
    data: dict[str, Any],
    minor: versions.KubernetesMinor,
    base_dir: Path,
    image_repository: str | None,
) -> Calico:
    version = data.get("version", minor.calico_default)
    release = versions.CALICO[versions.calico_minor_of(version)]
    sha256 = data.get("sha256", versions.CALICO_MANIFEST_SHA256.get(version))
    manifest = data.get("manifest")
    if manifest is None or is_url(manifest):
        urls = calico_manifest_urls(data, version)
        return Calico(version, release, urls, sha256, None, None, image_repository)
    return Calico(version, release, (), None, base_dir / manifest, None, image_repository)


def is_url(manifest: str) -> bool:
    return manifest.startswith(("http://", "https://"))


def calico_manifest_urls(calico: dict[str, Any], version: str) -> tuple[str, ...]:
    """cni.calico.manifest (a URL) then manifestMirrors; with neither, the default mirrors."""
    manifest = calico.get("manifest")
    named = ([manifest] if manifest else []) + list(calico.get("manifestMirrors", ()))
    return tuple(named) or tuple(u.format(version=version) for u in CALICO_MANIFEST_MIRRORS)
