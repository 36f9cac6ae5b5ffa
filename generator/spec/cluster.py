"""Checks of cluster-wide settings: Kubernetes version, OS, subnets, mirrors, Calico,
bootstrap and offline."""

from __future__ import annotations

import ipaddress
from typing import Any

from generator import model, netfamily, refs, versions
from generator.secrets import tokenlife
from generator.spec.findings import CALICO, MIRRORS, Findings
from generator.spec.load import FieldPath
from generator.spec.rules import (
    TOKEN_EXAMPLE,
    TOKEN_PATTERN,
    cluster_subnets,
    describe_seconds,
    node_address,
    ttl_seconds,
)

BUNDLE_FORMATS = ("deb",)  # package formats `k8sgen bundle` collects and nodes install
NODE_POD_PREFIX = 24  # kube-controller-manager's --node-cidr-mask-size for IPv4 (default)


def check_kubernetes_version(data: dict[str, Any], findings: Findings) -> None:
    version = data["spec"]["kubernetes"]["version"]
    if versions.minor_of(version) not in versions.KUBERNETES:
        findings.error(
            ("spec", "kubernetes", "version"),
            f"Kubernetes {version} is not supported; "
            f"supported minors: {versions.supported_minors()}",
        )
        return
    tags = versions.image_tags(version)
    if tags.release != version:
        findings.warn(
            ("spec", "kubernetes", "version"),
            f"{version} is not in k8sgen's table of kubeadm image tags: pause, etcd and CoreDNS "
            f"are those of kubeadm {tags.release}, the nearest known patch (etcd {tags.etcd}, "
            f"CoreDNS {tags.coredns}, pause {tags.pause}); check them with `kubeadm config "
            f"images list --kubernetes-version v{version}` before syncing a mirror",
        )


def check_os(data: dict[str, Any], findings: Findings) -> None:
    os_spec = data["spec"]["os"]
    family = versions.OS_FAMILIES[os_spec["family"]]
    if (family.name, os_spec["version"]) not in versions.OPERATING_SYSTEMS:
        hint = ""
        if family.version_id == "major" and "." in os_spec["version"]:
            hint = f' ({family.name} is named by its major release, e.g. "9", not 9.4)'
        findings.error(
            ("spec", "os", "version"),
            f"{family.name} {os_spec['version']} is not supported{hint}; "
            f"supported: {versions.supported_os()}",
        )
    check_cgroup_v1(data, findings)
    if "firewalld" in os_spec and not family.firewalld:
        with_firewalld = ", ".join(f.name for f in versions.OS_FAMILIES.values() if f.firewalld)
        findings.error(
            ("spec", "os", "firewalld"),
            f"{family.name} images do not run firewalld; the setting applies to "
            f"{with_firewalld} only: remove it",
        )


def check_cgroup_v1(data: dict[str, Any], findings: Findings) -> None:
    os_spec, version = data["spec"]["os"], data["spec"]["kubernetes"]["version"]
    release = versions.OPERATING_SYSTEMS.get((os_spec["family"], os_spec["version"]))
    minor = versions.KUBERNETES.get(versions.minor_of(version))
    if release and minor and release.cgroup_v1 and minor.refuses_cgroup_v1:
        newest = versions.REFUSES_CGROUP_V1_FROM_MINOR - 1
        v2 = [
            f"{r.family} {r.version}"
            for r in versions.OPERATING_SYSTEMS.values()
            if r.family == release.family and not r.cgroup_v1
        ]
        findings.error(
            ("spec", "os", "version"),
            f"{release.family} {release.version} boots with cgroup v1, and from Kubernetes "
            f"1.{versions.REFUSES_CGROUP_V1_FROM_MINOR} the kubelet refuses to start on cgroup "
            f"v1 (failCgroupV1, KEP-5573) and kubeadm's preflight fails: use an OS that boots "
            f"cgroup v2 ({', '.join(v2)}) or Kubernetes 1.{newest} or older",
        )


