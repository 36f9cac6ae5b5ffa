"""One invalid spec per check, with the exact message and line an operator would see."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
import yaml

from generator import model, versions
from generator.errors import SpecError
from generator.offline import Offline, build_offline
from generator.resources import load_schema
from generator.spec import rules
from generator.spec import validate as validate_module
from generator.spec.findings import Findings, SemanticCheck
from generator.spec.load import load_text
from generator.spec.validate import SEMANTIC_CHECKS, validate

from .support.repo import EXAMPLES, REPO
from .support.specs import example, set_at

Mutation = Callable[[dict[str, Any]], None]


def spec_text(mutate: Mutation) -> str:
    data = example("single")
    mutate(data)
    return yaml.safe_dump(data, sort_keys=False)


def errors_of(mutate: Mutation) -> list[str]:
    with pytest.raises(SpecError) as caught:
        validate(load_text(spec_text(mutate), "spec.yaml", REPO / "examples"))
    return str(caught.value).splitlines()


def set_path(path: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        set_at(data, path.split("."), value)

    return mutate


def nodes(*entries: dict[str, Any]) -> Mutation:
    return set_path("spec.nodes", list(entries))


def vip(address: str, **more: str) -> Mutation:
    return set_path("spec.controlPlane.vip", {"address": address, "interface": "ens3", **more})


def both(*mutations: Mutation) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(data)

    return mutate


CP = {"name": "cp1", "role": "control-plane", "address": "192.168.1.10/24"}
W1 = {"name": "w1", "role": "worker", "address": "192.168.1.11/24"}

CASES: list[tuple[str, Mutation, str]] = [
    (
        "unsupported minor",
        set_path("spec.kubernetes.version", "1.29.9"),
        "spec.kubernetes.version: Kubernetes 1.29.9 is not supported; supported minors: 1.30,",
    ),
    (
        "unsupported os",
        set_path("spec.os.version", "20.04"),
        "spec.os.version: ubuntu 20.04 is not supported; supported: ubuntu 22.04",
    ),
    (
        "rhel family point release",
        set_path("spec.os", {"family": "rocky", "version": "8.10"}),
        "spec.os.version: rocky 8.10 is not supported (rocky is named by its major release, "
        'e.g. "9", not 9.4); supported: ubuntu 22.04, ubuntu 24.04, debian 12, debian 13, '
        "rocky 8, rocky 9, almalinux 8, almalinux 9, openeuler 22.03, openeuler 24.03",
    ),
    (
        "openeuler spelled as in os-release",
        set_path("spec.os", {"family": "openEuler", "version": "22.03"}),
        "spec.os.family: 'openEuler' is not one of ['ubuntu', 'debian', 'rocky', 'almalinux', "
        "'openeuler']",
    ),
    (
        "firewalld on a family without it",
        set_path("spec.os.firewalld", "open"),
        "spec.os.firewalld: ubuntu images do not run firewalld; the setting applies to rocky, "
        "almalinux, openeuler only: remove it",
    ),
    (
        "unknown architecture",
        set_path("spec.arch", "riscv64"),
        "spec.arch: 'riscv64' is not one of ['amd64', 'arm64']",
    ),
    (
        "pod subnet with host bits",
        set_path("spec.kubernetes.podSubnet", "10.244.1.0/16"),
        "spec.kubernetes.podSubnet: '10.244.1.0/16' is not a valid network: "
        "10.244.1.0/16 has host bits set; did you mean 10.244.0.0/16?",
    ),
    (
        "overlapping subnets",
        set_path("spec.kubernetes.serviceSubnet", "10.244.128.0/20"),
        "spec.kubernetes.serviceSubnet: 10.244.128.0/20 overlaps the pod subnet 10.244.0.0/16",
    ),
    (
        "service subnet too large",
        set_path("spec.kubernetes.serviceSubnet", "10.0.0.0/8"),
        "spec.kubernetes.serviceSubnet: 10.0.0.0/8 is larger than kube-apiserver allows",
    ),
    (
        "node inside pod subnet",
        nodes({**CP, "address": "10.244.3.4/24"}),
        "spec.nodes[0].address: 10.244.3.4 lies inside the podSubnet 10.244.0.0/16",
    ),
    (
        "node inside service subnet",
        nodes({**CP, "address": "10.100.0.5/24"}),
        "spec.nodes[0].address: 10.100.0.5 lies inside the serviceSubnet 10.96.0.0/12",
    ),
    (
        "duplicate names",
        nodes(CP, {**W1, "name": "cp1"}),
        "spec.nodes[1].name: 'cp1' is also node 0",
    ),
    (
        "duplicate addresses",
        nodes(CP, {**W1, "address": "192.168.1.10/24"}),
        "spec.nodes[1].address: 192.168.1.10 is also the address of node 0",
    ),
    (
        "invalid octet",
        nodes(CP, {**W1, "address": "192.168.1.300/24"}),
        "spec.nodes[1].address: not a valid IPv4 address/prefix",
    ),
    (
        "network address",
        nodes(CP, {**W1, "address": "192.168.1.0/24"}),
        "spec.nodes[1].address: 192.168.1.0/24 is not a usable host address",
    ),
    (
        "gateway outside",
        nodes({**CP, "gateway": "192.168.2.1"}),
        "spec.nodes[0].gateway: 192.168.2.1 must be another address inside the node's network",
    ),
    ("no control plane", nodes(W1), "spec.nodes: no node has role control-plane"),
    (
        "static addresses on an OS without a default NIC name",
        lambda data: data["spec"].pop("network"),
        "spec.nodes[0]: master1, node1, node2: a static address needs the name of its NIC, and "
        "ubuntu images name NICs by platform (ens3 (KVM i440fx, OpenStack), enp1s0 (KVM q35, "
        "arm64), ens5 (AWS), ens192 (VMware), ens18 (Proxmox); `ip link` on a VM of the image "
        "shows it): set spec.network.interface (every node) or the node's interface",
    ),
    (
        "interface glob",
        set_path("spec.network.interface", "e*"),
        "spec.network.interface: 'e*' is not valid here: A Linux network interface name as the "
        "kernel shows it (ip link): a lower-case letter, then lower-case letters and digits, 15 "
        "characters at most (the kernel's limit); one name, not a pattern such as e*",
    ),
    (
        "interface name longer than the kernel allows",
        nodes({**CP, "interface": "enp0s31f6abcdefg"}),
        "spec.nodes[0].interface: 'enp0s31f6abcdefg' is not valid here: A Linux network "
        "interface name",
    ),
    (
        "interface without address",
        nodes(CP, {"name": "w1", "role": "worker", "interface": "ens3"}),
        "spec.nodes[1]: 'address' is a dependency of 'interface'",
    ),
    (
        "mac without address",
        nodes(CP, {"name": "w1", "role": "worker", "mac": "52:54:00:00:00:02"}),
        "spec.nodes[1]: 'address' is a dependency of 'mac'",
    ),
    (
        "mac with dashes",
        nodes({**CP, "mac": "52-54-00-00-00-01"}),
        "spec.nodes[0].mac: '52-54-00-00-00-01' is not valid here: A MAC address, six "
        "hexadecimal pairs separated by colons",
    ),
    (
        "multicast mac",
        nodes({**CP, "mac": "01:00:5e:00:00:01"}),
        "spec.nodes[0].mac: 01:00:5e:00:00:01 is a multicast address (first octet odd)",
    ),
    (
        "zero mac",
        nodes({**CP, "mac": "00:00:00:00:00:00"}),
        "spec.nodes[0].mac: 00:00:00:00:00:00 is no NIC's address",
    ),
    (
        "duplicate mac in another case",
        nodes({**CP, "mac": "52:54:00:ab:00:01"}, {**W1, "mac": "52:54:00:AB:00:01"}),
        "spec.nodes[1].mac: 52:54:00:AB:00:01 is also the MAC of node 0",
    ),
    (
        "several control planes, no endpoint",
        nodes(CP, {**CP, "name": "cp2", "address": "192.168.1.12/24"}),
        "spec.controlPlane: endpoint is required with 2 control planes",
    ),
    (
        "dhcp control plane, no endpoint",
        nodes({"name": "cp1", "role": "control-plane"}),
        "spec.controlPlane: endpoint is required when the control plane has no static address",
    ),
    (
        "endpoint port",
        set_path("spec.controlPlane.endpoint", "192.168.1.10:70000"),
        "spec.controlPlane.endpoint: port 70000 is outside 1-65535",
    ),
    (
        "custom mirrors incomplete",
        set_path("spec.mirrors", {"preset": "custom", "images": "r.example/k8s"}),
        "spec.mirrors: containerd is required with preset custom",
    ),
    (
        "unknown calico",
        set_path("spec.cni", {"calico": {"version": "v3.12.0"}}),
        "spec.cni.calico.version: Calico v3.12 is not known to k8sgen",
    ),
    (
        "missing manifest file",
        set_path("spec.cni", {"calico": {"manifest": "nope/calico.yaml"}}),
        "spec.cni.calico.manifest: nope/calico.yaml: no such file",
    ),
    (
        "bad token",
        set_path("spec.bootstrap.token", "ABCDEF.0123456789abcdef"),
        "spec.bootstrap.token: a bootstrap token looks like abcdef.0123456789abcdef",
    ),
    (
        "baked not a boolean",
        set_path("spec.bootstrap.baked", "yes"),
        "spec.bootstrap.baked: 'yes' is not of type 'boolean'",
    ),
    (
        "retry delays upside down",
        set_path("spec.bootstrap.retries", {"initialDelaySeconds": 30, "maxDelaySeconds": 10}),
        "spec.bootstrap.retries.maxDelaySeconds: must be at least initialDelaySeconds (30)",
    ),
    (
        "report url",
        set_path("spec.bootstrap.reportURL", "https://ops.example/x;reboot"),
        "spec.bootstrap.reportURL: 'https://ops.example/x;reboot' is not valid here",
    ),
    (
        "join attempts",
        set_path("spec.bootstrap.joinAttempts", 0),
        "spec.bootstrap.joinAttempts: 0 is less than the minimum of 1",
    ),
    (
        "restricted label",
        nodes({**CP, "labels": {"node-role.kubernetes.io/worker": ""}}),
        "spec.nodes[0].labels.node-role.kubernetes.io/worker: the kubelet refuses --node-labels",
    ),
    (
        "bundle without the guarantee",
        set_path("spec.offline", {"bundle": True, "enabled": False}),
        "spec.offline.enabled: bundle: true implies the zero-egress guarantee",
    ),
    (
        "bundle of rpm packages",
        lambda data: data["spec"].update(
            os={"family": "rocky", "version": "9"}, offline={"bundle": True}
        ),
        "spec.offline.bundle: bundles carry deb packages only, and rocky installs rpm",
    ),
    (
        "bundle into a baked image",
        lambda data: data["spec"].update(offline={"bundle": True}, bootstrap={"baked": True}),
        "spec.offline.bundle: a baked image (bootstrap.baked) already holds the packages",
    ),
    (
        "allowed host is a URL",
        set_path("spec.offline", {"allowedHosts": ["https://mirror.example"]}),
        "spec.offline.allowedHosts[0]: 'https://mirror.example' is not valid here",
    ),
    (
        "calico images with a tag",
        set_path("spec.mirrors.calicoImages", "harbor.example/calico:v3"),
        "spec.mirrors.calicoImages: 'harbor.example/calico:v3' is not valid here",
    ),
    (
        "unknown field",
        set_path("spec.kubernetes.podCidr", "10.1.0.0/16"),
        "spec.kubernetes.podCidr: unknown field (expected one of: dnsDomain, podSubnet,",
    ),
    (
        "wrong enum",
        nodes({**CP, "role": "master"}),
        "spec.nodes[0].role: 'master' is not one of ['control-plane', 'worker']",
    ),
    (
        "unquoted version",
        set_path("spec.os.version", 24.04),
        'spec.os.version: 24.04 must be a string: quote it, e.g. "24.04"',
    ),
    (
        "shell metacharacters",
        set_path("spec.mirrors.images", "r.example/$(reboot)"),
        "spec.mirrors.images: 'r.example/$(reboot)' is not valid here",
    ),
    (
        "shell metacharacters in url",
        set_path("spec.mirrors.packages", "https://x.example/`id`"),
        "spec.mirrors.packages: 'https://x.example/`id`' is not valid here",
    ),
    (
        "vip outside the control planes' network",
        vip("192.168.221.10"),
        "spec.controlPlane.vip.address: 192.168.221.10 is outside 192.168.220.0/24, "
        "the network of control planes master1",
    ),
    (
        "vip is a node's address",
        vip("192.168.220.111"),
        "spec.controlPlane.vip.address: 192.168.220.111 is also the address of node 1 (node1)",
    ),
    (
        "vip is the broadcast address",
        vip("192.168.220.255"),
        "spec.controlPlane.vip.address: 192.168.220.255 is not a usable host address",
    ),
    (
        "vip inside the service subnet",
        vip("10.96.0.10"),
        "spec.controlPlane.vip.address: 10.96.0.10 lies inside the serviceSubnet 10.96.0.0/12",
    ),
    (
        "vip octet",
        vip("192.168.220.300"),
        "spec.controlPlane.vip.address: not a valid IPv4 address",
    ),
    (
        "vip without interface on unnamed control planes",
        both(
            lambda data: data["spec"].pop("network"),
            nodes({"name": "cp1", "role": "control-plane"}),
            set_path("spec.controlPlane.vip", {"address": "192.168.220.100"}),
        ),
        "spec.controlPlane.vip: interface is required: the control planes do not share one "
        "known NIC name (cp1: not named); name it here or in spec.network.interface",
    ),
    (
        "vip without interface on differently named control planes",
        both(
            nodes(
                {**CP, "interface": "ens3"},
                {**CP, "name": "cp2", "address": "192.168.1.12/24", "interface": "ens4"},
            ),
            set_path("spec.controlPlane.vip", {"address": "192.168.1.100"}),
        ),
        "spec.controlPlane.vip: interface is required: the control planes do not share one "
        "known NIC name (cp1: ens3, cp2: ens4)",
    ),
    (
        "vip on another NIC than the control planes' addresses",
        vip("192.168.220.100", interface="ens4"),
        "spec.controlPlane.vip.interface: ens4 is not the NIC of control plane master1's "
        "address (ens3): kube-vip answers ARP for the VIP on the NIC of the control planes' "
        "network",
    ),
    (
        "vip image with shell metacharacters",
        vip("192.168.220.100", image="ghcr.io/kube-vip/kube-vip:$(id)"),
        "spec.controlPlane.vip.image: 'ghcr.io/kube-vip/kube-vip:$(id)' is not valid here",
    ),
    (
        "endpoint is another address than the vip",
        both(vip("192.168.220.100"), set_path("spec.controlPlane.endpoint", "192.168.220.99:6443")),
        "spec.controlPlane.endpoint: 192.168.220.99 is not the vip 192.168.220.100",
    ),
    (
        "endpoint port with a vip",
        both(vip("192.168.220.100"), set_path("spec.controlPlane.endpoint", "api.example:8443")),
        "spec.controlPlane.endpoint: port 8443: with a vip the endpoint port is 6443",
    ),
    (
        "unknown certificate distribution",
        set_path("spec.controlPlane.certificateDistribution", "copy"),
        "spec.controlPlane.certificateDistribution: 'copy' is not one of ['files', 'upload']",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_check_reports_its_problem(mutate: Mutation, expected: str) -> None:
    lines = errors_of(mutate)
    assert any(line.split(": ", 1)[1].startswith(expected) for line in lines), lines
    assert all(line.startswith("spec.yaml:") for line in lines)


def with_label(key: str) -> Mutation:
    return lambda data: data["spec"]["nodes"][0].update(labels={key: "x"})


# The kubelet's ValidateKubeletFlags/IsKubeletLabel decides; these are its answers.
@pytest.mark.parametrize(
    "key",
    [
        "node-restriction.kubernetes.io/pool",
        "xnode.kubernetes.io/x",
        "node-role.kubernetes.io/worker",
        "kubernetes.io/role",
        "k8s.io/x",
        "example.k8s.io/x",
        "xkubelet.kubernetes.io/x",
    ],
)
def test_labels_the_kubelet_refuses_are_refused(key: str) -> None:
    lines = errors_of(with_label(key))
    assert any(
        f"labels.{key}: the kubelet refuses --node-labels" in line
        and "[*.]kubelet.kubernetes.io/, [*.]node.kubernetes.io/" in line
        for line in lines
    ), lines


@pytest.mark.parametrize(
    "key",
    [
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
        "node.kubernetes.io/instance-type",
        "node.kubernetes.io/pool",
        "pool.node.kubernetes.io/x",
        "kubelet.kubernetes.io/x",
        "a.kubelet.kubernetes.io/x",
        "kubernetes.io/arch",
        "failure-domain.beta.kubernetes.io/zone",
        "mykubernetes.io/x",
        "myk8s.io/x",
        "zone",
    ],
)
def test_labels_the_kubelet_accepts_are_accepted(key: str) -> None:
    validate(load_text(spec_text(with_label(key)), "spec.yaml", REPO / "examples"))


def os_and_kubernetes(family: str, os_version: str, kubernetes: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["spec"]["os"] = {"family": family, "version": os_version}
        data["spec"]["kubernetes"]["version"] = kubernetes
        for node in data["spec"]["nodes"]:
            node.setdefault("interface", "eth0")

    return mutate


# Kubernetes >= 1.35 refuses cgroup v1 (kubelet failCgroupV1, kubeadm SystemVerification).
@pytest.mark.parametrize(
    ("family", "version", "alternatives"),
    [
        ("rocky", "8", "(rocky 9)"),
        ("almalinux", "8", "(almalinux 9)"),
        ("openeuler", "22.03", "(openeuler 24.03)"),
    ],
)
def test_cgroup_v1_images_are_refused_from_kubernetes_1_35(
    family: str, version: str, alternatives: str
) -> None:
    lines = errors_of(os_and_kubernetes(family, version, "1.35.0"))
    assert any(
        f"spec.os.version: {family} {version} boots with cgroup v1" in line
        and "failCgroupV1" in line
        and f"use an OS that boots cgroup v2 {alternatives} or Kubernetes 1.34 or older" in line
        for line in lines
    ), lines


@pytest.mark.parametrize(
    ("family", "version", "kubernetes"),
    [("rocky", "8", "1.34.2"), ("almalinux", "9", "1.35.0"), ("openeuler", "24.03", "1.36.1")],
)
def test_cgroup_v2_images_or_older_kubernetes_are_accepted(
    family: str, version: str, kubernetes: str
) -> None:
    text = spec_text(os_and_kubernetes(family, version, kubernetes))
    validate(load_text(text, "spec.yaml", REPO / "examples"))


def test_every_problem_is_reported_at_once_sorted_by_line() -> None:
    def several(data: dict[str, Any]) -> None:
        data["spec"]["nodes"][1]["role"] = "master"
        data["spec"]["nodes"][2]["bogus"] = 1
        data["metadata"]["name"] = "Demo_1"

    lines = errors_of(several)
    assert len(lines) == 3
    numbers = [int(line.split(":")[1]) for line in lines]
    assert numbers == sorted(numbers)
    text = spec_text(several).splitlines()
    # Each reported line really holds the field it names.
    assert "Demo_1" in text[numbers[0] - 1]
    assert "master" in text[numbers[1] - 1]
    assert "bogus" in text[numbers[2] - 1]


def test_warnings_do_not_refuse_the_spec() -> None:
    text = spec_text(set_path("spec.bootstrap.tokenTTL", "0"))
    findings = validate(load_text(text, "spec.yaml"))
    messages = [w.message for w in findings.warnings]
    assert any("never expires" in m for m in messages)


def test_a_token_shorter_than_the_api_wait_is_warned_about() -> None:
    text = spec_text(set_path("spec.bootstrap", {"tokenTTL": "30m", "apiWaitSeconds": 7200}))
    messages = [w.message for w in validate(load_text(text, "spec.yaml")).warnings]
    assert any(
        m.startswith("30m is shorter than apiWaitSeconds (2h)") and "cannot join" in m
        for m in messages
    ), messages
    text = spec_text(set_path("spec.bootstrap", {"tokenTTL": "1h30m"}))
    messages = [w.message for w in validate(load_text(text, "spec.yaml")).warnings]
    assert not any("apiWaitSeconds" in m for m in messages)


def test_a_patch_missing_from_the_image_table_is_warned_about() -> None:
    text = spec_text(set_path("spec.kubernetes.version", "1.33.4"))  # a release the proxy lacks
    messages = [w.message for w in validate(load_text(text, "s.yaml")).warnings]
    assert any(
        m.startswith("1.33.4 is not in k8sgen's table of kubeadm image tags")
        and "kubeadm 1.33.6, the nearest known patch" in m
        for m in messages
    ), messages
    text = spec_text(set_path("spec.kubernetes.version", "1.33.6"))
    messages = [w.message for w in validate(load_text(text, "spec.yaml")).warnings]
    assert not any("table of kubeadm image tags" in m for m in messages)


def test_schema_is_valid_and_describes_every_field() -> None:
    schema = load_schema("cluster.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    undocumented = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if "description" not in sub and "$ref" not in sub:
                    undocumented.append(f"{where}.{name}")
            for key, sub in node.items():
                walk(sub, f"{where}.{key}")

    walk(schema, "")
    # metadata, spec and their immediate containers are described by their $defs.
    assert [u for u in undocumented if not u.endswith((".metadata", ".spec"))] == []


def test_schema_defaults_are_the_model_defaults() -> None:
    defs = load_schema("cluster.schema.json")["$defs"]
    kube = defs["kubernetes"]["properties"]
    assert kube["podSubnet"]["default"] == rules.DEFAULT_POD_SUBNET
    assert kube["serviceSubnet"]["default"] == rules.DEFAULT_SERVICE_SUBNET
    assert kube["dnsDomain"]["default"] == model.DEFAULT_DNS_DOMAIN
    assert defs["bootstrap"]["properties"]["tokenTTL"]["default"] == model.DEFAULT_TOKEN_TTL
    assert defs["mirrors"]["properties"]["preset"]["enum"] == list(model.MIRROR_PRESETS)
    assert defs["mirrors"]["properties"]["preset"]["default"] == rules.DEFAULT_MIRROR_PRESET
    control_plane = defs["controlPlane"]["properties"]
    assert control_plane["certificateDistribution"]["default"] == (
        model.DEFAULT_CERTIFICATE_DISTRIBUTION
    )
    assert defs["vip"]["properties"]["image"]["default"] == model.DEFAULT_KUBE_VIP_IMAGE
    bootstrap, retries = defs["bootstrap"]["properties"], defs["retries"]["properties"]
    policy = model.BootstrapPolicy()
    assert retries["attempts"]["default"] == policy.retry_attempts
    assert retries["initialDelaySeconds"]["default"] == policy.retry_initial_delay
    assert retries["maxDelaySeconds"]["default"] == policy.retry_max_delay
    assert bootstrap["apiWaitSeconds"]["default"] == policy.api_wait_seconds
    assert bootstrap["joinAttempts"]["default"] == policy.join_attempts
    ntp = load_schema("cluster.schema.json")["properties"]["spec"]["properties"]["ntp"]
    assert tuple(ntp["default"]) == model.DEFAULT_NTP
    offline = defs["offline"]["properties"]
    defaults = Offline()
    assert offline["enabled"]["default"] is defaults.enabled
    assert offline["bundle"]["default"] is defaults.bundle
    assert offline["allowedHosts"]["default"] == []
    assert build_offline({}) == defaults


def test_os_enum_matches_the_support_table() -> None:
    families = load_schema("cluster.schema.json")["$defs"]["os"]["properties"]["family"]["enum"]
    assert sorted(families) == sorted({o.family for o in versions.OPERATING_SYSTEMS.values()})


def test_examples_validate() -> None:
    assert EXAMPLES
    for spec in EXAMPLES:
        validate(load_text(spec.read_text(), str(spec), spec.parent))


# --- a check that crashes is a bug, never a silent pass -------------------------------------


def test_a_broken_check_cannot_pass_silently(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo in a check (nodez) on a well-formed spec surfaces instead of being skipped."""

    def check_nodes_with_a_typo(data: dict[str, Any], findings: Findings) -> None:
        for node in data["spec"]["nodez"]:
            findings.error(("spec", "nodes"), f"{node} checked")

    broken = SemanticCheck(check_nodes_with_a_typo, (("spec", "nodes"),))
    monkeypatch.setattr(validate_module, "SEMANTIC_CHECKS", (*SEMANTIC_CHECKS, broken))
    with pytest.raises(KeyError, match="nodez"):
        validate(load_text(spec_text(lambda data: None), "spec.yaml", REPO / "examples"))
    # With an error in another part of the spec, it still runs (and still surfaces).
    with pytest.raises(KeyError, match="nodez"):
        errors_of(set_path("spec.kubernetes.podSubnet", 42))


def test_a_check_is_skipped_only_where_the_schema_found_its_input_malformed() -> None:
    """A node without a name (schema) skips the node checks; the subnet check still reports."""
    found = errors_of(
        both(
            set_path("spec.nodes.1.name", None),
            set_path("spec.kubernetes.serviceSubnet", "10.244.0.0/16"),
        )
    )
    assert any("spec.nodes[1].name: None is not of type 'string'" in line for line in found)
    assert any("serviceSubnet: 10.244.0.0/16 overlaps the pod subnet" in line for line in found)


def test_every_check_declares_what_it_reads() -> None:
    for check in SEMANTIC_CHECKS:
        assert check.reads and all(path[0] == "spec" for path in check.reads), check.run.__name__
