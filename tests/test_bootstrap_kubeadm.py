"""kubeadm in the sandbox: the node's own CA survives `kubeadm reset`, a control-plane join
is repeated only when it failed before etcd's member add, and failures that can heal start
the bootstrap again by itself, a bounded number of times.

The kubeadm recorder behaves as kubeadm does with /etc/kubernetes/pki: reset empties it,
init makes a new CA when there is none, a control-plane join needs the shared CA and a
worker's join refuses one (tests/support/sandbox/recorder.sh).
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from generator.cli import cli
from generator.layout import PKI_DIR, PKI_STASH
from generator.render.node import HEAL_ATTEMPTS, HEAL_DELAY_SECONDS

from .support.bootstrap_runs import (
    ATTEMPTS,
    JOIN_ATTEMPTS,
    assert_failed,
    count_calls,
    kubeadm_verbs,
    render_with,
)
from .support.kubeadm import SHARED_PKI, SHARED_PKI_NAMES
from .support.nodedata import files
from .support.sandbox import Sandbox
from .support.specs import Rendered, render_spec

WAIT_CONTROL_PLANE = "error execution phase wait-control-plane: could not initialize a cluster"
JWS_MISSING = (
    "error execution phase preflight: couldn't validate the identity of the API Server: "
    'could not find a JWS signature in the cluster-info ConfigMap for token ID "abcdef"'
)


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render_with(tmp_path_factory.mktemp("spec"), "single")


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render_with(tmp_path_factory.mktemp("spec"), "ha-external-lb")


def assert_rendered_pki(box: Sandbox, rendered: Rendered) -> None:
    """/etc/kubernetes/pki holds exactly the CA material the node was rendered with."""
    given = files(rendered, box.node)
    for name in SHARED_PKI_NAMES:
        target = box.path(f"{PKI_DIR}/{name}")
        assert target.read_text() == given[f"{PKI_STASH}/{name}"]["content"], name
        assert stat.S_IMODE(target.stat().st_mode) == 0o600, name
    for folder in (PKI_DIR, f"{PKI_DIR}/etcd"):
        assert stat.S_IMODE(box.path(folder).stat().st_mode) == 0o700, folder


def advice_of(box: Sandbox, tmp_path: Path) -> str:
    path = tmp_path / "status.json"
    path.write_text(json.dumps(box.status()))
    result = CliRunner().invoke(cli, ["explain-status", str(path)])
    assert result.exit_code == 0, result.stderr
    return " ".join(result.stdout.split("what to do:")[1].split())


# --- the shared PKI ----------------------------------------------------------------------


def test_user_data_keeps_the_shared_pki_where_reset_cannot_reach(
    single: Rendered, ha: Rendered
) -> None:
    for rendered, node in ((single, "master1"), (ha, "cp2")):
        node_files = files(rendered, node)
        stash = {p: f for p, f in node_files.items() if p.startswith(PKI_STASH + "/")}
        assert sorted(stash) == sorted(SHARED_PKI)
        assert {f["permissions"] for f in stash.values()} == {"0600"}
        assert not [p for p in node_files if p.startswith("/etc/kubernetes/")]  # written once
    assert not [p for p in files(single, "node1") if "pki" in p]  # workers: the CA hash only


def test_the_advice_after_a_failed_init_leads_to_an_init_with_the_rendered_ca(
    single: Rendered, tmp_path: Path
) -> None:
    box = Sandbox(tmp_path / "box", single, "master1")
    box.rule("kubeadm", "init --config", 1, "fail", 1, WAIT_CONTROL_PLANE)
    assert box.run().returncode == 1
    assert_failed(box, "kubeadm", "kubeadm-init")
    assert_rendered_pki(box, single)  # restored before the attempt

    # What explain-status says to type, typed on the node.
    advice = advice_of(box, tmp_path)
    command = re.search(r"`(kubeadm reset -f && [^`]*)`", advice)
    assert command, advice
    box.write("/root/advice.sh", command[1] + "\n")
    assert box.run(script="/root/advice.sh").returncode == 0
    assert not box.path(PKI_DIR).exists() or list(box.path(PKI_DIR).iterdir()) == []
    assert not box.exists("/var/lib/k8sgen/kubeadm/blocked")

    again = box.run()  # what the systemctl restart of the advice starts
    assert again.returncode == 0, box.log()
    assert kubeadm_verbs(again) == ["init"]
    assert_rendered_pki(box, single)  # not "a new CA made by kubeadm"
    assert box.status()["result"] == "succeeded"


# --- control-plane joins ---------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        "error execution phase preflight: couldn't validate the identity of the API Server: "
        "Get https://192.168.10.10:6443/api/v1/namespaces/kube-public/configmaps/cluster-info: "
        "connection refused",
        "error execution phase control-plane-prepare/download-certs: error downloading certs",
        "error: error execution phase check-etcd: etcd cluster is not healthy",
        "error execution phase kubelet-start: timed out waiting for the condition",
    ],
)
def test_a_control_plane_join_that_failed_before_etcd_is_reset_and_repeated(
    ha: Rendered, tmp_path: Path, failure: str
) -> None:
    box = Sandbox(tmp_path, ha, "cp2")
    box.rule("kubeadm", "join --config", 1, "fail", 1, failure)
    run = box.run()
    assert run.returncode == 0, box.log()
    assert kubeadm_verbs(run) == ["join", "reset", "join"]
    assert box.phases()["kubeadm"]["retries"] == 1
    assert_rendered_pki(box, ha)  # the reset emptied it; the second join had it back


@pytest.mark.parametrize(
    ("failure", "etcd_manifest"),
    [
        ("error execution phase control-plane-join/etcd: error creating local etcd", False),
        (WAIT_CONTROL_PLANE, False),
        ("error execution phase kubelet-start: timed out", True),  # an etcd manifest exists
        ("", False),  # no phase named: nobody knows how far it got
    ],
)
def test_a_control_plane_join_past_etcd_or_of_unknown_extent_is_never_repeated(
    ha: Rendered, tmp_path: Path, failure: str, etcd_manifest: bool
) -> None:
    box = Sandbox(tmp_path, ha, "cp2")
    if etcd_manifest:
        box.write("/etc/kubernetes/manifests/etcd.yaml", "kind: Pod\n")
    box.rule("kubeadm", "join --config", -1, "fail", 1, failure or "Segmentation fault")
    run = box.run()
    assert run.returncode == 1
    assert kubeadm_verbs(run) == ["join"]
    assert_failed(box, "kubeadm", "kubeadm-join-control-plane")
    assert not run.named("systemd-run")  # never repeated by itself


def test_a_control_plane_join_failing_before_etcd_on_every_try_heals_later(
    ha: Rendered, tmp_path: Path
) -> None:
    box = Sandbox(tmp_path, ha, "cp2")
    refused = "error execution phase preflight: couldn't validate the identity: connection refused"
    box.rule("kubeadm", "join --config", JOIN_ATTEMPTS, "fail", 1, refused)
    failed = box.run()
    assert failed.returncode == 1
    assert kubeadm_verbs(failed) == ["join", "reset"] * (JOIN_ATTEMPTS - 1) + ["join"]
    assert_failed(box, "kubeadm", "kubeadm-join")
    assert len(failed.named("systemd-run")) == 1
    healed = box.run()  # what the timer starts
    assert healed.returncode == 0, box.log()
    assert kubeadm_verbs(healed) == ["reset", "join"]
    assert_rendered_pki(box, ha)


# --- healing after the last retry -----------------------------------------------------------


def heal_calls(run_calls: list[list[str]]) -> list[list[str]]:
    return [c for c in run_calls if c[0] == "systemd-run"]


def test_a_failure_that_can_heal_starts_the_bootstrap_again_a_bounded_number_of_times(
    single: Rendered, tmp_path: Path
) -> None:
    box = Sandbox(tmp_path, single, "node1")
    box.rule("apt-get", "update", -1, "fail", 100, "E: Failed to fetch https://mirror/InRelease")
    for number in range(1, HEAL_ATTEMPTS + 2):
        run = box.run()  # the first boot, then each start by the timer
        assert run.returncode == 1
        assert run.named("apt-get").count(run.named("apt-get")[0]) == ATTEMPTS
        calls = heal_calls(run.calls)
        if number <= HEAL_ATTEMPTS:
            assert calls == [
                [
                    "systemd-run",
                    f"--unit=k8sgen-bootstrap-heal-{number}",
                    f"--on-active={HEAL_DELAY_SECONDS}",
                    calls[0][3],
                    "start",
                    "--no-block",
                    "k8sgen-bootstrap.service",
                ]
            ]
            assert calls[0][3].endswith("/systemctl")
        else:
            assert calls == []
        assert box.status()["heals"] == min(number, HEAL_ATTEMPTS)
    assert f"no automatic restart left ({HEAL_ATTEMPTS} of {HEAL_ATTEMPTS} used)" in box.log()
    advice = advice_of(box, tmp_path)
    assert f"used all {HEAL_ATTEMPTS} automatic restarts" in advice


@pytest.mark.parametrize(
    ("node", "rule", "reason"),
    [
        (
            "node1",
            ("apt-get", "install", -1, "fail", 100, "E: Unable to locate package x"),
            "permanent",
        ),
        (
            "master1",
            ("kubeadm", "init --config", -1, "fail", 1, WAIT_CONTROL_PLANE),
            "kubeadm-init",
        ),
        ("node1", ("modprobe", "overlay", -1, "fail", 1, "modprobe: FATAL"), "command"),
        # An expired or deleted token waits for an operator (explain-status says how).
        (
            "node1",
            ("kubeadm", "join --config", -1, "fail", 1, JWS_MISSING),
            "token",
        ),
    ],
)
def test_a_failure_that_cannot_heal_never_loops(
    single: Rendered,
    tmp_path: Path,
    node: str,
    rule: tuple[str, str, int, str, int, str],
    reason: str,
) -> None:
    box = Sandbox(tmp_path, single, node)
    box.rule(*rule)
    run = box.run()
    assert run.returncode == 1
    assert_failed(box, box.status()["phase"], reason)
    assert heal_calls(run.calls) == []
    assert box.status()["heals"] == 0


def test_explain_status_says_when_the_node_tries_again(single: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, single, "node2")
    box.rule("curl", "/readyz", -1, "fail", 7, "curl: (7) Failed to connect")
    assert box.run().returncode == 1
    assert_failed(box, "kubeadm", "api-wait")
    advice = advice_of(box, tmp_path)
    assert (
        f"starts its bootstrap again by itself {HEAL_DELAY_SECONDS // 60} minutes after such a "
        f"failure, {HEAL_ATTEMPTS} times at most (1 scheduled so far)"
    ) in advice


def test_a_calico_manifest_with_another_sha256_is_a_checksum_failure_not_a_network_one(
    single: Rendered, tmp_path: Path
) -> None:
    """Every URL answers, none with the expected file: no retry, no restart, its own advice."""
    data = yaml.safe_load(single.spec.read_text())
    data["spec"]["cni"]["calico"]["sha256"] = "ab" * 32  # not what the fake curl serves
    spec = tmp_path / "other-sha.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    rendered = render_spec(spec)
    box = Sandbox(tmp_path / "box", rendered, "master1")
    run = box.run()
    assert run.returncode == 1
    record = assert_failed(box, "cni", "checksum")
    assert "no URL served calico.yaml with sha256 " + "ab" * 32 in record["error"]
    assert count_calls(run, "curl", "calico.yaml") == len(rendered.cluster.calico.manifest_urls)
    assert heal_calls(run.calls) == [] and record["retries"] == 0
    advice = advice_of(box, tmp_path)
    assert "the mirror serves a different manifest than the release's" in advice
    assert "cni.calico.sha256" in advice


def test_calico_urls_that_all_fail_stay_a_network_failure(single: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, single, "master1")
    box.rule("curl", "calico.yaml", -1, "fail", 7, "curl: (7) Failed to connect")
    run = box.run()
    assert run.returncode == 1
    assert_failed(box, "cni", "network")
    assert box.phases()["cni"]["retries"] == ATTEMPTS - 1
    assert len(heal_calls(run.calls)) == 1