def check_subnets(data: dict[str, Any], findings: Findings) -> None:
    networks = {}
    for name, text in cluster_subnets(data["spec"]["kubernetes"]).items():
        # The IPv4 network alone; IPv6 and the dual-stack pairing: generator/spec/dualstack.py.
        ipv4 = netfamily.part(text, 4) if isinstance(text, str) else text
        network = _network(ipv4, ("spec", "kubernetes", name), findings) if ipv4 else None
        if network:
            networks[name] = network
    pods, services = networks.get("podSubnet"), networks.get("serviceSubnet")
    if pods and services and pods.overlaps(services):
        findings.error(
            ("spec", "kubernetes", "serviceSubnet"),
            f"{services} overlaps the pod subnet {pods}; choose two disjoint ranges",
        )
    if services and services.prefixlen < 12:
        findings.error(
            ("spec", "kubernetes", "serviceSubnet"),
            f"{services} is larger than kube-apiserver allows (at most a /12 for IPv4)",
        )
    _check_pod_blocks(pods, len(data["spec"]["nodes"]), findings)
    for index, node in enumerate(data["spec"]["nodes"]):
        address = node_address(node)
        for name, network in networks.items():
            if address and address.ip in network:
                findings.error(
                    ("spec", "nodes", index, "address"),
                    f"{address.ip} lies inside the {name} {network}; "
                    "node addresses must be outside it",
                )
            elif address and address.network.overlaps(network):
                findings.error(
                    ("spec", "nodes", index, "address"),
                    f"the node network {address.network} overlaps the {name} {network}: "
                    "the node would route cluster traffic to its LAN; check the prefix length",
                )


def _check_pod_blocks(
    pods: ipaddress.IPv4Network | None, node_count: int, findings: Findings
) -> None:
    """kube-controller-manager gives each node a /24 of the pod subnet (node-cidr-mask-size)."""
    if pods is None:
        return
    prefix = pods.prefixlen
    blocks = 2 ** (NODE_POD_PREFIX - prefix) if prefix <= NODE_POD_PREFIX else 0
    if blocks < node_count:
        needed = NODE_POD_PREFIX - max(node_count - 1, 0).bit_length()
        findings.error(
            ("spec", "kubernetes", "podSubnet"),
            f"{pods} holds {blocks} /{NODE_POD_PREFIX} blocks for {node_count} nodes: "
            f"Kubernetes gives each node a /{NODE_POD_PREFIX} of the pod subnet "
            f"(node-cidr-mask-size); use a /{needed} or larger, e.g. a /16",
        )


def _network(text: str, path: FieldPath, findings: Findings) -> ipaddress.IPv4Network | None:
    if not isinstance(text, str):
        return None  # ipaddress takes an int (or a bool) as an address: the schema says why not
    try:
        return ipaddress.IPv4Network(text)
    except ValueError as exc:
        hint = ""
        if "host bits" in str(exc):
            hint = f"; did you mean {ipaddress.IPv4Network(text, strict=False)}?"
        findings.error(path, f"{text!r} is not a valid network: {exc}{hint}")
        return None


def check_mirrors(data: dict[str, Any], findings: Findings) -> None:
    mirrors = data["spec"].get("mirrors", {})
    if mirrors.get("preset") == "custom":
        for name in ("images", "packages", "containerd"):
            if name not in mirrors:
                findings.error(("spec", "mirrors"), f"{name} is required with preset custom")
    for registry, urls in mirrors.get("registries", {}).items():
        for index, url in enumerate(urls):
            if refs.mirror_path_segments(url).count("v2") > 1:
                findings.error(
                    (*MIRRORS, "registries", registry, index),
                    "the path names /v2 twice: containerd would pull from "
                    f"{url.rstrip('/')}/<repository>/...; write the API root once, e.g. "
                    "https://harbor.example/v2/<project> (k8sgen tells containerd to use it as is)",
                )
            elif refs.appended_api_root(url):
                findings.warn(
                    (*MIRRORS, "registries", registry, index),
                    f"containerd appends /v2 to this path and pulls from "
                    f"{url.rstrip('/')}/v2/<repository>/...: right for a registry served under "
                    "that prefix; a Harbor or Nexus proxy project is named with /v2 first, "
                    "e.g. https://harbor.example/v2/<project>",
                )


def check_calico(data: dict[str, Any], findings: Findings) -> None:
    calico = data["spec"].get("cni", {}).get("calico", {})
    version = calico.get("version")
    minor = versions.KUBERNETES.get(versions.minor_of(data["spec"]["kubernetes"]["version"]))
    if version is not None:
        calico_minor = versions.calico_minor_of(version)
        if calico_minor not in versions.CALICO:
            findings.error(
                ("spec", "cni", "calico", "version"),
                f"Calico {calico_minor} is not known to k8sgen; "
                f"known: {', '.join(versions.CALICO)}",
            )
        elif minor and calico_minor not in minor.calico_tested:
            tested = ", ".join(minor.calico_tested) or "none yet"
            findings.warn(
                ("spec", "cni", "calico", "version"),
                f"Calico {calico_minor} is not among the releases tested with Kubernetes "
                f"{minor.name} ({tested})",
            )
    elif minor and not minor.calico_tested:
        findings.warn(
            ("spec", "kubernetes", "version"),
            f"no Calico release lists Kubernetes {minor.name} as tested yet; "
            f"using {minor.calico_default}",
        )
    manifest = calico.get("manifest")
    if manifest is not None and not model.is_url(manifest):
        _check_local_manifest(calico, manifest, findings)
    else:
        _check_manifest_hash(calico, version or (minor.calico_default if minor else None), findings)


