"""Several control planes: the join order, kube-vip, certificates, and the real wait in bash."""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from generator import model, versions
from generator.cli import cli
from generator.layout import JOIN_KUBECONFIG
from generator.render import kubevip
from generator.render.node import NodeKind, plan
from generator.spec.load import load_text
from generator.spec.validate import validate

from .support.kubeadm import SHARED_PKI, api_validator
from .support.nodedata import files, kubeadm_documents, node_names
from .support.readyz_servers import LOOPBACK, NOT_READY, closed_port, readyz_server, silent_server
from .support.repo import REPO
from .support.specs import Rendered, example, render_spec, write_spec
from .support.tools import need

HA_VIP = REPO / "examples" / "ha-vip.yaml"
HA_LB = REPO / "examples" / "ha-external-lb.yaml"
BOOTSTRAP = "/usr/local/sbin/k8sgen-bootstrap"


@pytest.fixture(scope="module")
def ha_vip() -> Rendered:
    return render_spec(HA_VIP)


@pytest.fixture(scope="module")
def ha_lb() -> Rendered:
    return render_spec(HA_LB)


def render_changed(tmp_path: Path, source: Path, **control_plane: Any) -> Rendered:
    data = example(source.stem)
    data["spec"].setdefault("controlPlane", {}).update(control_plane)
    return render_spec(write_spec(tmp_path, data, source.name))


def script(rendered: Rendered, node: str) -> str:
    content: str = files(rendered, node)[BOOTSTRAP]["content"]
    return content


def readonly_values(text: str) -> dict[str, str]:
    """The `readonly NAME=value` lines of a rendered script, values unquoted as bash would."""
    values = {}
    for line in text.splitlines():
        match = re.fullmatch(r"readonly ([A-Z_]+)=(.*)", line)
        if match and not match[2].startswith("$"):
            (values[match[1]],) = shlex.split(match[2])
    return values


def kind_of(rendered: Rendered, name: str) -> str:
    node = next(n for n in rendered.cluster.nodes if n.name == name)
    return plan(rendered.cluster, node).kind


# --- the join order, read back from the rendered scripts --------------------------------


@pytest.mark.parametrize("example", ["ha_vip", "ha_lb"])
def test_each_control_plane_waits_for_the_one_before_and_workers_for_the_endpoint(
    example: str, request: pytest.FixtureRequest
) -> None:
    rendered: Rendered = request.getfixturevalue(example)
    control_planes = [n for n in rendered.cluster.nodes if n.is_control_plane]
    assert len(control_planes) == 3
    endpoint = f"https://{rendered.cluster.endpoint}/readyz"
    waits = {
        name: readonly_values(script(rendered, name)).get("WAIT_URL")
        for name in node_names(rendered)
    }
    assert waits.pop(control_planes[0].name) is None  # kubeadm init waits for nobody
    for before, node in itertools.pairwise(control_planes):
        assert waits.pop(node.name) == f"https://{before.ip}:6443/readyz"
    assert waits and set(waits.values()) == {endpoint}
    assert all(kind_of(rendered, name) == NodeKind.JOIN_WORKER for name in waits)


def test_the_vip_is_the_default_endpoint(ha_vip: Rendered) -> None:
    assert ha_vip.cluster.endpoint == "192.168.30.10:6443"
    join = kubeadm_documents(ha_vip, "w1")[0]
    assert join["discovery"] == {"file": {"kubeConfigPath": JOIN_KUBECONFIG}}
    join_config = yaml.safe_load(files(ha_vip, "w1")[JOIN_KUBECONFIG]["content"])
    assert join_config["clusters"][0]["cluster"]["server"] == "https://192.168.30.10:6443"


@pytest.mark.parametrize("example", ["ha_vip", "ha_lb"])
def test_cert_sans_hold_the_endpoint_the_vip_and_every_control_plane(
    example: str, request: pytest.FixtureRequest
) -> None:
    rendered: Rendered = request.getfixturevalue(example)
    cluster = rendered.cluster
    sans = kubeadm_documents(rendered, cluster.init_node.name)[1]["apiServer"]["certSANs"]
    expected = {cluster.endpoint_host, *(n.ip for n in cluster.control_planes)}
    if cluster.vip:
        expected.add(cluster.vip.address)
    assert set(sans) == expected
    assert len(sans) == len(set(sans))


