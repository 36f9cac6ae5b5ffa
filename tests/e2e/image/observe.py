#!/usr/bin/python3
"""Runs in the boot test's VM: wait for the bootstrap to end, record live state, power off.

The test reads the disk image after power-off, so what only exists while the VM runs
(loaded modules, sysctls, active swap, the hostname, addresses and routes, units, /run) is
written to /var/lib/k8sgen-e2e/observed.json here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from typing import Any

UNIT = "k8sgen-bootstrap.service"
OUT_DIR = "/var/lib/k8sgen-e2e"
SYSCTLS = (
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.ipv4.ip_forward",
)
# Bounded: the host kills the VM later than this, so a stuck bootstrap is still recorded.
WAIT_SECONDS = 1500


def run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return result.stdout


def read(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()


def sysctl(key: str) -> str | None:
    """A sysctl's value, or None when it does not exist (its module is not loaded)."""
    try:
        return read("/proc/sys/" + key.replace(".", "/")).strip()
    except OSError:
        return None


def read_json(path: str) -> Any:
    """A JSON file that may be missing (cloud-init did not run) or cut short."""
    try:
        text: str | None = read(path)
    except OSError:
        text = None
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return {"unparsable": text}


def ip_json(*arguments: str) -> Any:
    """`ip -j ...` parsed: the addresses or routes the kernel really has now."""
    text = run("ip", "-j", *arguments)
    try:
        return json.loads(text)
    except ValueError:
        return {"unparsable": text}


def unit_properties() -> dict[str, str]:
    text = run(
        "systemctl",
        "show",
        UNIT,
        "--property",
        "LoadState,ActiveState,SubState,Result,ExecMainStatus,NRestarts,Type",
    )
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def bootstrap_busy() -> bool:
    """The bootstrap unit has a job queued, or is starting, running or restarting."""
    jobs = run("systemctl", "list-jobs", "--no-legend", "--plain")
    state = unit_properties().get("ActiveState")
    return UNIT in jobs or state in ("activating", "deactivating", "reloading")


def wait_for_bootstrap() -> float:
    start = time.monotonic()
    while bootstrap_busy() and time.monotonic() - start < WAIT_SECONDS:
        time.sleep(2)
    return round(time.monotonic() - start, 1)


def observe(waited: float) -> dict[str, Any]:
    return {
        "waited_seconds": waited,
        "boot_id": read("/proc/sys/kernel/random/boot_id").strip(),
        "uptime_seconds": float(read("/proc/uptime").split()[0]),
        "hostname": socket.gethostname(),
        "swaps": read("/proc/swaps").splitlines()[1:],
        "modules": sorted(line.split()[0] for line in read("/proc/modules").splitlines()),
        "sysctl": {key: sysctl(key) for key in SYSCTLS},
        "interfaces": sorted(os.listdir("/sys/class/net")),
        "addresses": ip_json("address", "show"),
        "routes": ip_json("-4", "route", "show", "table", "main"),
        "cloud_init_result": read_json("/run/cloud-init/result.json"),
        "cloud_init_status": read_json("/run/cloud-init/status.json"),
        "bootstrap_unit": unit_properties(),
        "failed_units": run("systemctl", "list-units", "--failed", "--no-legend", "--plain"),
    }


def record(observed: dict[str, Any]) -> None:
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(OUT_DIR + "/observed.json.tmp", "w", encoding="utf-8") as file:
        json.dump(observed, file, indent=1, sort_keys=True)
        file.flush()
        os.fsync(file.fileno())
    os.replace(OUT_DIR + "/observed.json.tmp", OUT_DIR + "/observed.json")
    os.sync()


def main() -> None:
    print("k8sgen-e2e: waiting for the bootstrap to end", flush=True)
    try:
        record(observe(wait_for_bootstrap()))
        print("k8sgen-e2e: state recorded, powering off", flush=True)
    finally:
        # Even when recording failed: the test then says so at once instead of timing out.
        subprocess.run(["systemctl", "--no-block", "poweroff"], check=False)


if __name__ == "__main__":
    main()
