"""Check a loaded spec: the JSON Schema first, then what a schema cannot say."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from generator import (
    model,
    netfamily,
    refs,
    tokenlife,
    validate_dualstack,
    validate_ha,
    validate_net,
    versions,
)
from generator.errors import Problem, SpecError
from generator.load import FieldPath, LoadedSpec, format_path, load_spec
from generator.resources import load_schema
from generator.schema import control_characters, strict_validator

SCHEMA_FILE = "cluster.schema.json"
BUNDLE_FORMATS = ("deb",)  # package formats `k8sgen bundle` collects and nodes install
TOKEN_PATTERN = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
# The kubelet's own --node-labels rule (kubelet ValidateKubeletFlags / IsKubeletLabel,
# k8s.io/kubelet/pkg/apis/well_known_labels.go): in these namespaces (or their subdomains)...
KUBERNETES_LABEL_NAMESPACES = ("kubernetes.io", "k8s.io")
# ...only these namespaces (or their subdomains) and these exact keys are allowed.
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
KUBELET_LABELS = frozenset(
    {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "beta.kubernetes.io/instance-type",
        "node.kubernetes.io/instance-type",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
    }
)
# A node network wider than this is a typo (/0, /1...), never a LAN.
MIN_NODE_PREFIX = 8
NODE_POD_PREFIX = 24  # kube-controller-manager's --node-cidr-mask-size for IPv4 (default)


@dataclass
class Findings:
    """Problems (the spec is refused) and warnings (it is accepted, with a caveat)."""

    spec: LoadedSpec
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    malformed: list[FieldPath] = field(default_factory=list)  # where the data has a wrong shape

    def error(self, path: FieldPath, message: str) -> None:
        self.problems.append(Problem(self.spec.line_of(path), format_path(path), message))

    def warn(self, path: FieldPath, message: str) -> None:
        self.warnings.append(Problem(self.spec.line_of(path), format_path(path), message))


def validate(spec: LoadedSpec) -> Findings:
    """Every problem at once; raises SpecError when there is any, else returns the warnings."""
    findings = Findings(spec)
    schema_problems(spec, findings)
    _semantic_problems(spec, findings)
    if findings.problems:
        raise SpecError(spec.filename, findings.problems)
    findings.warnings.sort()
    return findings


def _semantic_problems(spec: LoadedSpec, findings: Findings) -> None:
    """Run every check whose input the schema found well-formed, so all problems come out at
    once. A check that raises on such input is a bug: the exception goes up, never skipped."""
    flagged = {p.path for p in findings.problems}
    semantic = Findings(spec)
    for check in SEMANTIC_CHECKS:
        if not any(_overlap(read, bad) for read in check.reads for bad in findings.malformed):
            check.run(spec.data, semantic)
    # A field the schema already flagged needs no second message.
    findings.problems += [p for p in semantic.problems if p.path not in flagged]
    findings.warnings += semantic.warnings


def _overlap(read: FieldPath, bad: FieldPath) -> bool:
    """One path lies inside the other (or they are the same); ANY in read matches any part."""
    return all(mine in (ANY, theirs) for mine, theirs in zip(read, bad, strict=False))


def schema_problems(spec: LoadedSpec, findings: Findings) -> None:
    flagged = set()
    for path, message in control_characters(spec.data):
        findings.error(path, message)
        findings.malformed.append(path)
        flagged.add(path)
    for error in strict_validator(load_schema(SCHEMA_FILE)).iter_errors(spec.data):
        for path, message in _explain(error):
            if path not in flagged:
                findings.error(path, message)
        # An unknown field leaves the known ones intact; any other error can break a check.
        if error.validator != "additionalProperties":
            findings.malformed.append(tuple(error.absolute_path))


def _explain(error: jsonschema.ValidationError) -> Iterator[tuple[FieldPath, str]]:
    """Turn jsonschema's wording into one message per field an operator can find."""
    path: FieldPath = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(_schema_of(error).get("properties", {}))
        known = set(allowed)
        for key in sorted(k for k in error.instance if k not in known):
            hint = f" (expected one of: {', '.join(allowed)})" if allowed else ""
            yield (*path, key), f"unknown field{hint}"
        return
    number = isinstance(error.instance, (int, float)) and not isinstance(error.instance, bool)
    if error.validator == "type" and error.validator_value == "string" and number:
        yield path, f'{error.instance!r} must be a string: quote it, e.g. "{error.instance}"'
        return
    if error.validator == "pattern":
        yield path, f"{error.instance!r} is not valid here: {_pattern_hint(error)}"
        return
    if error.validator == "anyOf":
        yield (
            path,
            f"{error.instance!r} is not valid here: {_schema_of(error).get('description', '')}",
        )
        return
    yield path, error.message


def _schema_of(error: jsonschema.ValidationError) -> dict[str, Any]:
    return error.schema if isinstance(error.schema, dict) else {}


def _pattern_hint(error: jsonschema.ValidationError) -> str:
    described = _schema_of(error).get("description")
    if described:
        return str(described).rstrip(".")
    return f"must match {error.validator_value}"


