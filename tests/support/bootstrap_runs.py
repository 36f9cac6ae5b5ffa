"""The bootstrap settings the sandbox tests render with, and checks of a sandboxed run."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

from .sandbox import Run, Sandbox
from .specs import Rendered, example, render_spec, write_spec

# Small limits so that every bound is visible; sleeps are recorded, never slept.
ATTEMPTS = 5
INITIAL_DELAY = 2
MAX_DELAY = 10
JOIN_ATTEMPTS = 3
API_WAIT = 60
BOOTSTRAP = {
    "tokenTTL": "24h",
    "retries": {
        "attempts": ATTEMPTS,
        "initialDelaySeconds": INITIAL_DELAY,
        "maxDelaySeconds": MAX_DELAY,
    },
    "joinAttempts": JOIN_ATTEMPTS,
    "apiWaitSeconds": API_WAIT,
}

# The sandbox's curl writes this text: as the release's calico.yaml, it must have its sha256.
FAKE_DOWNLOAD_SHA256 = hashlib.sha256(b"downloaded by the fake curl\n").hexdigest()


def render_with(tmp: Path, name: str, **bootstrap: Any) -> Rendered:
    """examples/NAME.yaml with the small limits above and BOOTSTRAP's settings, rendered."""
    data = example(name, spec__bootstrap={**copy.deepcopy(BOOTSTRAP), **bootstrap})
    calico = data["spec"].setdefault("cni", {}).setdefault("calico", {})
    if "manifest" not in calico:
        calico["sha256"] = FAKE_DOWNLOAD_SHA256
    return render_spec(write_spec(tmp, data, f"{name}.yaml"))


def has_call(run: Run, command: str, fragment: str) -> bool:
    return any(fragment in " ".join(c[1:]) for c in run.named(command))


def count_calls(run: Run, command: str, fragment: str) -> int:
    return sum(1 for c in run.named(command) if fragment in " ".join(c[1:]))


def kubeadm_verbs(run: Run) -> list[str]:
    """init / join / reset, in call order (not config images ...)."""
    return [c[1] for c in run.named("kubeadm") if c[1] in ("init", "join", "reset")]


def backoff_bounds(try_number: int) -> tuple[int, int]:
    """Documented sleep after failed try N: between half the delay and the delay."""
    delay = min(MAX_DELAY, INITIAL_DELAY * 2 ** (try_number - 1))
    return delay - delay // 2, delay


def assert_backoff(sleeps: list[int]) -> None:
    for number, seconds in enumerate(sleeps, start=1):
        low, high = backoff_bounds(number)
        assert low <= seconds <= high, (number, seconds, sleeps)


def assert_failed(box: Sandbox, phase: str, reason: str) -> dict[str, Any]:
    status = box.status()
    assert (status["result"], status["phase"], status["reason"]) == ("failed", phase, reason)
    record = box.phases()[phase]
    assert (record["state"], record["reason"]) == ("failed", reason)
    assert record["error"] == status["error"] and "\n" not in record["error"]
    assert record["start"] <= record["end"]
    assert not box.exists(f"/var/lib/k8sgen/phases/{phase}.done")
    return record
