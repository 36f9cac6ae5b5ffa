"""spec.kubeadm, spec.roles and the nodes' taints, labels, files, commands and kubeadm patches:
one invalid spec per check (message and line), and what each field renders to."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.errors import SpecError
from generator.render.parts import IPVS_MODULES
from generator.spec.load import load_text
from generator.spec.validate import validate

from .support.kubeadm import api_validator
from .support.nodedata import files, kubeadm_documents
from .support.repo import REPO
from .support.sandbox import Sandbox
from .support.specs import Rendered, example, render_spec, set_at, write_spec

Mutation = Callable[[dict[str, Any]], None]
EXAMPLE = "node-settings"


def at(path: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        set_at(data, path.split("."), value)

    return mutate


def spec_text(mutate: Mutation) -> str:
    data = example(EXAMPLE)
    mutate(data)
    return yaml.safe_dump(data, sort_keys=False)


def problems(text: str, base_dir: Path = REPO / "examples") -> list[str]:
    with pytest.raises(SpecError) as caught:
        validate(load_text(text, "spec.yaml", base_dir))
    return str(caught.value).splitlines()


TAINT = {"key": "example.com/dedicated", "effect": "NoSchedule"}
CASES: list[tuple[str, Mutation, str]] = [
    (
        "taint key in capitals",
        at("spec.roles.worker.taints", [{**TAINT, "key": "Example.com/x"}]),
        "spec.roles.worker.taints[0].key: 'Example.com/x' is not valid here: A qualified name",
    ),
    (
        "taint key prefix",
        at("spec.roles.worker.taints", [{**TAINT, "key": "a..b/x"}]),
        "spec.roles.worker.taints[0].key: not a valid taint key: the prefix 'a..b' must "
        "be a DNS subdomain (lower case, e.g. example.com)",
    ),
    (
        "taint key name too long",
        at("spec.nodes.1.taints", [{**TAINT, "key": "a" * 64}]),
        "spec.nodes[1].taints[0].key: ",
    ),
    (
        "taint effect",
        at("spec.nodes.1.taints", [{**TAINT, "effect": "NoScheduled"}]),
        "spec.nodes[1].taints[0].effect: 'NoScheduled' is not one of ['NoSchedule', "
        "'PreferNoSchedule', 'NoExecute']",
    ),
    (
        "taint value",
        at("spec.nodes.1.taints", [{**TAINT, "value": "a b"}]),
        "spec.nodes[1].taints[0].value: 'a b' is not valid here: At most 63 characters",
    ),
    (
        "duplicate taint",
        at("spec.nodes.1.taints", [TAINT, {**TAINT, "value": "x"}]),
        "spec.nodes[1].taints[1]: taints[0] has the same key and effect: taints must be unique "
        "by key and effect pair",
    ),
    (
        "role label the kubelet refuses",
        at("spec.roles.worker.labels", {"node-role.kubernetes.io/worker": ""}),
        "spec.roles.worker.labels.node-role.kubernetes.io/worker: the kubelet refuses "
        "--node-labels in the kubernetes.io and k8s.io namespaces",
    ),
    (
        "label key prefix",
        at("spec.roles.worker.labels", {"a..b/x": "y"}),
        "spec.roles.worker.labels.a..b/x: not a valid label key: the prefix 'a..b' must be a DNS "
        "subdomain",
    ),
    (
        "owned apiserver flag",
        at("spec.kubeadm.apiServer.extraArgs.advertise-address", "10.0.0.1"),
        "spec.kubeadm.apiServer.extraArgs.advertise-address: k8sgen sets --advertise-address "
        "from spec.nodes[].address: change that instead",
    ),
    (
        "owned controller-manager flag",
        at("spec.kubeadm.controllerManager.extraArgs.cluster-cidr", "10.1.0.0/16"),
        "spec.kubeadm.controllerManager.extraArgs.cluster-cidr: k8sgen sets --cluster-cidr from "
        "spec.kubernetes.podSubnet: change that instead",
    ),
    (
        "flag with dashes",
        at("spec.kubeadm.scheduler.extraArgs", {"--v": "2"}),
        "spec.kubeadm.scheduler.extraArgs: '--v' is not valid here: A flag name without the "
        "leading dashes, e.g. audit-log-path",
    ),
    (
        "flag value not a string",
        at("spec.kubeadm.scheduler.extraArgs", {"v": 2}),
        'spec.kubeadm.scheduler.extraArgs.v: 2 must be a string: quote it, e.g. "2"',
    ),
    (
        "etcd volumes",
        at("spec.kubeadm.etcd.extraVolumes", []),
        "spec.kubeadm.etcd.extraVolumes: unknown field (expected one of: extraArgs)",
    ),
    (
        "owned kubelet field",
        at("spec.kubeadm.kubelet.cgroupDriver", "cgroupfs"),
        "spec.kubeadm.kubelet.cgroupDriver: not settable here: k8sgen sets systemd, as "
        "containerd's SystemdCgroup = true",
    ),
    (
        "kubelet field type",
        at("spec.kubeadm.kubelet.maxPods", "many"),
        "spec.kubeadm.kubelet.maxPods: KubeletConfiguration: 'many' is not of type 'integer'",
    ),
    (
        "kube-proxy typo",
        at("spec.kubeadm.kubeProxy", {"mdoe": "ipvs"}),
        "spec.kubeadm.kubeProxy.mdoe: KubeProxyConfiguration has no field mdoe (did you mean "
        "mode?)",
    ),
    (
        "kube-proxy mode",
        at("spec.kubeadm.kubeProxy.mode", "nftable"),
        "spec.kubeadm.kubeProxy.mode: KubeProxyConfiguration: 'nftable' is not one of",
    ),
    (
        "nftables before 1.31",
        at("spec.kubernetes.version", "1.30.14"),
        "spec.kubeadm.kubeProxy.mode: kube-proxy's nftables mode is alpha before Kubernetes 1.31",
    ),
    (
        "static pod patch on a worker",
        at("spec.nodes.2.kubeadmPatches", [{"target": "kube-apiserver", "patch": {}}]),
        "spec.nodes[2].kubeadmPatches[0].target: a worker runs no kube-apiserver static pod",
    ),
    (
        "json patch as a mapping",
        at("spec.nodes.2.kubeadmPatches.0.type", "json"),
        "spec.nodes[2].kubeadmPatches[0].patch: a json patch is a list of operations",
    ),
    (
        "file with content and source",
        at("spec.roles.worker.files.0.source", "single.yaml"),
        "spec.roles.worker.files[0]: give exactly one of content (the text) or source",
    ),
    (
        "file under /etc/kubernetes",
        at("spec.roles.worker.files.0.path", "/etc/kubernetes/extra.conf"),
        "spec.roles.worker.files[0].path: k8sgen or kubeadm writes /etc/kubernetes/extra.conf",
    ),
    (
        "file path with ..",
        at("spec.roles.worker.files.0.path", "/etc/../etc/passwd"),
        "spec.roles.worker.files[0].path: write /etc/../etc/passwd without '..'",
    ),
    (
        "missing source",
        at("spec.roles.worker.files.0", {"path": "/etc/x", "source": "no-such-file"}),
        "no-such-file: cannot read the file for a node: No such file or directory (relative "
        "paths start at the spec's folder)",
    ),
    (
        "one path twice on a node",
        at("spec.nodes.1.files", [{"path": "/etc/sysctl.d/90-inotify.conf", "content": "x"}]),
        "spec.nodes[1]: /etc/sysctl.d/90-inotify.conf is written twice on node node1",
    ),
    (
        "a command on two lines",
        at("spec.roles.worker.preKubeadmCommands", ["true\nfalse"]),
        "spec.roles.worker.preKubeadmCommands[0]: 'true\\nfalse' holds a control character",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_problem_is_reported_on_its_field(mutate: Mutation, expected: str) -> None:
    found = problems(spec_text(mutate))
    assert any(expected in line for line in found), found


def test_a_problem_names_the_line_of_its_field() -> None:
    text = spec_text(at("spec.kubeadm.kubelet.maxPod", 3))
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.strip().startswith("maxPod:"))
    assert problems(text) == [
        f"spec.yaml:{line}: spec.kubeadm.kubelet.maxPod: KubeletConfiguration has no field "
        "maxPod (did you mean maxPods?)"
    ]


def test_a_control_plane_without_its_taint_beside_workers_is_warned_about() -> None:
    text = spec_text(at("spec.nodes.0.taints", []))
    warnings = validate(load_text(text, "spec.yaml", REPO / "examples")).warnings
    assert [w.path for w in warnings] == ["spec.nodes[0].taints"]
    assert "ordinary workloads will run beside the API server" in warnings[0].message


# --- rendering ------------------------------------------------------------------------------


def rendered(tmp_path: Path, data: dict[str, Any]) -> Rendered:
    return render_spec(write_spec(tmp_path, data))


def registration(result: Rendered, node: str) -> dict[str, Any]:
    registration: dict[str, Any] = kubeadm_documents(result, node)[0]["nodeRegistration"]
    return registration


def test_taints_keep_replace_or_clear_kubeadms_default(tmp_path: Path) -> None:
    data = example(EXAMPLE)
    del data["spec"]["nodes"][0]["taints"]
    data["spec"]["roles"]["worker"]["taints"] = [TAINT]
    result = rendered(tmp_path, data)
    assert "taints" not in registration(result, "master1")  # kubeadm's control-plane taint
    assert registration(result, "node1")["taints"] == [TAINT]  # the role's
    assert registration(result, "gpu1")["taints"] == [  # the node's replace the role's
        {"key": "example.com/dedicated", "value": "gpu", "effect": "NoSchedule"}
    ]
    data["spec"]["nodes"][1]["taints"] = []
    assert registration(rendered(tmp_path, data), "node1")["taints"] == []


def test_role_labels_merge_under_the_nodes_own(tmp_path: Path) -> None:
    result = rendered(tmp_path, example(EXAMPLE))
    args = {a["name"]: a["value"] for a in registration(result, "gpu1")["kubeletExtraArgs"]}
    assert args["node-labels"] == "example.com/tier=gpu,zone=b"
    args = {a["name"]: a["value"] for a in registration(result, "node1")["kubeletExtraArgs"]}
    assert args["node-labels"] == "example.com/tier=app,zone=a"


def test_v1beta3_gets_extra_args_as_a_map_and_passes_its_strict_schema(tmp_path: Path) -> None:
    data = example(EXAMPLE, spec__kubernetes__version="1.30.14")
    data["spec"]["kubeadm"]["kubeProxy"]["mode"] = "ipvs"
    result = rendered(tmp_path, data)
    documents = kubeadm_documents(result, "master1")
    cluster = documents[1]
    assert cluster["apiVersion"] == "kubeadm.k8s.io/v1beta3"
    assert cluster["apiServer"]["extraArgs"]["audit-log-maxage"] == "30"
    assert cluster["etcd"]["local"]["extraArgs"] == {"quota-backend-bytes": "8589934592"}
    for node in ("master1", "gpu1"):
        for document in kubeadm_documents(result, node):
            errors = list(api_validator(document["apiVersion"]).iter_errors(document))
            assert errors == [], (node, document["kind"], errors)


def test_files_and_patches_reach_write_files(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x00\xff binary")
    data = example(EXAMPLE)
    data["spec"]["nodes"][2]["files"] = [
        {"path": "/opt/blob.bin", "source": "blob.bin", "permissions": "0600"},
        {"path": "/home/ops/notes.txt", "content": "a\n\tb\n", "owner": "ops:ops"},
    ]
    data["spec"]["nodes"][2]["kubeadmPatches"].append(
        {"target": "kubeletconfiguration", "type": "json", "patch": [{"op": "add", "path": "/x"}]}
    )
    written = files(rendered(tmp_path, data), "gpu1")
    blob = written["/opt/blob.bin"]
    assert (blob["encoding"], blob["permissions"], blob["owner"]) == ("b64", "0600", "root:root")
    assert base64.b64decode(blob["content"]) == b"\x00\xff binary"
    notes = written["/home/ops/notes.txt"]
    assert (notes["content"], notes["owner"], notes["defer"]) == ("a\n\tb\n", "ops:ops", True)
    patches = sorted(p for p in written if p.startswith("/etc/k8sgen/kubeadm-patches/"))
    assert patches == [
        "/etc/k8sgen/kubeadm-patches/kubeletconfiguration000+merge.yaml",
        "/etc/k8sgen/kubeadm-patches/kubeletconfiguration001+json.yaml",
    ]
    assert yaml.safe_load(written[patches[0]]["content"]) == {"maxPods": 60}
    join = kubeadm_documents(rendered(tmp_path, data), "gpu1")[0]
    assert join["patches"] == {"directory": "/etc/k8sgen/kubeadm-patches"}
    assert "patches" not in kubeadm_documents(rendered(tmp_path, data), "node1")[0]


# --- the README's examples are specs k8sgen accepts ---------------------------------------

README_SECTION = "## Node settings: taints, labels, kubeadm and kubelet settings, files and hooks"


def readme_examples() -> list[dict[str, Any]]:
    text = (REPO / "README.md").read_text()
    section = text[text.index(README_SECTION) :]
    section = section[: section.index("\n## ", len(README_SECTION))]
    blocks = section.split("```yaml\n")[1:]
    return [yaml.safe_load(block.split("```")[0]) for block in blocks]


def merged(base: Any, snippet: Any, key: str = "") -> Any:
    """SNIPPET over BASE: mappings merged, nodes matched by name, anything else replaced."""
    if isinstance(base, dict) and isinstance(snippet, dict):
        return {**base, **{k: merged(base.get(k), v, k) for k, v in snippet.items()}}
    if key == "nodes":
        nodes = {n["name"]: n for n in base}
        for node in snippet:
            nodes[node["name"]] = merged(nodes.get(node["name"], {}), node)
        return list(nodes.values())
    return snippet


@pytest.mark.parametrize("index", range(3))
def test_the_readme_examples_validate_and_render(tmp_path: Path, index: int) -> None:
    snippet = readme_examples()[index]
    (tmp_path / "files").mkdir()
    for name in ("limits.conf", "check.sh"):
        (tmp_path / "files" / name).write_text("* soft nofile 65536\n")
    result = rendered(tmp_path, merged(example(EXAMPLE), snippet))
    assert result.artifacts


def test_ipvs_mode_loads_its_kernel_modules_now_and_on_every_boot(tmp_path: Path) -> None:
    plain = rendered(tmp_path, example(EXAMPLE))
    assert "ip_vs" not in files(plain, "node1")["/etc/modules-load.d/k8sgen.conf"]["content"]
    data = example(EXAMPLE, spec__kubeadm__kubeProxy__mode="ipvs")
    box = Sandbox(tmp_path / "box", rendered(tmp_path, data), "node1")  # a worker: no Calico
    modules = files(box.rendered, "node1")["/etc/modules-load.d/k8sgen.conf"]["content"]
    assert modules.split() == ["overlay", "br_netfilter", *IPVS_MODULES]
    run = box.run()
    assert run.returncode == 0, box.log()
    assert [c[1] for c in run.named("modprobe")] == modules.split()
