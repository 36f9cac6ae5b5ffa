"""What an operator adds to kubeadm and to a node's first boot, as frozen data.

spec.kubeadm (cluster-wide: component flags and volumes, KubeletConfiguration and
KubeProxyConfiguration fields) and, per role (spec.roles) and per node (spec.nodes[]):
taints, labels, extra files, pre/post-kubeadm commands and kubeadm patches.
Merging: a node's labels override its role's key by key; files, commands and patches are the
role's then the node's; taints are the node's if it names them, else the role's, else
kubeadm's default (absent: "keep the default"; a list: exactly these; []: none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Component name in spec.kubeadm -> where kubeadm's ClusterConfiguration holds it.
COMPONENTS = {
    "apiServer": "apiServer",
    "controllerManager": "controllerManager",
    "scheduler": "scheduler",
    "etcd": "etcd",  # rendered under etcd.local: k8sgen's etcd is stacked
}
DEFAULT_FILE_PERMISSIONS = "0644"
DEFAULT_FILE_OWNER = "root:root"
MAX_FILE_BYTES = 1024 * 1024  # user-data must stay small: a file is embedded in every node's
# kubeadm's patch file name: <target><suffix>+<type>.yaml, applied per target in name order
# (cmd/kubeadm/app/util/patches/patches.go parseFilename).
PATCH_TYPES = ("strategic", "merge", "json")
DEFAULT_PATCH_TYPE = "strategic"
STATIC_POD_TARGETS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
PATCH_TARGETS = (*STATIC_POD_TARGETS, "kubeletconfiguration")


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str

    def as_kubeadm(self) -> dict[str, str]:
        value = {"value": self.value} if self.value else {}
        return {"key": self.key, **value, "effect": self.effect}


@dataclass(frozen=True)
class NodeFile:
    """A file cloud-init writes before the bootstrap starts (write_files)."""

    path: str
    content: bytes | None  # None: not read yet from source (node_files.embed_node_files)
    permissions: str = DEFAULT_FILE_PERMISSIONS
    owner: str = DEFAULT_FILE_OWNER
    source: Path | None = None  # the local file it comes from


@dataclass(frozen=True)
class KubeadmPatch:
    target: str
    type: str
    patch: Any  # a mapping (strategic, merge) or a list of operations (json)


@dataclass(frozen=True)
class NodeExtras:
    """A node's share of spec.roles.<role> and its own fields, merged."""

    taints: tuple[Taint, ...] | None = None  # None: kubeadm's default for the role
    files: tuple[NodeFile, ...] = ()
    pre_kubeadm: tuple[str, ...] = ()
    post_kubeadm: tuple[str, ...] = ()
    patches: tuple[KubeadmPatch, ...] = ()


@dataclass(frozen=True)
class Component:
    extra_args: tuple[tuple[str, str], ...] = ()  # sorted by flag name
    extra_volumes: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class KubeadmSettings:
    """spec.kubeadm: what every node's kubeadm configuration carries beyond k8sgen's own."""

    components: tuple[tuple[str, Component], ...] = ()  # COMPONENTS keys, in that order
    kubelet: dict[str, Any] = field(default_factory=dict)  # KubeletConfiguration fields
    kube_proxy: dict[str, Any] = field(default_factory=dict)  # KubeProxyConfiguration fields

    def component(self, name: str) -> Component:
        return dict(self.components).get(name, Component())


def build_kubeadm_settings(data: dict[str, Any]) -> KubeadmSettings:
    components = tuple((name, _component(data[name])) for name in COMPONENTS if name in data)
    return KubeadmSettings(
        components, dict(data.get("kubelet", {})), dict(data.get("kubeProxy", {}))
    )


def _component(data: dict[str, Any]) -> Component:
    args = tuple(sorted((k, str(v)) for k, v in data.get("extraArgs", {}).items()))
    return Component(args, tuple(dict(v) for v in data.get("extraVolumes", ())))


def role_settings(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """spec.roles.<the node's role>, or nothing."""
    settings: dict[str, Any] = spec.get("roles", {}).get(node["role"], {})
    return settings


def merged_labels(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, str]:
    return {**role_settings(spec, node).get("labels", {}), **node.get("labels", {})}


def merged_taints(spec: dict[str, Any], node: dict[str, Any]) -> list[dict[str, str]] | None:
    """The node's taints, else its role's, else None (kubeadm's default)."""
    for source in (node, role_settings(spec, node)):
        if "taints" in source:
            taints: list[dict[str, str]] = source["taints"]
            return taints
    return None


def merged_list(spec: dict[str, Any], node: dict[str, Any], name: str) -> list[Any]:
    """The role's items of list field NAME, then the node's."""
    return [*role_settings(spec, node).get(name, ()), *node.get(name, ())]


def build_extras(spec: dict[str, Any], node: dict[str, Any], base_dir: Path) -> NodeExtras:
    taints = merged_taints(spec, node)
    return NodeExtras(
        taints=None if taints is None else tuple(_taint(t) for t in taints),
        files=tuple(_file(f, base_dir) for f in merged_list(spec, node, "files")),
        pre_kubeadm=tuple(merged_list(spec, node, "preKubeadmCommands")),
        post_kubeadm=tuple(merged_list(spec, node, "postKubeadmCommands")),
        patches=tuple(
            KubeadmPatch(p["target"], p.get("type", DEFAULT_PATCH_TYPE), p["patch"])
            for p in merged_list(spec, node, "kubeadmPatches")
        ),
    )


def _taint(data: dict[str, str]) -> Taint:
    return Taint(data["key"], data.get("value", ""), data["effect"])


def _file(data: dict[str, Any], base_dir: Path) -> NodeFile:
    """Pure, like the whole model: a source is only named here, read by embed_node_files."""
    return NodeFile(
        data["path"],
        data["content"].encode() if "content" in data else None,
        data.get("permissions", DEFAULT_FILE_PERMISSIONS),
        data.get("owner", DEFAULT_FILE_OWNER),
        base_dir / data["source"] if "source" in data else None,
    )
