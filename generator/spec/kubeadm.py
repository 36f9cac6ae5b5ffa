"""Semantic checks of spec.kubeadm, spec.roles and each node's taints, labels, files, commands
and kubeadm patches (generator/nodeconfig.py builds them)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from generator import layout, versions
from generator.inputs import InputError, read_input
from generator.model import API_PORT
from generator.nodeconfig import (
    MAX_FILE_BYTES,
    STATIC_POD_TARGETS,
    merged_list,
    merged_taints,
)
from generator.render.kubeadm import KUBE_PROXY_API, KUBELET_API
from generator.resources import load_schema
from generator.spec.findings import ANY, Findings, SemanticCheck
from generator.spec.load import FieldPath
from generator.spec.schema import strict_validator

CONTROL_PLANE_TAINT = "node-role.kubernetes.io/control-plane"
# The API server's label-key rule (k8s.io/apimachinery pkg/util/validation/validation.go:41
# IsQualifiedName: an optional DNS-1123 subdomain prefix of at most 253 characters, then a
# name of at most 63), which validateNodeTaints (pkg/apis/core/validation/validation.go:6830)
# applies to taint keys too; the value and effect rules are in the schema (labelValue, enum).
QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
QUALIFIED_NAME_MAX = 63
SUBDOMAIN_MAX = 253
# Folders k8sgen and kubeadm write: an extra file there would fight them.
KUBERNETES_DIR = str(PurePosixPath(layout.PKI_DIR).parent)  # kubeadm's: /etc/kubernetes
RESERVED_DIRS = (layout.CONFIG_DIR, layout.STATE_DIR, layout.LOG_DIR, KUBERNETES_DIR)
RESERVED_FILES = (layout.BOOTSTRAP_SCRIPT, layout.BOOTSTRAP_UNIT_FILE)
# Flags k8sgen renders from the spec itself: the field to change instead.
OWNED_ARGS = {
    "apiServer": {
        "advertise-address": "spec.nodes[].address",
        "secure-port": f"k8sgen's API port {API_PORT} (the endpoint's port is a balancer's)",
        "service-cluster-ip-range": "spec.kubernetes.serviceSubnet",
    },
    "controllerManager": {
        "cluster-cidr": "spec.kubernetes.podSubnet",
        "service-cluster-ip-range": "spec.kubernetes.serviceSubnet",
        "cluster-name": "metadata.name",
    },
}
OWNED_KUBELET = {
    "apiVersion": "k8sgen writes it",
    "kind": "k8sgen writes it",
    "cgroupDriver": "k8sgen sets systemd, as containerd's SystemdCgroup = true",
    "clusterDomain": "spec.kubernetes.dnsDomain",
    "clusterDNS": "kubeadm derives it from spec.kubernetes.serviceSubnet",
    "containerRuntimeEndpoint": "k8sgen's containerd socket",
    "registerWithTaints": "the taints fields of spec.roles and spec.nodes",
    "staticPodPath": f"kubeadm's {layout.STATIC_PODS_DIR}",
}
OWNED_KUBE_PROXY = {
    "apiVersion": "k8sgen writes it",
    "kind": "k8sgen writes it",
    "clusterCIDR": "spec.kubernetes.podSubnet",
}
KUBELET_SCHEMA = "kubelet-config-v1beta1.schema.json"
KUBE_PROXY_SCHEMA = "kubeproxy-config-v1alpha1.schema.json"
KUBEADM = ("spec", "kubeadm")
ROLES = ("spec", "roles")


def qualified_name_problem(key: str) -> str | None:
    """Why the API server refuses KEY as a label or taint key, or None."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > SUBDOMAIN_MAX):
        return f"the prefix before / must be 1 to {SUBDOMAIN_MAX} characters"
    if prefix and not DNS1123_SUBDOMAIN.fullmatch(prefix):
        return f"the prefix {prefix!r} must be a DNS subdomain (lower case, e.g. example.com)"
    if not 0 < len(name) <= QUALIFIED_NAME_MAX or not QUALIFIED_NAME.fullmatch(name):
        return (
            f"the name {name!r} must be 1 to {QUALIFIED_NAME_MAX} letters, digits, -, _ or ., "
            "beginning and ending with a letter or digit"
        )
    return None


