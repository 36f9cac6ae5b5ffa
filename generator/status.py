"""A node's status.json, fetched from /var/lib/k8sgen/: what happened and what to do now."""

from __future__ import annotations

import datetime
import json
import textwrap
import unicodedata
from pathlib import Path
from typing import Any

import jsonschema

from generator.errors import K8sgenError
from generator.inputs import InputError, read_input
from generator.layout import (
    BOOTSTRAP_UNIT,
    KUBEADM_CONFIG,
    KUBEADM_STATE,
    PKI_DIR,
    PKI_STASH,
    STATUS_FILE,
)
from generator.render.node import HEAL_ATTEMPTS, HEAL_DELAY_SECONDS, HEALING_REASONS
from generator.resources import load_schema
from generator.spec.schema import CONTROL_CATEGORIES, strict_validator

SCHEMA_FILE = "status.schema.json"
MAX_STATUS_BYTES = 256 * 1024  # the script writes about 10 KB: 20 output lines per phase
# Control characters, and formatting ones (bidi overrides, zero-width) that hide or reorder text.
UNPRINTABLE = CONTROL_CATEGORIES | {"Cf", "Cs", "Co", "Cn"}
RESTART = f"systemctl restart {BOOTSTRAP_UNIT}"
UNBLOCK = f"rm {KUBEADM_STATE}/blocked"
# kubeadm reset empties /etc/kubernetes/pki; the next attempt copies the node's CA back.
RETRY_KUBEADM = f"`kubeadm reset -f && {UNBLOCK} && {RESTART}`"
RESTORED = (
    f"The next attempt copies the CA material this node was rendered with back from {PKI_STASH} "
    f"into {PKI_DIR}, so the cluster keeps the CA that every join's CA hash names."
)