def test_a_dns_endpoint_with_a_vip_names_both_in_the_certificate(tmp_path: Path) -> None:
    rendered = render_changed(tmp_path, HA_VIP, endpoint="k8s-api.ha.example:6443")
    sans = kubeadm_documents(rendered, "cp1")[1]["apiServer"]["certSANs"]
    assert sans[:2] == ["k8s-api.ha.example", "192.168.30.10"]
    assert readonly_values(script(rendered, "w1"))["WAIT_URL"] == (
        "https://k8s-api.ha.example:6443/readyz"
    )


def test_joiners_wait_for_the_bootstrap_token_longer_than_kubeadms_default(
    rendered_examples: list[Rendered],
) -> None:
    apis = set()
    for rendered in rendered_examples:
        for node in node_names(rendered):
            if kind_of(rendered, node) == NodeKind.INIT:
                continue
            (join,) = kubeadm_documents(rendered, node)
            apis.add(join["apiVersion"])
            if join["apiVersion"] == versions.V1BETA4:
                assert join["timeouts"]["discovery"] == "15m0s"
            else:
                assert join["discovery"]["timeout"] == "15m0s"
    assert apis == {versions.V1BETA3, versions.V1BETA4}


# --- kube-vip ---------------------------------------------------------------------------


def kube_vip_manifests(rendered: Rendered, node: str) -> dict[str, dict[str, Any]]:
    return {
        path: yaml.safe_load(entry["content"])
        for path, entry in files(rendered, node).items()
        if path.startswith("/etc/k8sgen/kube-vip/")
    }


def test_kube_vip_pods_are_valid_kubernetes_objects(ha_vip: Rendered) -> None:
    checked = 0
    for node in node_names(ha_vip):
        for path, pod in kube_vip_manifests(ha_vip, node).items():
            for minor in versions.KUBERNETES.values():  # the same pod for every minor
                kubernetes_validate.validate(pod, minor.name, strict=True)
            assert files(ha_vip, node)[path]["permissions"] == "0600"
            checked += 1
    assert checked == 4  # one per control plane, and the init node's super-admin variant