def settings_sources(spec: dict[str, Any]) -> Iterator[tuple[FieldPath, dict[str, Any]]]:
    """(path, mapping) of every spec.roles.<role> and every node: where the fields live."""
    for role, settings in spec.get("roles", {}).items():
        yield (*ROLES, role), settings
    for index, node in enumerate(spec["nodes"]):
        yield ("spec", "nodes", index), node


def check_taints_and_labels(data: dict[str, Any], findings: Findings) -> None:
    for path, source in settings_sources(data["spec"]):
        seen: dict[tuple[str, str], int] = {}
        for index, taint in enumerate(source.get("taints", ())):
            problem = qualified_name_problem(taint["key"])
            if problem:
                findings.error((*path, "taints", index, "key"), f"not a valid taint key: {problem}")
            pair = (taint["key"], taint["effect"])
            if pair in seen:
                findings.error(
                    (*path, "taints", index),
                    f"taints[{seen[pair]}] has the same key and effect: taints must be unique "
                    "by key and effect pair (as the API server requires)",
                )
            seen.setdefault(pair, index)
        for key in source.get("labels", {}):
            problem = qualified_name_problem(key)
            if problem:
                findings.error((*path, "labels", key), f"not a valid label key: {problem}")
    _warn_untainted_control_planes(data["spec"], findings)


def _warn_untainted_control_planes(spec: dict[str, Any], findings: Findings) -> None:
    if all(n["role"] == "control-plane" for n in spec["nodes"]):
        return  # no workers: control planes must take workloads
    for index, node in enumerate(spec["nodes"]):
        taints = merged_taints(spec, node)
        if node["role"] != "control-plane" or taints is None:
            continue
        if not any(t["key"] == CONTROL_PLANE_TAINT for t in taints):
            path = (
                ("spec", "nodes", index, "taints")
                if "taints" in node
                else (*ROLES, "control-plane", "taints")
            )
            findings.warn(
                path,
                f"control plane {node['name']} gets no {CONTROL_PLANE_TAINT}:NoSchedule taint: "
                "ordinary workloads will run beside the API server; list that taint to keep it",
            )


def check_files(data: dict[str, Any], findings: Findings) -> None:
    for path, source in settings_sources(data["spec"]):
        for index, file in enumerate(source.get("files", ())):
            _check_file(file, (*path, "files", index), findings)
    for index, node in enumerate(data["spec"]["nodes"]):
        seen: set[str] = set()
        for file in merged_list(data["spec"], node, "files"):
            if file["path"] in seen:
                findings.error(
                    ("spec", "nodes", index),
                    f"{file['path']} is written twice on node {node['name']} (by its role's "
                    "files and its own, or twice in one list): keep one",
                )
            seen.add(file["path"])


def _check_file(file: dict[str, Any], path: FieldPath, findings: Findings) -> None:
    if ("content" in file) == ("source" in file):
        findings.error(path, "give exactly one of content (the text) or source (a local file)")
    target = PurePosixPath(file["path"])
    if ".." in target.parts or str(target) != file["path"]:
        findings.error((*path, "path"), f"write {target} without '..', '.' or repeated '/'")
    elif str(target) in RESERVED_FILES or any(
        target.is_relative_to(folder) for folder in RESERVED_DIRS
    ):
        findings.error(
            (*path, "path"),
            f"k8sgen or kubeadm writes {target}: extra files may not go to "
            f"{', '.join(RESERVED_DIRS)} or replace the bootstrap (for kubeadm's own files, "
            "use kubeadmPatches)",
        )
    if "source" in file:
        try:
            read_input(findings.spec.base_dir / file["source"], "file for a node", MAX_FILE_BYTES)
        except InputError as exc:
            findings.error((*path, "source"), f"{exc} (relative paths start at the spec's folder)")


