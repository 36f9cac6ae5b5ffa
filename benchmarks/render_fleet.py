#!/usr/bin/env python3
"""Benchmark: render a 1,000-node cluster (3 control planes) with seed ISOs into a temp dir.

Prints wall time, time per node, CPU time and peak RSS of `k8sgen render --iso` (run as a
child process, from a cold start, secrets included), the same for a smaller fleet to show that
memory does not grow with the number of nodes, and side by side the time `cloud-localds`
(cloud-image-utils) takes to make the same seeds one by one. Prints numbers; asserts nothing.

    .venv/bin/python benchmarks/render_fleet.py [--nodes 1000] [--small 100] [--localds N]
        [--platform NAME]  (also checks the size budget, as `render --platform NAME`)
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BASE_SPEC = REPO / "examples" / "ha-external-lb.yaml"
CONTROL_PLANES = 3
POD_SUBNET = "10.64.0.0/14"  # a /24 per node: 1,024 blocks (the default /16 holds 256)


def fleet_spec(folder: Path, nodes: int) -> Path:
    """BASE_SPEC with CONTROL_PLANES control planes and workers up to NODES, static addresses."""
    data = yaml.safe_load(BASE_SPEC.read_text())
    entries = []
    for index in range(nodes):
        role = "control-plane" if index < CONTROL_PLANES else "worker"
        name = f"cp{index + 1}" if index < CONTROL_PLANES else f"w{index:04d}"
        address = f"10.20.{1 + index // 200}.{10 + index % 200}/16"
        entries.append({"name": name, "role": role, "address": address, "gateway": "10.20.0.1"})
    data["spec"]["nodes"] = entries
    data["spec"]["kubernetes"]["podSubnet"] = POD_SUBNET
    spec = folder / f"fleet-{nodes}.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    return spec


def render(spec: Path, out: Path, extra: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system; steadier than wall on a busy machine) and
    peak RSS (KiB) of one `k8sgen render --iso` child process."""
    command = [sys.executable, "-m", "generator", "render", str(spec), "-o", str(out), "--iso"]
    command += extra
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = _wait(child)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(
            f"k8sgen render failed: {child.stderr.read().decode() if child.stderr else ''}"
        )
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def _wait(child: subprocess.Popen[bytes]) -> tuple[int, int, resource.struct_rusage]:
    import os

    pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return pid, child.returncode, usage


def localds_loop(nodes_dir: Path, limit: int | None) -> tuple[float, int]:
    """Seconds cloud-localds takes to make a seed for each node folder, one after the other."""
    tool = shutil.which("cloud-localds")
    if tool is None:
        raise SystemExit("cloud-localds is not installed (Debian package cloud-image-utils)")
    folders = sorted(p for p in nodes_dir.iterdir() if p.is_dir())[:limit]
    start = time.perf_counter()
    for folder in folders:
        command = [tool]
        if (folder / "network-config").exists():
            command += ["-N", str(folder / "network-config")]
        command += [
            str(folder / "localds.iso"),
            str(folder / "user-data"),
            str(folder / "meta-data"),
        ]
        subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start, len(folders)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--small", type=int, default=100, help="smaller fleet for the RSS check")
    parser.add_argument("--localds", type=int, help="run cloud-localds on this many nodes only")
    parser.add_argument("--platform", help="also check the size budget of this platform")
    args = parser.parse_args()
    extra = ["--platform", args.platform] if args.platform else []
    with tempfile.TemporaryDirectory(prefix="k8sgen-bench-") as tmp:
        folder = Path(tmp)
        print(
            f"k8sgen render --iso {' '.join(extra)}".rstrip()
            + f", {CONTROL_PLANES} control planes, cold start, new secrets:"
        )
        for nodes in (args.small, args.nodes):
            spec = fleet_spec(folder, nodes)
            out = folder / f"out-{nodes}"
            wall, cpu, rss = render(spec, out, extra)
            isos = list((out / "prod" / "nodes").glob("*/cidata.iso"))
            size = sum(p.stat().st_size for p in (out / "prod").rglob("*") if p.is_file())
            print(
                f"  {nodes:>5} nodes: {wall:6.2f} s wall, {wall / nodes * 1000:6.2f} ms/node, "
                f"{cpu:6.2f} s CPU, "
                f"peak RSS {rss / 1024:6.1f} MiB, {len(isos)} ISOs, {size / 2**20:6.1f} MiB written"
            )
        seconds, count = localds_loop(out / "prod" / "nodes", args.localds)
        print(f"cloud-localds loop on the same seeds ({count} nodes):")
        print(
            f"  {count:>5} nodes: {seconds:6.2f} s wall, {seconds / count * 1000:6.2f} ms/node"
            + (
                f" (x{args.nodes / count:.0f}: {seconds / count * args.nodes:.1f} s)"
                if count < args.nodes
                else ""
            )
        )


if __name__ == "__main__":
    main()