def _check_local_manifest(calico: dict[str, Any], manifest: str, findings: Findings) -> None:
    path = findings.spec.base_dir / manifest
    if not path.is_file():
        findings.error(
            (*CALICO, "manifest"),
            f"{manifest}: no such file (relative paths start at the spec's folder)",
        )
    for key in ("manifestMirrors", "sha256"):
        if key in calico:
            findings.error(
                (*CALICO, key),
                "applies to a downloaded manifest; manifest names a local file, which is "
                "embedded as it is: remove one of them",
            )


def _check_manifest_hash(calico: dict[str, Any], version: str | None, findings: Findings) -> None:
    """A downloaded manifest is applied only if it has a sha256 k8sgen knows or was given."""
    if version is None or "sha256" in calico or version in versions.CALICO_MANIFEST_SHA256:
        return
    if versions.calico_minor_of(version) not in versions.CALICO:
        return  # check_calico reported the release
    findings.error(
        CALICO,
        f"k8sgen knows no sha256 of Calico {version}'s calico.yaml (it knows "
        f"{', '.join(versions.CALICO_MANIFEST_SHA256)}), and the init node applies no "
        "manifest it cannot verify: set cni.calico.sha256 to the sha256sum of the release's "
        "manifests/calico.yaml, or cni.calico.manifest to a local copy",
    )


def check_bootstrap(data: dict[str, Any], findings: Findings) -> None:
    bootstrap = data["spec"].get("bootstrap", {})
    token = bootstrap.get("token")
    if token is not None and not TOKEN_PATTERN.fullmatch(token):
        findings.error(
            ("spec", "bootstrap", "token"),
            f"a bootstrap token looks like {TOKEN_EXAMPLE} ([a-z0-9]{{6}}.[a-z0-9]{{16}})",
        )
    if bootstrap.get("tokenTTL") == "0":
        findings.warn(
            ("spec", "bootstrap", "tokenTTL"),
            "the bootstrap token never expires; delete it with `kubeadm token delete` "
            "once every node has joined",
        )
    ttl = bootstrap.get("tokenTTL", model.DEFAULT_TOKEN_TTL)
    if ttl_seconds(ttl) > tokenlife.MAX_TTL_SECONDS:
        findings.error(
            ("spec", "bootstrap", "tokenTTL"),
            f"{ttl} is longer than a year ({tokenlife.MAX_TTL_SECONDS // 3600}h); "
            'for a token that never expires say "0"',
        )
    api_wait = bootstrap.get("apiWaitSeconds", model.DEFAULT_API_WAIT_SECONDS)
    if 0 < ttl_seconds(ttl) < api_wait:
        findings.warn(
            ("spec", "bootstrap", "tokenTTL"),
            f"{ttl} is shorter than apiWaitSeconds ({describe_seconds(api_wait)}), "
            "the time nodes may boot apart: a node that runs kubeadm join more than "
            f"{ttl} after kubeadm init cannot join",
        )
    retries = bootstrap.get("retries", {})
    initial = retries.get("initialDelaySeconds", model.DEFAULT_RETRY_INITIAL_DELAY)
    if retries.get("maxDelaySeconds", model.DEFAULT_RETRY_MAX_DELAY) < initial:
        findings.error(
            ("spec", "bootstrap", "retries", "maxDelaySeconds"),
            f"must be at least initialDelaySeconds ({initial})",
        )


def check_offline(data: dict[str, Any], findings: Findings) -> None:
    offline = data["spec"].get("offline", {})
    if offline.get("bundle") and offline.get("enabled") is False:
        findings.error(
            ("spec", "offline", "enabled"),
            "bundle: true implies the zero-egress guarantee; remove enabled: false",
        )
    if offline.get("bundle") and data["spec"].get("bootstrap", {}).get("baked"):
        findings.error(
            ("spec", "offline", "bundle"),
            "a baked image (bootstrap.baked) already holds the packages and images; "
            "the Packer bake does not read a bundle: use one or the other",
        )
    os_spec = data["spec"]["os"]
    release = versions.OPERATING_SYSTEMS.get((os_spec["family"], os_spec["version"]))
    if offline.get("bundle") and release and release.package_format not in BUNDLE_FORMATS:
        findings.error(
            ("spec", "offline", "bundle"),
            f"bundles carry {', '.join(BUNDLE_FORMATS)} packages only, and {release.family} "
            f"installs {release.package_format}: use a private mirror (offline.enabled) instead",
        )
