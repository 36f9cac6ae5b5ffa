"""The real rendered bootstrap script, run under bash in a sandbox with recorder commands.

These tests check the script's own logic (phase order, resume, retries, kubeadm policy,
status.json), not kubeadm or apt: every system command is a recorder that can be told to
fail, print, or cut the run short (tests/support/sandbox/).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .support.bootstrap_runs import (
    API_WAIT,
    ATTEMPTS,
    JOIN_ATTEMPTS,
    MAX_DELAY,
    assert_backoff,
    assert_failed,
    count_calls,
    has_call,
    kubeadm_verbs,
    render_with,
)
from .support.sandbox import RECORDER, Sandbox
from .support.specs import Rendered
from .support.tools import need

REPORT_URL = "http://127.0.0.1:9/k8sgen/status"
INIT_PHASES = ["prepare", "install", "runtime", "prepull", "kubeadm", "cni", "report"]
JOIN_PHASES = ["prepare", "install", "runtime", "prepull", "kubeadm", "report"]
# A call only this phase makes (command, words its arguments start with): where a test
# cuts a run short.
MARK = {
    "prepare": ("swapoff", "-a"),
    "install": ("apt-get", "install"),
    "runtime": ("systemctl", "restart containerd"),
    "prepull": ("crictl", "pull"),
    "kubeadm": ("kubeadm", "--config"),  # init --config or join --config, see mark_of
    "cni": ("kubectl", "apply"),
    "report": ("systemctl", "is-active kubelet"),
}
TOKEN = re.compile(r"[a-z0-9]{6}\.[a-z0-9]{16}")


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render_with(tmp_path_factory.mktemp("spec"), "single")


@pytest.fixture(scope="module")
def reporting(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render_with(tmp_path_factory.mktemp("spec"), "single", reportURL=REPORT_URL)


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render_with(tmp_path_factory.mktemp("spec"), "ha-external-lb")


@pytest.fixture(scope="module")
def ha_vip(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render_with(tmp_path_factory.mktemp("spec"), "ha-vip")


# --- success, order and the finished node ------------------------------------------------


@pytest.mark.parametrize(
    ("example", "node", "phases"),
    [
        ("single", "master1", INIT_PHASES),
        ("single", "node1", JOIN_PHASES),
        ("ha", "cp2", JOIN_PHASES),
    ],
)
def test_every_phase_runs_once_in_order_and_is_recorded(
    request: pytest.FixtureRequest, tmp_path: Path, example: str, node: str, phases: list[str]
) -> None:
    box = Sandbox(tmp_path, request.getfixturevalue(example), node)
    run = box.run()
    assert run.returncode == 0, box.log()
    status = box.status()
    assert (status["result"], status["node"], status["runs"]) == ("succeeded", node, 1)
    assert [p["name"] for p in status["phases"]] == phases
    for record in status["phases"]:
        assert (record["state"], record["attempts"], record["retries"]) == ("succeeded", 1, 0)
        assert record["start"] <= record["end"]
        assert box.exists(f"/var/lib/k8sgen/phases/{record['name']}.done")
    starts = [p["start"] for p in status["phases"]]
    assert starts == sorted(starts)
    # The system calls come in phase order too.
    first = []
    verb = "init" if phases == INIT_PHASES else "join"
    for phase in phases:
        command, fragment = MARK[phase]
        if phase == "kubeadm":
            fragment = f"{verb} --config"
        first.append(
            next(i for i, c in enumerate(run.calls) if c[0] == command and fragment in " ".join(c))
        )
    assert first == sorted(first)
    assert box.exists("/var/lib/k8sgen/bootstrap.done")
    assert "reset" not in kubeadm_verbs(run)
    # The prepare phase's own effects on the fake root.
    assert "#/swap.img none swap" in box.path("/etc/fstab").read_text()
    assert "# BEGIN k8sgen" in box.path("/etc/hosts").read_text()


def test_a_finished_node_does_nothing_on_later_boots(single: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, single, "node1")
    assert box.run().returncode == 0
    again = box.run()
    assert again.returncode == 0
    assert again.calls == []
    assert "bootstrapped already" in box.log()


def test_a_second_run_while_one_runs_leaves_it_alone(single: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, single, "node1")
    run = box.run(hold_lock=True)
    assert run.returncode == 75
    assert run.calls == []
    assert not box.exists("/var/lib/k8sgen/status.json")


# --- resume ----------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", [p for p in INIT_PHASES if p != "kubeadm"])
def test_power_loss_in_a_phase_resumes_there(single: Rendered, tmp_path: Path, phase: str) -> None:
    box = Sandbox(tmp_path, single, "master1")
    command, fragment = MARK[phase]
    box.rule(command, fragment, 1, "kill")
    cut = box.run()
    assert cut.returncode != 0
    status = box.status()
    assert (status["result"], status["phase"]) == ("running", phase)
    index = INIT_PHASES.index(phase)
    states = [p["state"] for p in status["phases"]]
    assert states == ["succeeded"] * index + ["running"] + ["pending"] * (len(states) - index - 1)

    resumed = box.run()
    assert resumed.returncode == 0, box.log()
    for earlier in INIT_PHASES[:index]:
        assert not has_call(resumed, *MARK[earlier]), earlier
    assert has_call(resumed, command, fragment)
    attempts = {p["name"]: p["attempts"] for p in box.status()["phases"]}
    assert attempts == {p: 2 if p == phase else 1 for p in INIT_PHASES}
    assert (box.status()["result"], box.status()["runs"]) == ("succeeded", 2)
    assert f"phase {phase} did not finish on an earlier run (running)" in box.log()


@pytest.mark.parametrize("phase", ["install", "prepull"])
def test_a_stop_is_recorded_and_resumed(single: Rendered, tmp_path: Path, phase: str) -> None:
    box = Sandbox(tmp_path, single, "node1")
    box.rule(*MARK[phase], 1, "term")
    stopped = box.run()
    assert stopped.returncode == 143
    status = box.status()
    assert (status["result"], status["phase"], status["reason"]) == (
        "interrupted",
        phase,
        "interrupted",
    )
    assert box.phases()[phase]["state"] == "interrupted"
    resumed = box.run()
    assert resumed.returncode == 0, box.log()
    assert not has_call(resumed, *MARK["prepare"])
    assert box.phases()[phase]["attempts"] == 2
    assert box.status()["result"] == "succeeded"


def test_a_worker_cut_off_in_kubeadm_join_resets_then_joins(
    single: Rendered, tmp_path: Path
) -> None:
    box = Sandbox(tmp_path, single, "node1")
    box.rule("kubeadm", "join", 1, "kill")
    assert box.run().returncode != 0
    resumed = box.run()
    assert resumed.returncode == 0, box.log()
    assert kubeadm_verbs(resumed) == ["reset", "join"]
    assert box.status()["result"] == "succeeded"


@pytest.mark.parametrize(
    ("example", "node", "verb"), [("single", "master1", "init"), ("ha", "cp3", "join")]
)
def test_an_init_or_control_plane_join_cut_off_is_not_repeated(
    request: pytest.FixtureRequest, tmp_path: Path, example: str, node: str, verb: str
) -> None:
    box = Sandbox(tmp_path, request.getfixturevalue(example), node)
    box.rule("kubeadm", f"{verb} --config", 1, "kill")
    assert box.run().returncode != 0
    again = box.run()
    assert again.returncode == 1
    assert kubeadm_verbs(again) == []
    record = assert_failed(box, "kubeadm", "kubeadm-interrupted")
    assert "not repeated automatically" in record["error"]


def test_an_init_with_kube_vip_resumes_after_kubeadm_init(ha_vip: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, ha_vip, "cp1")
    box.rule("crictl", "pods", 1, "say", 0, "")  # kube-vip's pod before it moves to admin.conf
    box.rule("crictl", "pods", -1, "say", 0, "kube-vip-on-admin-conf")
    box.rule("kubeadm", "init phase bootstrap-token", 1, "kill")
    cut = box.run()
    assert cut.returncode != 0
    assert count_calls(cut, "kubeadm", "--skip-phases=bootstrap-token") == 1
    resumed = box.run()
    assert resumed.returncode == 0, box.log()
    # init succeeded before the cut: not repeated; kube-vip moved already: not waited for again.
    assert not has_call(resumed, "kubeadm", "--skip-phases")
    assert not has_call(resumed, "crictl", "pods")
    assert has_call(resumed, "kubeadm", "init phase bootstrap-token")
    assert "reset" not in kubeadm_verbs(cut) + kubeadm_verbs(resumed)
    assert box.status()["result"] == "succeeded"


def test_a_transient_failure_of_the_bootstrap_token_phase_is_retried(
    ha_vip: Rendered, tmp_path: Path
) -> None:
    """Right after kube-vip moves, the VIP may not answer yet: the idempotent phase is retried."""
    box = Sandbox(tmp_path, ha_vip, "cp1")
    box.rule("crictl", "pods", 1, "say", 0, "")  # kube-vip's pod before it moves to admin.conf
    box.rule("crictl", "pods", -1, "say", 0, "kube-vip-on-admin-conf")
    refused = "error execution phase bootstrap-token: dial tcp 127.0.0.1:6443: connection refused"
    box.rule("kubeadm", "init phase bootstrap-token", 1, "fail", 1, refused)
    run = box.run()
    assert run.returncode == 0, box.log()
    assert count_calls(run, "kubeadm", "init phase bootstrap-token") == 2
    assert box.phases()["kubeadm"]["retries"] == 1
    assert box.status()["result"] == "succeeded"


def test_an_image_bake_then_the_first_boot_of_a_baked_node(tmp_path: Path) -> None:
    """The Packer bake runs its phases in the same framework; the image's first boot checks it."""
    rendered = render_with(tmp_path, "baked", baked=True)
    box = Sandbox(tmp_path / "box", rendered, "cp1")
    files = "/var/tmp/k8sgen-files"  # where the Packer template uploads packer/files/
    for path, artifact in rendered.artifacts.items():
        if path.startswith("packer/files/"):
            box.write(files + path.removeprefix("packer/files"), artifact.content.decode())
    box.write("/usr/local/sbin/k8sgen-bake", rendered.text("packer/bake.sh"), 0o755)
    bake = box.run(script="/usr/local/sbin/k8sgen-bake", env={"K8SGEN_FILES": files})
    assert bake.returncode == 0, bake.output
    assert "image baked for Kubernetes" in bake.output
    assert has_call(bake, "apt-get", "install") and has_call(bake, "crictl", "pull")
    assert ["cloud-init", "clean", "--logs"] in bake.calls
    assert not box.exists("/var/lib/k8sgen")  # sealed: the node's first boot starts afresh
    assert box.exists("/etc/k8sgen/image.json")

    box.cloud_init_write_files()  # the node's user-data, on the baked image's first boot
    box.rule("kubeadm", "version -o short", -1, "say", 0, f"v{rendered.cluster.version}")
    boot = box.run()
    assert boot.returncode == 0, box.log()
    assert [p["name"] for p in box.status()["phases"]] == [
        "prepare",
        "image",
        "kubeadm",
        "cni",
        "report",
    ]
    assert not boot.named("apt-get") and not has_call(boot, "crictl", "pull")