def test_kubernetes_validate_is_a_real_oracle(ha_vip: Rendered) -> None:
    pod = kube_vip_manifests(ha_vip, "cp1")[kubevip.STAGED]
    pod["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = "NET_ADMIN"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, ha_vip.cluster.kubernetes.name, strict=True)


def test_kube_vip_runs_on_super_admin_conf_only_on_the_init_node(ha_vip: Rendered) -> None:
    def kubeconfig(pod: dict[str, Any]) -> str:
        (volume,) = pod["spec"]["volumes"]
        path: str = volume["hostPath"]["path"]
        return path

    assert ha_vip.cluster.kubernetes.has_super_admin_conf
    for node in node_names(ha_vip):
        manifests = {p: kubeconfig(m) for p, m in kube_vip_manifests(ha_vip, node).items()}
        kind = kind_of(ha_vip, node)
        if kind == NodeKind.INIT:
            assert manifests == {
                kubevip.STAGED: kubevip.ADMIN_CONF,
                kubevip.STAGED_INIT: kubevip.SUPER_ADMIN_CONF,
            }
        elif kind == NodeKind.JOIN_CONTROL_PLANE:
            assert manifests == {kubevip.STAGED: kubevip.ADMIN_CONF}
        else:
            assert manifests == {}


def test_kube_vip_pod_carries_the_vip_interface_and_image(ha_vip: Rendered) -> None:
    pod = kube_vip_manifests(ha_vip, "cp2")[kubevip.STAGED]
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["address"] == "192.168.30.10"
    assert env["vip_interface"] == "ens3"
    assert env["vip_arp"] == env["cp_enable"] == env["vip_leaderelection"] == "true"
    assert container["image"] == model.DEFAULT_KUBE_VIP_IMAGE
    assert container["image"].endswith(f":{versions.KUBE_VIP_VERSION}")
    assert pod["spec"]["hostNetwork"] is True
    assert pod["spec"]["hostAliases"] == [{"ip": "127.0.0.1", "hostnames": ["kubernetes"]}]
    # The node's own /etc/hosts maps the name too (hostAliases fail on some kubelets).
    assert "127.0.0.1 kubernetes\n" in files(ha_vip, "cp2")["/etc/k8sgen/hosts"]["content"]
    assert "kubernetes" not in files(ha_vip, "w1")["/etc/k8sgen/hosts"]["content"]


def test_the_kube_vip_image_is_pulled_through_a_mirror_and_prepulled(ha_vip: Rendered) -> None:
    image = ha_vip.cluster.vip.image if ha_vip.cluster.vip else ""
    registry = image.split("/")[0]
    assert registry in dict(ha_vip.cluster.mirrors.registries)
    assert f"/etc/containerd/certs.d/{registry}/hosts.toml" in files(ha_vip, "cp1")
    for node in ha_vip.cluster.nodes:
        assert (image in plan(ha_vip.cluster, node).images) == node.is_control_plane


def test_no_node_gets_a_static_pod_manifest_from_cloud_init(
    rendered_examples: list[Rendered], ha_vip: Rendered
) -> None:
    # A joining node's /etc/kubernetes/manifests must be empty at `kubeadm join` (DirAvailable).
    for rendered in [*rendered_examples, ha_vip]:
        for node in node_names(rendered):
            assert not any(p.startswith("/etc/kubernetes/manifests") for p in files(rendered, node))


def steps_of(text: str) -> list[str]:
    """The body of phase_kubeadm, one command a line."""
    body = text[text.index("phase_kubeadm() {") :].split("\n}\n", 1)[0]
    return [line.strip() for line in body.splitlines()[1:] if not line.strip().startswith("#")]


def test_init_switches_kube_vip_to_admin_conf_before_anyone_can_join(ha_vip: Rendered) -> None:
    assert steps_of(script(ha_vip, "cp1")) == [
        "kube_vip_before_init",
        'run_kubeadm init --config "$KUBEADM_CONFIG" --skip-phases=bootstrap-token',
        "kube_vip_after_init",
        'retry kubeadm init phase bootstrap-token --config "$KUBEADM_CONFIG"',
        "install -d -m 0700 /root/.kube",
        "install -m 0600 /etc/kubernetes/admin.conf /root/.kube/config",
    ]
    text = script(ha_vip, "cp1")
    assert "kube_vip_install /etc/k8sgen/kube-vip/kube-vip-init.yaml" in text
    assert 'kube_vip_install "$KUBE_VIP_STAGED"' in text


def test_joining_control_planes_start_kube_vip_after_the_join(ha_vip: Rendered) -> None:
    steps = steps_of(script(ha_vip, "cp2"))
    assert steps.index("wait_for_api") < steps.index('run_kubeadm join --config "$KUBEADM_CONFIG"')
    assert steps[-1] == "kube_vip_after_join"
    assert "kube_vip_before_init" not in script(ha_vip, "cp2")
    assert "kube_vip" not in script(ha_vip, "w1")


def test_without_a_vip_nothing_of_kube_vip_is_rendered(ha_lb: Rendered) -> None:
    for node in node_names(ha_lb):
        assert kube_vip_manifests(ha_lb, node) == {}
        assert "kube-vip" not in script(ha_lb, node)
    assert steps_of(script(ha_lb, "cp1"))[0] == 'run_kubeadm init --config "$KUBEADM_CONFIG"'


def test_every_supported_minor_has_super_admin_conf() -> None:
    assert all(m.has_super_admin_conf for m in versions.KUBERNETES.values())
    assert versions.SUPER_ADMIN_CONF_FROM_MINOR == 29


# --- certificate distribution ------------------------------------------------------------


def test_upload_mode_joins_with_the_certificate_key_and_no_ca_files(tmp_path: Path) -> None:
    rendered = render_changed(tmp_path, HA_VIP, certificateDistribution="upload")
    key = rendered.secrets.certificate_key
    tool = need("shellcheck")
    for node in node_names(rendered):
        kind = kind_of(rendered, node)
        node_files = files(rendered, node)
        pki = {p for p in node_files if p.startswith("/var/lib/k8sgen/pki/")}
        documents = kubeadm_documents(rendered, node)
        for document in documents:
            if document["kind"] != "KubeletConfiguration":
                validator = api_validator(document["apiVersion"])
                assert [e.message for e in validator.iter_errors(document)] == []
        if kind == NodeKind.INIT:
            assert pki == SHARED_PKI  # the CA hash every joiner checks is of this CA
            assert documents[0]["certificateKey"] == key
            assert "--upload-certs --skip-phases=bootstrap-token" in script(rendered, node)
        elif kind == NodeKind.JOIN_CONTROL_PLANE:
            assert pki == set()
            assert documents[0]["controlPlane"]["certificateKey"] == key
        else:
            assert pki == set()
            assert key not in rendered.text(f"nodes/{node}/user-data")
        (tmp_path / f"{node}.sh").write_text(script(rendered, node))
    paths = [str(p) for p in sorted(tmp_path.glob("*.sh"))]
    result = subprocess.run([tool, "--severity=style", *paths], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_files_mode_gives_joiners_the_eight_files_and_no_key(ha_vip: Rendered) -> None:
    for node in node_names(ha_vip):
        if kind_of(ha_vip, node) == NodeKind.JOIN_CONTROL_PLANE:
            pki = {p for p in files(ha_vip, node) if p.startswith("/var/lib/k8sgen/pki/")}
            assert pki == SHARED_PKI
            assert "certificateKey" not in kubeadm_documents(ha_vip, node)[0]["controlPlane"]
            assert ha_vip.secrets.certificate_key not in ha_vip.text(f"nodes/{node}/user-data")


def test_render_summary_states_the_upload_expiry_and_the_join_order(tmp_path: Path) -> None:
    data = example("ha-vip", spec__controlPlane__certificateDistribution="upload")
    spec = write_spec(tmp_path, data, "ha.yaml")
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "join order: cp1 (init) -> cp2 -> cp3" in result.stdout
    assert "the upload expires 2 hours after init" in result.stdout
    assert "VIP 192.168.30.10 on ens3: kube-vip ghcr.io/kube-vip/kube-vip:" in result.stdout


# --- validation warnings (errors are in test_validate's CASES) ---------------------------


def warnings_of(data: dict[str, Any]) -> list[str]:
    findings = validate(load_text(yaml.safe_dump(data), "spec.yaml", REPO / "examples"))
    return [f"{w.path}: {w.message}" for w in findings.warnings]


def test_an_even_number_of_control_planes_is_a_warning() -> None:
    data = example("ha-vip")
    del data["spec"]["nodes"][2]
    assert any(w.startswith("spec.nodes: 2 control planes: etcd") for w in warnings_of(data))
    assert not any("control planes: etcd" in w for w in warnings_of(example("ha-vip")))


def test_a_kube_vip_image_without_a_mirror_is_a_warning() -> None:
    data = example("ha-vip")
    assert not any("kube-vip's image" in w for w in warnings_of(data))
    data["spec"]["mirrors"]["registries"] = {"docker.io": ["https://docker.m.daocloud.io"]}
    assert any(
        w.startswith("spec.controlPlane.vip: kube-vip's image ghcr.io/kube-vip/kube-vip:")
        for w in warnings_of(data)
    )
    data["spec"]["controlPlane"]["vip"]["image"] = "harbor.example/kube-vip/kube-vip:v0.8.9"
    assert not any("kube-vip's image" in w for w in warnings_of(data))


# --- the real rendered wait_for_api in bash, against loopback servers -------------------


def function(text: str, name: str) -> str:
    lines = text.splitlines()
    start = lines.index(f"{name}() {{")
    return "\n".join(lines[start : lines.index("}", start) + 1])


def framework_functions(text: str) -> list[str]:
    """Every function of the script but the phases: wait_for_api with what it calls."""
    names = re.findall(r"^([a-z_]+)\(\) \{$", text, re.MULTILINE)
    return [function(text, name) for name in names if not name.startswith("phase_")]


def run_wait(rendered: Rendered, node: str, url: str, state: Path, timeout: int = 3) -> Any:
    """Run the node's own wait_for_api with WAIT_URL on loopback and small delays."""
    text = script(rendered, node)
    values = readonly_values(text)
    assert ipaddress.ip_address(values["WAIT_URL"].split("/")[2].rsplit(":", 1)[0]).is_private
    assert url.startswith(f"https://{LOOPBACK}:")  # the only address a test may contact
    waiting = function(text, "wait_for_api")
    assert "--max-time 10" in waiting  # every probe is bounded...
    functions = [
        f.replace("--max-time 10", "--max-time 1")  # ...here by 1 s
        for f in framework_functions(text)
    ]
    settings = {
        **values,
        "WAIT_URL": url,
        "WAIT_TIMEOUT_SECONDS": str(timeout),
        "RETRY_INITIAL_DELAY": "1",
        "RETRY_MAX_DELAY": "1",
        "STATE_DIR": str(state),
        "PHASE_DIR": str(state),
        "STATUS_FILE": str(state / "status.json"),
        "LOG_FILE": str(state / "bootstrap.log"),
        "CURRENT_PHASE": "kubeadm",
        "REPORT_URL": "",
        "RESULT": "running",
        "RUNS": "1",
        "HEALS": "0",
        "P_NAME": "",
    }
    harness = "\n".join(
        [
            "set -Eeuo pipefail",
            "exec 3>&1",  # the script's log
            *(f"{name}={shlex.quote(value)}" for name, value in settings.items()),
            "PHASES=(kubeadm)",
            *functions,
            "systemd-run() { :; }",  # a failed wait schedules a restart: never this machine's
            "wait_for_api",
            "echo RETURNED",
        ]
    )
    return subprocess.run(
        [need("bash"), "-c", harness], capture_output=True, text=True, timeout=120
    )


def status(state: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((state / "status.json").read_text())
    return data


@pytest.fixture
def state(tmp_path: Path) -> Path:
    need("curl")
    folder = tmp_path / "state"
    folder.mkdir()
    return folder


def test_wait_succeeds_when_readyz_answers_late(ha_vip: Rendered, state: Path) -> None:
    with readyz_server(state.parent, failures=2) as server:
        url = f"https://{LOOPBACK}:{server.server_address[1]}/readyz"
        result = run_wait(ha_vip, "cp2", url, state, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.endswith("RETURNED\n")
    assert server.requests == 3
    assert result.stdout.count("not ready yet (answer: [-]etcd failed") == 2
    assert "the API server of cp1 is ready" in result.stdout
    assert not (state / "status.json").exists()


def assert_failed(result: Any, state: Path, last_answer: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "RETURNED" not in result.stdout
    recorded = status(state)
    assert recorded["result"] == "failed"
    assert recorded["phase"] == "kubeadm"
    assert recorded["node"] == "cp2"
    assert "the API server of cp1 at https://127.0.0.1:" in recorded["error"]
    assert "was not ready after 3s" in recorded["error"]
    assert recorded["error"].endswith(f"(last answer: {last_answer})")
    assert f"FAILED (api-wait): {recorded['error']}" in result.stdout


def test_wait_fails_with_a_recorded_status_when_readyz_never_says_ok(
    ha_vip: Rendered, state: Path
) -> None:
    with readyz_server(state.parent, failures=10**6) as server:
        url = f"https://{LOOPBACK}:{server.server_address[1]}/readyz"
        result = run_wait(ha_vip, "cp2", url, state)
    assert server.requests >= 2
    assert_failed(result, state, NOT_READY.replace("\n", " "))  # its own words, on one line


def test_wait_fails_when_nothing_listens(ha_vip: Rendered, state: Path) -> None:
    result = run_wait(ha_vip, "cp2", f"https://{LOOPBACK}:{closed_port()}/readyz", state)
    assert_failed(result, state, "none")


def test_wait_fails_when_the_server_hangs(ha_vip: Rendered, state: Path) -> None:
    with silent_server() as port:
        result = run_wait(ha_vip, "cp2", f"https://{LOOPBACK}:{port}/readyz", state)
    assert_failed(result, state, "none")


def test_wait_does_not_take_ok_over_plain_http(ha_vip: Rendered, state: Path) -> None:
    with readyz_server(state.parent, failures=0, tls=False) as server:
        url = f"https://{LOOPBACK}:{server.server_address[1]}/readyz"
        result = run_wait(ha_vip, "cp2", url, state)
    assert_failed(result, state, "none")


def test_workers_wait_for_the_endpoint_with_the_same_function(
    ha_vip: Rendered, state: Path
) -> None:
    with readyz_server(state.parent, failures=1) as server:
        url = f"https://{LOOPBACK}:{server.server_address[1]}/readyz"
        result = run_wait(ha_vip, "w1", url, state, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the cluster API endpoint is ready" in result.stdout