# What to do, by the reason the script recorded. {phase} is the phase that stopped.
ADVICE = {
    "network": (
        "A step that needs the network failed on every try (spec.bootstrap.retries). From the "
        "node, check that the address in the error answers (curl -v URL), and DNS, routes, "
        f"proxy and firewall. Then `{RESTART}` (or reboot): it resumes at phase {{phase}}."
    ),
    "permanent": (
        "A retry cannot fix this error: the mirror does not have what the spec asks for "
        "(package version, image tag, file) or refuses it (401/403/404). Compare the URL, "
        "version or image in the error with the mirror; fix the spec and render again (a new "
        f"node), or fix the mirror and `{RESTART}`."
    ),
    "package-lock": (
        "Another package manager run (unattended-upgrades, apt-daily, dnf-automatic, or someone "
        "by hand) held the package lock for longer than the bootstrap waits (about 10 minutes). "
        "See what holds it (`ps -ef | grep -E 'apt|dpkg|dnf|unattended'`), let it finish, then "
        f"`{RESTART}`: it resumes at phase {{phase}}. Never delete a lock file."
    ),
    "api-wait": (
        "The control plane this node waits for did not answer /readyz within "
        "spec.bootstrap.apiWaitSeconds. Explain that node's status first: it may have failed. "
        f"Once it is up, `{RESTART}` here."
    ),
    "kubeadm-init": (
        "kubeadm init failed; k8sgen does not repeat it by itself. Read its output above, "
        f"`journalctl -u kubelet` and `crictl ps -a` on this node. To try again: {RETRY_KUBEADM}. "
        + RESTORED
    ),
    "kubeadm-join-control-plane": (
        "The control-plane join failed and is not repeated by itself: it may have added an "
        "etcd member. On a working control plane, list the members (kubectl -n kube-system exec "
        f"etcd-<name> -- etcdctl --cacert {PKI_DIR}/etcd/ca.crt --cert "
        f"{PKI_DIR}/etcd/server.crt --key {PKI_DIR}/etcd/server.key "
        "member list) and remove this node's member if it is there. Then on this node: "
        f"{RETRY_KUBEADM}. " + RESTORED
    ),
    "kubeadm-interrupted": (
        "kubeadm was cut off (reboot, power loss or stop) while it ran: the node may be half set "
        "up. If a control plane's `kubectl get nodes` lists this node as Ready, record kubeadm as "
        f"done: `touch {KUBEADM_STATE}/succeeded && {UNBLOCK} && {RESTART}`. Otherwise "
        "clean up as after a failed init or join (kubeadm reset -f; for a control plane, remove "
        f"its etcd member), then `{UNBLOCK} && {RESTART}`."
    ),
    "kubeadm-join": (
        "kubeadm join failed on every try (spec.bootstrap.joinAttempts), with kubeadm reset -f "
        "in between (a control plane's only when it failed before etcd's member add: preflight, "
        "control-plane-prepare, check-etcd, kubelet-start). Read its output above; common "
        "causes: the endpoint unreachable from this node, clocks out of sync, the kubelet "
        "failing (`journalctl -u kubelet`). "
        f"`{RESTART}` (or a reboot) resets and tries again."
    ),
    "token": (
        "The cluster does not accept the bootstrap token: it expired (tokenTTL after kubeadm "
        "init) or was deleted. On a control plane, create it again with the same value: "
        "`kubeadm token create <token> --ttl 2h`, the token being the one in "
        f"{KUBEADM_CONFIG} on this node. Then `{RESTART}` here."
    ),
    "join-credential-expired": (
        "This node's join certificate (spec.bootstrap.joinWith: certificate) has ended, by "
        "this node's clock or the cluster's: kubeadm join cannot succeed with it. Where you "
        "render: `k8sgen render SPEC --renew-join-credential <this node>` mints a new one "
        "valid for spec.bootstrap.joinWindow from now (raise joinWindow first if the node "
        "boots later than that); then re-create this node with its new nodes/<node>/ files "
        "(cloud-init reads user-data once: the certificate and its end date are in it). If a "
        f"clock is wrong instead, fix its time sync and `{RESTART}`."
    ),
    "ca-hash": (
        "The cluster's CA is not the one this node was rendered with: the control plane came "
        "from another secrets file. Render again with the cluster's secrets file (--secrets) "
        "and re-create this node."
    ),
    "checksum": (
        "Every URL that answered served a calico.yaml whose sha256 is not the one the spec "
        "expects: the mirror serves a different manifest than the release's (another Calico "
        "version, or an edited file). Compare cni.calico.sha256 (or the hash k8sgen knows for "
        "cni.calico.version) with `sha256sum` of the file on the mirror; fix the mirror or the "
        f"spec (and render again), then `{RESTART}`. A restart alone changes nothing."
    ),
    "os-mismatch": (
        "The image runs another OS than spec.os. Render for the right OS (or boot the right "
        "image) and re-create the node."
    ),
    "arch-mismatch": (
        "The machine's architecture differs from spec.arch. Render with the right spec.arch "
        "(or boot the right image) and re-create the node."
    ),
    "hook": (
        "One of the spec's preKubeadmCommands or postKubeadmCommands (spec.roles, spec.nodes) "
        "failed; its output is above and in the log. Fix the cause on the node, then "
        f"`{RESTART}`: it runs that command again (the hooks that finished are not repeated) "
        "and goes on; or fix the spec and render a new node."
    ),
    "command": (
        "A local command failed unexpectedly (see the error and the log around it). Fix the "
        f"cause, then `{RESTART}`: it resumes at phase {{phase}}."
    ),
    "interrupted": (
        "The bootstrap was stopped (shutdown, reboot or systemctl stop). It resumes at phase "
        f"{{phase}} on the next boot, or now with `systemctl start {BOOTSTRAP_UNIT}`."
    ),
}
ADVICE["error"] = ADVICE["command"]
RUNNING = (
    f"Still running, or cut off by a power loss. `systemctl status {BOOTSTRAP_UNIT}` tells which; "
    "after a reboot it resumes at phase {phase}."
)


class StatusError(K8sgenError):
    """The file is not a status.json that k8sgen can read."""


def load_status(path: Path) -> dict[str, Any]:
    """The status in PATH, every string made safe to print (it came from a node)."""
    try:
        raw = read_input(path, "status file", MAX_STATUS_BYTES)
    except InputError as exc:
        raise StatusError(str(exc)) from exc
    try:
        data = json.loads(raw.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError) as exc:
        raise StatusError(
            f"{path}: not JSON ({printable(str(exc))}); is it {STATUS_FILE}?"
        ) from exc
    error = jsonschema.exceptions.best_match(
        strict_validator(load_schema(SCHEMA_FILE)).iter_errors(data)
    )
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "top level"
        raise StatusError(
            f"{path}: not a k8sgen status file ({printable(f'{where}: {error.message}')})"
        )
    result: dict[str, Any] = _printable_strings(data)
    return result