def check_patches(data: dict[str, Any], findings: Findings) -> None:
    for path, source in settings_sources(data["spec"]):
        role = source.get("role") or path[-1]
        for index, patch in enumerate(source.get("kubeadmPatches", ())):
            where = (*path, "kubeadmPatches", index)
            if role == "worker" and patch["target"] in STATIC_POD_TARGETS:
                findings.error(
                    (*where, "target"),
                    f"a worker runs no {patch['target']} static pod: only control planes do; "
                    "on a worker the one target is kubeletconfiguration",
                )
            is_list = isinstance(patch["patch"], list)
            if is_list != (patch.get("type") == "json"):
                findings.error(
                    (*where, "patch"),
                    "a json patch is a list of operations (op, path, value); strategic and "
                    "merge patches are a mapping",
                )


def check_components(data: dict[str, Any], findings: Findings) -> None:
    settings = data["spec"].get("kubeadm", {})
    for component, owned in OWNED_ARGS.items():
        for flag in settings.get(component, {}).get("extraArgs", {}):
            if flag in owned:
                findings.error(
                    (*KUBEADM, component, "extraArgs", flag),
                    f"k8sgen sets --{flag} from {owned[flag]}: change that instead",
                )


def check_kubelet_and_proxy(data: dict[str, Any], findings: Findings) -> None:
    settings = data["spec"].get("kubeadm", {})
    documents = (
        ("kubelet", KUBELET_API, "KubeletConfiguration", KUBELET_SCHEMA, OWNED_KUBELET),
        (
            "kubeProxy",
            KUBE_PROXY_API,
            "KubeProxyConfiguration",
            KUBE_PROXY_SCHEMA,
            OWNED_KUBE_PROXY,
        ),
    )
    for name, api, kind, schema_file, owned in documents:
        fields = settings.get(name)
        if fields is None:
            continue
        path = (*KUBEADM, name)
        for key in fields:
            if key in owned:
                findings.error((*path, key), f"not settable here: {owned[key]}")
        schema = load_schema(schema_file)
        document = {**fields, "apiVersion": api, "kind": kind}
        for error in strict_validator(schema).iter_errors(document):
            for where, message in _explain(error, kind, path):
                if where[len(path) : len(path) + 1] not in [(key,) for key in owned]:
                    findings.error(where, message)
    _check_proxy_mode(data, findings)


def _explain(error: Any, kind: str, path: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    where: FieldPath = (*path, *error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(error.schema.get("properties", {}))
        for key in sorted(set(error.instance) - set(known)):
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            yield (*where, key), f"{kind} has no field {key}{hint}"
        return
    yield where, f"{kind}: {error.message}"


def _check_proxy_mode(data: dict[str, Any], findings: Findings) -> None:
    mode = data["spec"].get("kubeadm", {}).get("kubeProxy", {}).get("mode")
    minor = versions.minor_of(data["spec"]["kubernetes"]["version"])
    if mode == "nftables" and minor < versions.NFTABLES_PROXY_FROM_MINOR:
        findings.error(
            (*KUBEADM, "kubeProxy", "mode"),
            f"kube-proxy's nftables mode is alpha before Kubernetes "
            f"1.{versions.NFTABLES_PROXY_FROM_MINOR} (feature gate NFTablesProxyMode): use "
            "iptables or ipvs, or a newer Kubernetes",
        )


NODE_FIELDS = ("spec", "nodes", ANY)
SEMANTIC_CHECKS: tuple[SemanticCheck, ...] = (
    SemanticCheck(
        check_taints_and_labels,
        (ROLES, (*NODE_FIELDS, "taints"), (*NODE_FIELDS, "labels"), (*NODE_FIELDS, "role")),
    ),
    SemanticCheck(check_files, (ROLES, (*NODE_FIELDS, "files"), (*NODE_FIELDS, "role"))),
    SemanticCheck(check_patches, (ROLES, (*NODE_FIELDS, "kubeadmPatches"), (*NODE_FIELDS, "role"))),
    SemanticCheck(check_components, (KUBEADM,)),
    SemanticCheck(check_kubelet_and_proxy, (KUBEADM, ("spec", "kubernetes", "version"))),
)
