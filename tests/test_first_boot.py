"""The first-boot contract around the script: the systemd unit, cloud-init's start of it,
the token lifetime in the render summary, and `k8sgen explain-status`."""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from generator import secrets
from generator.cli import cli

from .support.bootstrap_runs import render_with
from .support.nodedata import cloud_config, files, node_names
from .support.repo import REPO
from .support.sandbox import Sandbox
from .support.specs import Rendered, example, write_spec
from .support.tools import need

UNIT = "/etc/systemd/system/k8sgen-bootstrap.service"


def unit_sections(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            current.setdefault(key, []).append(value)
    return sections


def test_cloud_init_installs_enables_and_starts_the_unit(
    rendered_examples: list[Rendered],
) -> None:
    for rendered in rendered_examples:
        for node in node_names(rendered):
            config = cloud_config(rendered, node)
            control_plane = any(
                n.name == node and n.is_control_plane for n in rendered.cluster.nodes
            )
            # Control planes also start their certificate renewal timer (tests/test_certs.py).
            renewal = [["systemctl", "enable", "--now", "k8sgen-cert-renewal.timer"]]
            assert config["runcmd"] == [
                ["systemctl", "daemon-reload"],
                ["systemctl", "enable", "k8sgen-bootstrap.service"],
                ["systemctl", "start", "--no-block", "k8sgen-bootstrap.service"],
                *(renewal if control_plane else []),
            ]
            unit = files(rendered, node)[UNIT]
            assert unit["permissions"] == "0644"
            sections = unit_sections(unit["content"])
            service = sections["Service"]
            assert service["Type"] == ["oneshot"] and service["RemainAfterExit"] == ["yes"]
            assert service["ExecStart"] == ["/usr/local/sbin/k8sgen-bootstrap"]
            assert "network-online.target" in sections["Unit"]["After"][0].split()
            assert sections["Unit"]["Wants"] == ["network-online.target"]
            # Later boots start it until it is done, then never again.
            assert sections["Unit"]["ConditionPathExists"] == ["!/var/lib/k8sgen/bootstrap.done"]
            assert sections["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_unit_passes_systemd_analyze_verify(single: Rendered, tmp_path: Path) -> None:
    """systemd's own checker, with the rendered script in place (in a sandboxed /usr/local)."""
    tool = need("systemd-analyze")
    box = Sandbox(tmp_path, single, "node1")
    unit = tmp_path / "k8sgen-bootstrap.service"
    unit.write_text(box.path(UNIT).read_text())
    result = subprocess.run(
        [
            box.bwrap,
            *("--bind", "/", "/", "--bind", str(box.root / "usr/local"), "/usr/local"),
            *("--dev", "/dev", "--proc", "/proc", "--unshare-net", "--die-with-parent"),
            *(tool, "verify", str(unit)),
        ],
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render_with(tmp_path_factory.mktemp("spec"), "single")


# --- the spec fields ---------------------------------------------------------------------


def test_bootstrap_settings_reach_the_script(tmp_path: Path) -> None:
    rendered = render_with(tmp_path, "single", reportURL="https://ops.example/k8s?c=demo&x=1")
    script = files(rendered, "node1")["/usr/local/sbin/k8sgen-bootstrap"]["content"]
    assert "readonly RETRY_ATTEMPTS=5\n" in script
    assert "readonly RETRY_INITIAL_DELAY=2\n" in script
    assert "readonly RETRY_MAX_DELAY=10\n" in script
    assert "readonly JOIN_ATTEMPTS=3\n" in script
    assert "readonly WAIT_TIMEOUT_SECONDS=60\n" in script
    assert "readonly REPORT_URL='https://ops.example/k8s?c=demo&x=1'\n" in script


def test_defaults_are_documented_values(rendered_examples: list[Rendered]) -> None:
    script = files(rendered_examples[0], rendered_examples[0].cluster.init_node.name)
    text = script["/usr/local/sbin/k8sgen-bootstrap"]["content"]
    for line in ("RETRY_ATTEMPTS=8", "RETRY_INITIAL_DELAY=5", "RETRY_MAX_DELAY=120"):
        assert f"readonly {line}\n" in text
    # No report URL, no reporting code.
    assert "readonly REPORT_URL=''\n" in text and "post_status() {" not in text
    readme = (REPO / "README.md").read_text()
    for field, default in (
        ("attempts", "8"),
        ("initialDelaySeconds", "5"),
        ("maxDelaySeconds", "120"),
        ("apiWaitSeconds", "3600"),
        ("joinAttempts", "3"),
    ):
        assert f"{field}: {default} " in readme, field


# --- token lifetime in the render summary -------------------------------------------------


def spec_file(tmp_path: Path, **bootstrap: Any) -> Path:
    """The single example with BOOTSTRAP; its workers join with the token, whose lifetime
    these tests are about."""
    bootstrap = {"joinWith": "token", **bootstrap}
    return write_spec(tmp_path, example("single", spec__bootstrap=bootstrap))


def test_render_says_until_when_the_token_is_valid(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, tokenTTL="36h")
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("bootstrap token")]
    assert "valid for 36h after kubeadm init on master1 (until about " in line
    until = line.split("until about ")[1][:20]
    expected = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=36)
    assert abs(
        datetime.datetime.strptime(until, "%Y-%m-%d %H:%M UTC").replace(tzinfo=datetime.UTC)
        - expected
    ) < datetime.timedelta(minutes=5)
    assert "expired" not in result.stderr


def test_a_token_that_never_expires_is_rendered_with_how_to_delete_it(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, tokenTTL="0")
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    assert "never expires" in result.stderr and "(warning)" in result.stderr
    token_id = secrets.load(tmp_path / "cluster.secrets.yaml", "demo").bootstrap_token[:6]
    assert f"kubeadm token delete {token_id}" in result.stdout


def test_old_secrets_warn_that_the_token_may_have_expired(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, tokenTTL="24h")
    old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=3)
    secrets.write_new(tmp_path / "cluster.secrets.yaml", secrets.generate("demo", now=old))
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    assert "warning: the secrets date from " in result.stderr
    assert "the bootstrap token has expired" in result.stderr
    assert "kubeadm token create --ttl 24h" in result.stderr
    # With a token of the operator's own, k8sgen cannot know its age: no warning.
    spec = spec_file(tmp_path, tokenTTL="24h", token="abcdef.0123456789abcdef")
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(tmp_path / "out")])
    assert "the secrets date from" not in result.stderr


