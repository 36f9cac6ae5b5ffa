"""Check a loaded spec: the JSON Schema first, then what a schema cannot say."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from generator import model, tokenlife, validate_ha, versions
from generator.errors import Problem, SpecError
from generator.load import FieldPath, LoadedSpec, format_path, load_spec
from generator.model import DEFAULT_POD_SUBNET, DEFAULT_SERVICE_SUBNET
from generator.resources import load_schema

SCHEMA_FILE = "cluster.schema.json"
BUNDLE_FORMATS = ("deb",)  # package formats `k8sgen bundle` collects and nodes install
TOKEN_PATTERN = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
# Label prefixes the kubelet may set on its own Node (NodeRestriction admission).
KUBELET_LABEL_PREFIXES = ("node.kubernetes.io", "node-restriction.kubernetes.io")


@dataclass
class Findings:
    """Problems (the spec is refused) and warnings (it is accepted, with a caveat)."""

    spec: LoadedSpec
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

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
    """Run every check that the data's shape allows, so all problems come out at once."""
    flagged = {p.path for p in findings.problems}
    semantic = Findings(spec)
    for check in SEMANTIC_CHECKS:
        try:
            check(spec.data, semantic)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            continue  # that part of the spec is malformed: the schema already said how
    # A field the schema already flagged needs no second message.
    findings.problems += [p for p in semantic.problems if p.path not in flagged]
    findings.warnings += semantic.warnings


def schema_problems(spec: LoadedSpec, findings: Findings) -> None:
    validator = jsonschema.Draft202012Validator(load_schema(SCHEMA_FILE))
    for error in validator.iter_errors(spec.data):
        for path, message in _explain(error):
            findings.error(path, message)


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


# --- semantic checks: a check that meets malformed data raises and is skipped -----------

Check = Callable[[dict[str, Any], Findings], None]


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
    if "firewalld" in os_spec and not family.firewalld:
        with_firewalld = ", ".join(f.name for f in versions.OS_FAMILIES.values() if f.firewalld)
        findings.error(
            ("spec", "os", "firewalld"),
            f"{family.name} images do not run firewalld; the setting applies to "
            f"{with_firewalld} only: remove it",
        )


def check_subnets(data: dict[str, Any], findings: Findings) -> None:
    kube = data["spec"]["kubernetes"]
    networks = {}
    defaults = (("podSubnet", DEFAULT_POD_SUBNET), ("serviceSubnet", DEFAULT_SERVICE_SUBNET))
    for name, default in defaults:
        network = _network(kube.get(name, default), ("spec", "kubernetes", name), findings)
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
    for index, node in enumerate(data["spec"]["nodes"]):
        address = _interface(node)
        for name, network in networks.items():
            if address and address.ip in network:
                findings.error(
                    ("spec", "nodes", index, "address"),
                    f"{address.ip} lies inside the {name} {network}; "
                    "node addresses must be outside it",
                )


def _network(text: str, path: FieldPath, findings: Findings) -> ipaddress.IPv4Network | None:
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
    try:
        return ipaddress.IPv4Interface(node["address"]) if "address" in node else None
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
    if address.network.prefixlen >= 31 or address.ip in (
        address.network.network_address,
        address.network.broadcast_address,
    ):
        findings.error(
            ("spec", "nodes", index, "address"),
            f"{address} is not a usable host address in {address.network}",
        )
    gateway = node.get("gateway")
    if gateway is not None:
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
    for dns_index, server in enumerate(node.get("dns", [])):
        try:
            ipaddress.IPv4Address(server)
        except ValueError as exc:
            findings.error(
                ("spec", "nodes", index, "dns", dns_index), f"not a valid address: {exc}"
            )


def check_labels(data: dict[str, Any], findings: Findings) -> None:
    for index, node in enumerate(data["spec"]["nodes"]):
        for key in node.get("labels", {}):
            prefix = key.split("/", 1)[0] if "/" in key else ""
            restricted = prefix.endswith(("kubernetes.io", "k8s.io"))
            if restricted and not prefix.endswith(KUBELET_LABEL_PREFIXES):
                findings.error(
                    ("spec", "nodes", index, "labels", key),
                    "the kubelet may not set labels in the kubernetes.io or k8s.io namespaces "
                    "(NodeRestriction); use your own prefix or node.kubernetes.io/",
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
    mirrors = data["spec"].get("mirrors", {})
    if mirrors.get("preset", "aliyun") == "aliyun" and "manifest" not in calico:
        findings.warn(
            ("spec", "cni"),
            "the Calico manifest will be downloaded from GitHub (raw.githubusercontent.com), "
            "often unreachable from mainland China: set cni.calico.manifest to a local "
            "calico.yaml to embed it, or to a URL on a reachable mirror",
        )
    manifest = calico.get("manifest")
    if manifest is not None and not manifest.startswith(("http://", "https://")):
        path = findings.spec.base_dir / manifest
        if not path.is_file():
            findings.error(
                ("spec", "cni", "calico", "manifest"),
                f"{manifest}: no such file (relative paths start at the spec's folder)",
            )


def check_bootstrap(data: dict[str, Any], findings: Findings) -> None:
    bootstrap = data["spec"].get("bootstrap", {})
    token = bootstrap.get("token")
    if token is not None and not TOKEN_PATTERN.match(token):
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


SEMANTIC_CHECKS: tuple[Check, ...] = (
    check_kubernetes_version,
    check_os,
    check_subnets,
    check_nodes,
    check_labels,
    check_endpoint,
    check_mirrors,
    check_calico,
    check_bootstrap,
    *validate_ha.CHECKS,
    check_offline,
)


def load_and_validate(path: Path) -> Findings:
    return validate(load_spec(path))