# --- retries ---------------------------------------------------------------------------------


def test_a_network_step_is_retried_with_backoff(single: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, single, "node1")
    box.rule("curl", "kubernetes.asc", 2, "fail", 7, "curl: (7) Failed to connect to mirror")
    run = box.run()
    assert run.returncode == 0, box.log()
    assert count_calls(run, "curl", "kubernetes.asc") == 3
    assert len(run.sleeps()) == 2
    assert_backoff(run.sleeps())
    install = box.phases()["install"]
    assert (install["state"], install["retries"]) == ("succeeded", 2)
    assert "Failed to connect" in install["error"]  # the last error, kept for the record


def test_a_network_step_gives_up_after_the_configured_attempts(
    single: Rendered, tmp_path: Path
) -> None:
    box = Sandbox(tmp_path, single, "node1")
    box.rule("apt-get", "update", -1, "fail", 100, "E: Failed to fetch https://mirror/InRelease")
    run = box.run()
    assert run.returncode == 1
    assert count_calls(run, "apt-get", "update") == ATTEMPTS
    sleeps = run.sleeps()
    assert len(sleeps) == ATTEMPTS - 1
    assert_backoff(sleeps)
    assert max(sleeps) <= MAX_DELAY
    record = assert_failed(box, "install", "network")
    assert f"failed {ATTEMPTS} times" in record["error"]
    assert "E: Failed to fetch" in record["error"]
    assert record["output"] == ["E: Failed to fetch https://mirror/InRelease"]
    assert record["retries"] == ATTEMPTS - 1
    assert [p["state"] for p in box.status()["phases"]][2:] == ["pending"] * 4
    assert not run.named("kubeadm")