def printable(text: str) -> str:
    """text with every control or formatting character escaped (\\x1b, \\n, \\u202e).

    A node's output may hold terminal escape sequences (clear screen, hyperlinks, hidden text)
    or newlines that would forge lines of the report; plain spaces stay.
    """
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in UNPRINTABLE
        else char
        for char in text
    )


def _printable_strings(data: Any) -> Any:
    if isinstance(data, str):
        return printable(data)
    if isinstance(data, list):
        return [_printable_strings(item) for item in data]
    if isinstance(data, dict):
        return {printable(k): _printable_strings(v) for k, v in data.items()}
    return data


def explain(status: dict[str, Any]) -> str:
    """The status as a table, the failing command's last lines, and what to do."""
    lines = [_headline(status)]
    if status["error"]:
        lines.append(f"  error: {status['error']}")
    lines += ["", *_phase_table(status["phases"])]
    stopped = next((p for p in status["phases"] if p["name"] == status["phase"]), None)
    if stopped and stopped["output"] and status["result"] != "succeeded":
        lines += ["", f"last output of {stopped['name']}:"]
        lines += [f"  {line}" for line in stopped["output"]]
    lines += [
        "",
        "what to do:",
        textwrap.fill(
            _advice(status),
            92,
            initial_indent="  ",
            subsequent_indent="  ",
            break_on_hyphens=False,
            break_long_words=False,
        ),
    ]
    lines.append(f"log on the node: {status['log']} (and journalctl -u {BOOTSTRAP_UNIT})")
    return "\n".join(lines) + "\n"


def _headline(status: dict[str, Any]) -> str:
    who = (
        f"node {status['node']} ({status['role']}) of cluster {status['cluster']}, "
        f"Kubernetes {status['kubernetesVersion']}"
    )
    result = status["result"]
    if result == "succeeded":
        what = "bootstrapped"
    elif result == "running":
        what = f"running phase {status['phase']}"
    else:
        what = f"{result.upper()} in phase {status['phase']} ({status['reason']})"
    return f"{who}: {what}; run {status['runs']}, status of {status['time']}"


def _phase_table(phases: list[dict[str, Any]]) -> list[str]:
    rows = [("phase", "state", "attempts", "retries", "started", "took")]
    for phase in phases:
        took = _duration(phase["start"], phase["end"])
        attempts, retries = str(phase["attempts"]), str(phase["retries"])
        rows.append((phase["name"], phase["state"], attempts, retries, phase["start"], took))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    notes = [
        f"  {p['name']}: last error: {p['error']}"
        for p in phases
        if p["error"] and p["state"] == "succeeded"
    ]
    return [line.rstrip() for line in table] + notes


def _duration(start: str, end: str) -> str:
    if not start or not end:
        return ""
    parse = datetime.datetime.fromisoformat
    try:
        took = parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))
    except ValueError:
        return "?"  # matches the pattern, yet no date (month 13)
    seconds = int(took.total_seconds())
    minutes, seconds = divmod(max(seconds, 0), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _advice(status: dict[str, Any]) -> str:
    result = status["result"]
    if result == "succeeded":
        return "nothing: the node is bootstrapped (`kubectl get nodes` on a control plane)."
    if result == "running":
        return RUNNING.format(phase=status["phase"])
    advice = ADVICE.get(status["reason"], ADVICE["command"])
    advice = advice.format(phase=status["phase"])
    if status["reason"] in HEALING_REASONS and result == "failed":
        advice += " " + _heal_note(status.get("heals", 0))
    return advice


def _heal_note(heals: int) -> str:
    if heals >= HEAL_ATTEMPTS:
        return f"The node has used all {HEAL_ATTEMPTS} automatic restarts: restart it by hand."
    return (
        f"The node also starts its bootstrap again by itself {HEAL_DELAY_SECONDS // 60} minutes "
        f"after such a failure, {HEAL_ATTEMPTS} times at most ({heals} scheduled so far)."
    )