# --- explain-status -------------------------------------------------------------------


def status_of(box: Sandbox, tmp_path: Path) -> Path:
    box.run()
    target = tmp_path / f"{box.node}-status.json"
    target.write_text(json.dumps(box.status()))
    return target


@pytest.mark.parametrize(
    ("node", "rule", "expected"),
    [
        ("node1", None, ["node1 (join-worker) of cluster demo", "bootstrapped", "nothing"]),
        (
            "node1",
            ("apt-get", "update", -1, "fail", 100, "E: Failed to fetch https://m.example/x"),
            [
                "FAILED in phase install (network)",
                "last output of install:\n  E: Failed to fetch https://m.example/x",
                "it resumes at phase install",
            ],
        ),
        (
            "node1",
            ("kubeadm", "join", -1, "fail", 1, 'could not find a JWS signature for token ID "x"'),
            ["FAILED in phase kubeadm (token)", "kubeadm token create <token> --ttl 2h"],
        ),
        (
            "master1",
            ("kubeadm", "init --config", -1, "fail", 1, "error execution phase preflight: x"),
            [
                "FAILED in phase kubeadm (kubeadm-init)",
                "kubeadm reset -f && rm /var/lib/k8sgen/kubeadm/blocked",
            ],
        ),
        (
            "node1",
            ("crictl", "pull", 1, "term"),
            ["INTERRUPTED in phase prepull (interrupted)", "resumes at phase prepull"],
        ),
    ],
)
def test_explain_status_says_what_failed_and_what_to_do(
    single: Rendered,
    tmp_path: Path,
    node: str,
    rule: tuple[Any, ...] | None,
    expected: list[str],
) -> None:
    box = Sandbox(tmp_path / "box", single, node)
    if rule is not None:
        box.rule(*rule)
    path = status_of(box, tmp_path)
    result = CliRunner().invoke(cli, ["explain-status", str(path)])
    assert result.exit_code == 0, result.stderr
    words = " ".join(result.stdout.split())  # explain-status wraps its advice
    for fragment in expected:
        assert " ".join(fragment.split()) in words, (fragment, result.stdout)
    assert "phase    state" in result.stdout


def test_explain_status_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    path.write_text(json.dumps({"kind": "Something"}))
    result = CliRunner().invoke(cli, ["explain-status", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {path}: not a k8sgen status file")
    path.write_text("not json")
    result = CliRunner().invoke(cli, ["explain-status", str(path)])
    assert result.exit_code == 1 and "not JSON" in result.stderr
    result = CliRunner().invoke(cli, ["explain-status", str(tmp_path / "missing.json")])
    assert result.exit_code == 1 and "cannot read" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_report_url_is_a_reach_the_zero_egress_lint_sees(tmp_path: Path) -> None:
    report_url = "https://collector.elsewhere.example/k8s"
    data = example("airgap-mirror", spec__bootstrap={"reportURL": report_url})
    spec = write_spec(tmp_path, data, "spec.yaml")
    result = CliRunner().invoke(cli, ["lint", str(spec)])
    assert result.exit_code == 1
    assert "cp1: /usr/local/sbin/k8sgen-bootstrap:" in result.stdout + result.stderr
    assert "collector.elsewhere.example" in result.stderr
    data["spec"]["offline"]["allowedHosts"] = ["collector.elsewhere.example"]
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    assert CliRunner().invoke(cli, ["lint", str(spec)]).exit_code == 0