def test_the_delay_stops_growing_at_the_maximum(single: Rendered, tmp_path: Path) -> None:
    # A joiner's API wait uses the same backoff: long enough to reach the cap.
    box = Sandbox(tmp_path, single, "node1")
    box.rule("curl", "/readyz", 6, "say", 0, "[-]etcd failed: reason withheld")
    run = box.run()
    assert run.returncode == 0, box.log()
    sleeps = run.sleeps()
    assert len(sleeps) == 6
    assert_backoff(sleeps)
    assert all(MAX_DELAY - MAX_DELAY // 2 <= s <= MAX_DELAY for s in sleeps[3:])


@pytest.mark.parametrize(
    ("command", "match", "code", "text"),
    [
        ("apt-get", "install", 100, "E: Version '1.33.4-*' for 'kubelet' was not found"),
        ("curl", "docker.asc", 22, "curl: (22) The requested URL returned error: 404"),
        (
            "crictl",
            "pull",
            1,
            'E0101 rpc error: code = NotFound desc = failed to pull image "x": not found',
        ),
    ],
)
def test_an_error_a_retry_cannot_fix_fails_at_once(
    single: Rendered, tmp_path: Path, command: str, match: str, code: int, text: str
) -> None:
    box = Sandbox(tmp_path, single, "node1")
    box.rule(command, match, -1, "fail", code, text)
    run = box.run()
    assert run.returncode == 1
    assert count_calls(run, command, match) == 1
    assert run.sleeps() == []
    phase = "prepull" if command == "crictl" else "install"
    record = assert_failed(box, phase, "permanent")
    assert "retrying cannot fix" in record["error"]
    assert record["output"] == [text]


def test_partials_written_for_the_old_retry_still_work(single: Rendered, tmp_path: Path) -> None:
    """`retry 2 COMMAND` (a count first, as before spec.bootstrap.retries): the spec decides."""
    box = Sandbox(tmp_path, single, "node1")
    script = box.path("/usr/local/sbin/k8sgen-bootstrap")
    text = script.read_text()
    assert "  retry crictl pull" in text
    script.write_text(text.replace("  retry crictl pull", "  retry 2 crictl pull"))
    box.rule("crictl", "pull", -1, "fail", 1, "E0101 rpc error: code = Unavailable")
    run = box.run()
    assert run.returncode == 1
    assert count_calls(run, "crictl", "pull") == ATTEMPTS
    assert_failed(box, "prepull", "network")


def test_status_json_escapes_what_commands_print(single: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, single, "node1")
    text = 'E: Unable to locate package "k\\\\ube\\tlet" \\x01end'  # printf %b escapes
    box.rule("apt-get", "install", -1, "fail", 100, text)
    assert box.run().returncode == 1
    record = assert_failed(box, "install", "permanent")  # parsed, and checked by the schema
    assert record["output"] == ['E: Unable to locate package "k\\ube\tlet" end']
    assert record["error"].endswith('E: Unable to locate package "k\\ube let" end')


# --- the API wait and kubeadm ---------------------------------------------------------------


def test_the_api_wait_is_bounded(single: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, single, "node2")
    box.rule("curl", "/readyz", -1, "fail", 7, "curl: (7) Failed to connect")
    run = box.run()
    assert run.returncode == 1
    assert API_WAIT <= sum(run.sleeps()) < API_WAIT + MAX_DELAY
    assert kubeadm_verbs(run) == []
    record = assert_failed(box, "kubeadm", "api-wait")
    assert "was not ready after" in record["error"]


def test_a_failed_worker_join_is_retried_after_reset(single: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, single, "node1")
    box.rule("kubeadm", "join", 2, "fail", 1, "error execution phase kubelet-start: timed out")
    run = box.run()
    assert run.returncode == 0, box.log()
    assert kubeadm_verbs(run) == ["join", "reset", "join", "reset", "join"]
    assert ["kubeadm", "reset", "-f"] in run.calls
    assert_backoff(run.sleeps()[-2:])
    assert box.phases()["kubeadm"]["retries"] == 2


def test_a_rejoin_refused_while_the_old_node_is_ready_waits_past_the_grace_period(
    single: Rendered, tmp_path: Path
) -> None:
    """kubeadm refuses a Node name that is still Ready until node-monitor grace (40-50 s)."""
    box = Sandbox(tmp_path, single, "node1")
    ready = (
        'error execution phase kubelet-start: a Node with name "node1" and status "Ready" '
        "already exists in the cluster. You must delete the existing Node or change the name "
        "of this new joining Node"
    )
    box.rule("kubeadm", "join", 1, "fail", 1, ready)
    run = box.run()
    assert run.returncode == 0, box.log()
    assert kubeadm_verbs(run) == ["join", "reset", "join"]
    assert run.sleeps()[-1] >= 60


@pytest.mark.parametrize(
    ("text", "reason", "joins"),
    [
        ("error execution phase kubelet-start: timed out", "kubeadm-join", JOIN_ATTEMPTS),
        (
            "error execution phase preflight: couldn't validate the identity of the API Server: "
            'could not find a JWS signature in the cluster-info ConfigMap for token ID "abcdef"',
            "token",
            JOIN_ATTEMPTS,
        ),
        (
            "error execution phase preflight: couldn't validate the identity of the API Server: "
            "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys "
            '"sha256:0f" are pinned',
            "ca-hash",
            1,
        ),
    ],
)
def test_a_worker_join_that_keeps_failing_stops_with_its_reason(
    single: Rendered, tmp_path: Path, text: str, reason: str, joins: int
) -> None:
    box = Sandbox(tmp_path, single, "node1")
    box.rule("kubeadm", "join", -1, "fail", 1, f"[preflight] Running pre-flight checks\\n{text}")
    run = box.run()
    assert run.returncode == 1
    assert kubeadm_verbs(run) == ["join", "reset"] * (joins - 1) + ["join"]
    record = assert_failed(box, "kubeadm", reason)
    assert record["output"] == ["[preflight] Running pre-flight checks", text]
    assert box.phases()["report"]["state"] == "pending"


@pytest.mark.parametrize(
    ("example", "node", "verb", "reason"),
    [
        ("single", "master1", "init", "kubeadm-init"),
        ("ha", "cp2", "join", "kubeadm-join-control-plane"),
    ],
)
def test_a_failed_init_or_control_plane_join_is_recorded_and_never_repeated(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    example: str,
    node: str,
    verb: str,
    reason: str,
) -> None:
    box = Sandbox(tmp_path, request.getfixturevalue(example), node)
    lines = [
        "[wait-control-plane] Waiting for the kubelet to boot up the control plane",
        "kubeadm join 192.168.220.110:6443 --token abcdef.0123456789abcdef",
        "error execution phase wait-control-plane: could not initialize a Kubernetes cluster",
    ]
    box.rule("kubeadm", f"{verb} --config", 1, "fail", 1, "\\n".join(lines))
    run = box.run()
    assert run.returncode == 1
    assert kubeadm_verbs(run) == [verb]
    record = assert_failed(box, "kubeadm", reason)
    assert "wait-control-plane: could not initialize" in record["error"]
    assert "not repeated automatically" in record["error"]
    assert record["output"][0] == lines[0]
    assert record["output"][1] == "kubeadm join 192.168.220.110:6443 --token <token>"
    assert not TOKEN.search(box.path("/var/lib/k8sgen/status.json").read_text())

    # Later boots: recorded, not repeated, until someone removes the block.
    again = box.run()
    assert again.returncode == 1
    assert kubeadm_verbs(again) == []
    record = assert_failed(box, "kubeadm", reason)
    assert "recorded earlier" in record["error"] and record["attempts"] == 2
    assert record["output"][0] == lines[0]

    box.path("/var/lib/k8sgen/kubeadm/blocked").unlink()
    fixed = box.run()
    assert fixed.returncode == 0, box.log()
    assert kubeadm_verbs(fixed) == [verb]


# --- other failure classes ----------------------------------------------------------------


def test_a_node_of_another_os_stops_in_prepare(single: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, single, "node1")
    box.write("/etc/os-release", 'ID=debian\nVERSION_ID="12"\n')
    run = box.run()
    assert run.returncode == 1
    record = assert_failed(box, "prepare", "os-mismatch")
    assert "runs debian 12 but the spec says ubuntu 24.04" in record["error"]
    assert not run.named("swapoff")


def test_an_unexpected_command_failure_names_the_command(single: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, single, "node1")
    box.rule("modprobe", "br_netfilter", -1, "fail", 1, "modprobe: FATAL: Module not found")
    run = box.run()
    assert run.returncode == 1
    record = assert_failed(box, "prepare", "command")
    assert "'modprobe br_netfilter' exited with status 1" in record["error"]
    assert not run.named("apt-get")


# --- reports -----------------------------------------------------------------------------


def test_each_phase_change_is_posted(reporting: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, reporting, "master1")
    run = box.run()
    assert run.returncode == 0, box.log()
    posts = box.posts()
    assert [(p["phase"], p["result"]) for p in posts] == [
        *[(phase, "running") for phase in INIT_PHASES for _ in range(2)],
        ("report", "succeeded"),
    ]
    states = [next(x["state"] for x in p["phases"] if x["name"] == p["phase"]) for p in posts]
    assert states[:-1] == ["running", "succeeded"] * len(INIT_PHASES)
    for call in run.named("curl"):
        if "--data-binary" in call:
            assert call[-1] == REPORT_URL and "--max-time" in call


def test_a_dead_report_url_never_stops_a_node(reporting: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, reporting, "node1")
    box.rule("curl", "--data-binary", -1, "fail", 7, "curl: (7) Failed to connect")
    box.rule("apt-get", "update", -1, "fail", 100, "E: Failed to fetch")
    run = box.run()
    assert run.returncode == 1
    assert_failed(box, "install", "network")
    assert count_calls(run, "curl", "--data-binary") == 4  # prepare x2, install start, failure
    assert "could not POST the status to the report URL (ignored)" in box.log()


def test_the_recorder_passes_shellcheck() -> None:
    tool = need("shellcheck")
    result = subprocess.run(
        [tool, "--severity=style", str(RECORDER)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
