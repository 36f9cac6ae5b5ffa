"""preKubeadmCommands and postKubeadmCommands (spec.roles, spec.nodes[]) in the real rendered
bootstrap script, run under bash in the sandbox (tests/support/sandbox/): one phase per
command, in order around kubeadm, with the status, stop and resume of every phase."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.status import explain

from .support.bootstrap_runs import assert_failed, has_call, kubeadm_verbs, render_with
from .support.sandbox import Sandbox
from .support.specs import Rendered

# examples/node-settings.yaml: gpu1 is a worker with its role's two pre-kubeadm commands
# and its own post-kubeadm command.
NODE = "gpu1"
PHASES = [
    "prepare",
    "install",
    "runtime",
    "prepull",
    "pre_kubeadm_1",
    "pre_kubeadm_2",
    "kubeadm",
    "post_kubeadm_1",
    "report",
]
SYSCTL_HOOK = "-p /etc/sysctl.d/90-inotify.conf"  # pre_kubeadm_1: sysctl, a recorder
EXAMPLE_DIR = "/var/lib/example"  # pre_kubeadm_2 makes it; post_kubeadm_1 touches a file in it


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render_with(tmp_path_factory.mktemp("spec"), "node-settings")


def call_index(box_calls: list[list[str]], command: str, fragment: str) -> int:
    return next(
        i for i, c in enumerate(box_calls) if c[0] == command and fragment in " ".join(c[1:])
    )


def test_hooks_run_in_order_around_kubeadm_as_phases(settings: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, settings, NODE)
    run = box.run()
    assert run.returncode == 0, box.log()
    status = box.status()
    assert [p["name"] for p in status["phases"]] == PHASES
    assert all(p["state"] == "succeeded" and p["attempts"] == 1 for p in status["phases"])
    # The role's file was written by cloud-init before the hook that reads it ran.
    assert "fs.inotify.max_user_instances" in box.path("/etc/sysctl.d/90-inotify.conf").read_text()
    sysctl = call_index(run.calls, "sysctl", SYSCTL_HOOK)
    join = call_index(run.calls, "kubeadm", "join --config")
    assert sysctl < join
    # pre_kubeadm_2 made the folder, post_kubeadm_1 (after kubeadm join) a file in it.
    assert box.exists(f"{EXAMPLE_DIR}/joined")
    log = box.log()
    assert log.index("hook pre_kubeadm_2: mkdir -p") < log.index("phase kubeadm: start")
    assert log.index("phase kubeadm: done") < log.index("hook post_kubeadm_1: touch")


def test_a_failing_hook_stops_the_node_and_a_resumed_boot_skips_the_finished_ones(
    settings: Rendered, tmp_path: Path
) -> None:
    box = Sandbox(tmp_path, settings, NODE)
    box.write(EXAMPLE_DIR, "a file where the hook makes a folder\n")  # mkdir -p fails
    failed = box.run()
    assert failed.returncode == 1
    record = assert_failed(box, "pre_kubeadm_2", "hook")
    assert record["error"].startswith(
        "hook pre_kubeadm_2 (mkdir -p /var/lib/example) exited with status 1: "
    ), record["error"]
    assert any("File exists" in line for line in record["output"]), record["output"]
    assert box.phases()["pre_kubeadm_1"]["state"] == "succeeded"
    assert kubeadm_verbs(failed) == []  # kubeadm never ran
    assert "pre_kubeadm_2 (hook)" in explain(box.status())
    assert "the hooks that finished are not repeated" in " ".join(explain(box.status()).split())

    box.path(EXAMPLE_DIR).unlink()  # the operator fixes the cause and restarts
    resumed = box.run()
    assert resumed.returncode == 0, box.log()
    assert not has_call(resumed, "sysctl", SYSCTL_HOOK)  # pre_kubeadm_1 finished before
    assert kubeadm_verbs(resumed) == ["join"]
    attempts = {p["name"]: p["attempts"] for p in box.status()["phases"]}
    assert attempts == {p: 2 if p == "pre_kubeadm_2" else 1 for p in PHASES}
    assert box.exists(f"{EXAMPLE_DIR}/joined")
    assert box.status()["result"] == "succeeded"


def test_power_loss_in_a_hook_runs_that_hook_again(settings: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, settings, NODE)
    box.rule("sysctl", SYSCTL_HOOK, 1, "kill")
    assert box.run().returncode != 0
    assert (box.status()["result"], box.status()["phase"]) == ("running", "pre_kubeadm_1")
    resumed = box.run()
    assert resumed.returncode == 0, box.log()
    assert has_call(resumed, "sysctl", SYSCTL_HOOK)
    assert "phase pre_kubeadm_1 did not finish on an earlier run (running)" in box.log()