# --- semantic checks: each runs only where the schema found the parts it reads well-formed --

Check = Callable[[dict[str, Any], Findings], None]

ANY = "*"  # in a path a check reads: every item of a list, every key of a mapping
KUBERNETES = ("spec", "kubernetes")
NODES = ("spec", "nodes")
NODE_ADDRESSES = (*NODES, ANY, "address")
NODE_ROLES = (*NODES, ANY, "role")
CONTROL_PLANE = ("spec", "controlPlane")
MIRRORS = ("spec", "mirrors")
BOOTSTRAP = ("spec", "bootstrap")
OS = ("spec", "os")
NETWORK = ("spec", "network")
CALICO = ("spec", "cni", "calico")


@dataclass(frozen=True)
class SemanticCheck:
    run: Check
    reads: tuple[FieldPath, ...]  # the parts of the spec it reads (defaults included)


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
    kube = data["spec"]["kubernetes"]
    networks = {}
    for name, _ in netfamily.SUBNETS:
        text = netfamily.part(netfamily.subnet(kube, name), 4)  # IPv6: validate_dualstack.py
        network = _network(text, ("spec", "kubernetes", name), findings) if text else None
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
        address = _interface(node)
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


def _interface(node: dict[str, Any]) -> ipaddress.IPv4Interface | None:
    """The node's static address, or None (DHCP, or invalid: check_nodes reports that)."""
    if not isinstance(node.get("address"), str):
        return None
    try:
        return ipaddress.IPv4Interface(node["address"])
    except ValueError:
        return None


def check_nodes(data: dict[str, Any], findings: Findings) -> None:
    nodes = data["spec"]["nodes"]
    seen_names: dict[str, int] = {}
    seen_addresses: dict[str, int] = {}
    for index, node in enumerate(nodes):
        name = node["name"]
        if name in seen_names:
            findings.error(
                ("spec", "nodes", index, "name"), f"{name!r} is also node {seen_names[name]}"
            )
        seen_names.setdefault(name, index)
        address = _interface(node)
        if address is None:
            if "address" in node:
                findings.error(
                    ("spec", "nodes", index, "address"), "not a valid IPv4 address/prefix"
                )
            continue
        ip = str(address.ip)
        if ip in seen_addresses:
            findings.error(
                ("spec", "nodes", index, "address"),
                f"{ip} is also the address of node {seen_addresses[ip]}",
            )
        seen_addresses.setdefault(ip, index)
        _check_address_use(node, index, address, findings)
    if not any(node["role"] == "control-plane" for node in nodes):
        findings.error(("spec", "nodes"), "no node has role control-plane; at least one is needed")


def _check_address_use(
    node: dict[str, Any], index: int, address: ipaddress.IPv4Interface, findings: Findings
) -> None:
    if address.network.prefixlen < MIN_NODE_PREFIX:
        findings.error(
            ("spec", "nodes", index, "address"),
            f"/{address.network.prefixlen} is not a LAN: the node would treat "
            f"{address.network} as directly reachable; give the prefix of its real network "
            f"(/{MIN_NODE_PREFIX} to /30, usually /24)",
        )
    elif _not_a_host(address.ip, address.network):
        findings.error(
            ("spec", "nodes", index, "address"),
            f"{address} is not a usable host address in {address.network}",
        )
    gateway = node.get("gateway")
    if isinstance(gateway, str):
        try:
            gateway_ip = ipaddress.IPv4Address(gateway)
        except ValueError as exc:
            findings.error(("spec", "nodes", index, "gateway"), f"not a valid address: {exc}")
            return
        if gateway_ip not in address.network or gateway_ip == address.ip:
            findings.error(
                ("spec", "nodes", index, "gateway"),
                f"{gateway} must be another address inside the node's network {address.network}",
            )
        elif _not_a_host(gateway_ip, address.network):
            findings.error(
                ("spec", "nodes", index, "gateway"),
                f"{gateway} is the network or broadcast address of {address.network}, not a router",
            )
    for dns_index, server in enumerate(node.get("dns", [])):
        _check_dns_server(server, ("spec", "nodes", index, "dns", dns_index), findings)


def _not_a_host(ip: ipaddress.IPv4Address, network: ipaddress.IPv4Network) -> bool:
    return network.prefixlen >= 31 or ip in (network.network_address, network.broadcast_address)


def _check_dns_server(server: str, path: FieldPath, findings: Findings) -> None:
    if not isinstance(server, str):
        return  # the schema says what it should be
    try:
        ip = ipaddress.ip_address(server)  # IPv4 or IPv6
    except ValueError as exc:
        findings.error(path, f"not a valid address: {exc}")
        return
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        # is_reserved: 240.0.0.0/4, which holds the broadcast address 255.255.255.255.
        findings.error(path, f"{ip} cannot answer DNS queries (unspecified, multicast or reserved)")


def in_namespace(namespace: str, parents: tuple[str, ...]) -> bool:
    """NAMESPACE is one of PARENTS or a subdomain of one."""
    return any(namespace == parent or namespace.endswith("." + parent) for parent in parents)


def kubelet_refuses_label(key: str) -> bool:
    """The kubelet refuses to start with this key in --node-labels."""
    namespace = key.split("/", 1)[0] if "/" in key else ""
    if not in_namespace(namespace, KUBERNETES_LABEL_NAMESPACES) or key in KUBELET_LABELS:
        return False
    return not in_namespace(namespace, KUBELET_LABEL_NAMESPACES)


def check_labels(data: dict[str, Any], findings: Findings) -> None:
    allowed = ", ".join(f"[*.]{namespace}/" for namespace in KUBELET_LABEL_NAMESPACES)
    for index, node in enumerate(data["spec"]["nodes"]):
        for key in node.get("labels", {}):
            if kubelet_refuses_label(key):
                findings.error(
                    ("spec", "nodes", index, "labels", key),
                    "the kubelet refuses --node-labels in the kubernetes.io and k8s.io "
                    f"namespaces except {allowed} and well-known keys such as "
                    "topology.kubernetes.io/zone; use your own prefix or node.kubernetes.io/",
                )


def check_endpoint(data: dict[str, Any], findings: Findings) -> None:
    control_planes = [n for n in data["spec"]["nodes"] if n["role"] == "control-plane"]
    endpoint = data["spec"].get("controlPlane", {}).get("endpoint")
    if endpoint is None and "vip" in data["spec"].get("controlPlane", {}):
        return  # the VIP's address:6443 (validate_ha checks the VIP)
    if endpoint is None:
        if len(control_planes) > 1:
            findings.error(
                ("spec", "controlPlane"),
                f"endpoint is required with {len(control_planes)} control planes "
                "(a load balancer in front of all of them, HOST:PORT), or a vip",
            )
        elif control_planes and "address" not in control_planes[0]:
            findings.error(
                ("spec", "controlPlane"),
                "endpoint is required when the control plane has no static address "
                "(workers must know where to join)",
            )
        return
    port = int(endpoint.rsplit(":", 1)[1])
    if not 1 <= port <= 65535:
        findings.error(("spec", "controlPlane", "endpoint"), f"port {port} is outside 1-65535")


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
            "a bootstrap token looks like abcdef.0123456789abcdef ([a-z0-9]{6}.[a-z0-9]{16})",
        )
    if bootstrap.get("tokenTTL") == "0":
        findings.warn(
            ("spec", "bootstrap", "tokenTTL"),
            "the bootstrap token never expires; delete it with `kubeadm token delete` "
            "once every node has joined",
        )
    ttl = bootstrap.get("tokenTTL", model.DEFAULT_TOKEN_TTL)
    if tokenlife.ttl_seconds(ttl) > tokenlife.MAX_TTL_SECONDS:
        findings.error(
            ("spec", "bootstrap", "tokenTTL"),
            f"{ttl} is longer than a year ({tokenlife.MAX_TTL_SECONDS // 3600}h); "
            'for a token that never expires say "0"',
        )
    api_wait = bootstrap.get("apiWaitSeconds", model.DEFAULT_API_WAIT_SECONDS)
    if 0 < tokenlife.ttl_seconds(ttl) < api_wait:
        findings.warn(
            ("spec", "bootstrap", "tokenTTL"),
            f"{ttl} is shorter than apiWaitSeconds ({tokenlife.describe_seconds(api_wait)}), "
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


SEMANTIC_CHECKS: tuple[SemanticCheck, ...] = (
    SemanticCheck(check_kubernetes_version, ((*KUBERNETES, "version"),)),
    SemanticCheck(check_os, (OS, (*KUBERNETES, "version"))),
    SemanticCheck(check_subnets, (KUBERNETES, NODE_ADDRESSES)),
    SemanticCheck(check_nodes, (NODES,)),
    SemanticCheck(check_labels, ((*NODES, ANY, "labels"),)),
    SemanticCheck(check_endpoint, (NODE_ROLES, NODE_ADDRESSES, CONTROL_PLANE)),
    SemanticCheck(check_mirrors, (MIRRORS,)),
    SemanticCheck(check_calico, (("spec", "cni"), (*KUBERNETES, "version"))),
    SemanticCheck(check_bootstrap, (BOOTSTRAP,)),
    SemanticCheck(
        validate_ha.check_vip,
        (CONTROL_PLANE, NODE_ADDRESSES, NODE_ROLES, (*NODES, ANY, "name"), KUBERNETES, MIRRORS),
    ),
    SemanticCheck(validate_ha.check_control_plane_count, (NODE_ROLES,)),
    SemanticCheck(validate_net.check_interfaces, (NODES, NETWORK, OS)),
    SemanticCheck(validate_net.check_macs, ((*NODES, ANY, "mac"),)),
    SemanticCheck(validate_net.check_vip_interface, (CONTROL_PLANE, NODES, NETWORK, OS)),
    SemanticCheck(check_offline, (("spec", "offline"), BOOTSTRAP, OS)),
    *(SemanticCheck(run, reads) for run, reads in validate_dualstack.CHECKS),
)


def load_and_validate(path: Path) -> Findings:
    return validate(load_spec(path))
