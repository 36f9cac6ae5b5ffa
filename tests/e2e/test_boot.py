"""A real first boot: Debian 12 under qemu, the seed ISO `k8sgen render --iso` wrote.

A real cloud-init runs the real user-data and the real systemd runs the bootstrap unit, so
this proves everything up to the first network step: cloud-init accepted the seed and put
the static address and default route on the NIC, files and permissions, hostname,
/etc/hosts, swap, modules, sysctls, time servers, the unit, the phase records, and a clean,
recorded failure at the first download after its bounded retries; then a second boot of the
same disk resumes at the failed phase. The VM's one NIC is on qemu's user-mode network with
restrict=on (nothing leaves qemu); every address a node would reach is rewritten to its own
loopback.

Slow (an image build of a few minutes the first time, then a few minutes per boot), so it
is marked `e2e`. CI runs it; locally `K8SGEN_SKIP_BOOT_TEST=1` skips it, visibly.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ..support.nodedata import WRITE_FILES_DEFAULTS
from ..support.repo import REPO
from ..support.specs import example, write_spec
from ..support.tools import need
from .vm import NIC_MAC, NIC_NAME, Boot, Disk, Image, boot, console_tail, ensure_image

pytestmark = pytest.mark.e2e

NODE = "cp"
# Nothing listens there in the VM: every download fails at once, the same way each time.
NOWHERE = "127.0.0.1:9"
RETRIES = {"attempts": 3, "initialDelaySeconds": 1, "maxDelaySeconds": 2}
# The node's static address in qemu's user network; 10.0.2.2 is qemu's virtual gateway and
# 10.0.2.3 its name server (unused: nothing in the VM resolves a name).
ADDRESS, PREFIX, GATEWAY, DNS = "10.0.2.15", 24, "10.0.2.2", "10.0.2.3"
OBSERVED = "/var/lib/k8sgen-e2e/observed.json"
STATUS = "/var/lib/k8sgen/status.json"
LOG = "/var/log/k8sgen/bootstrap.log"


def skip_requested() -> bool:
    if os.environ.get("K8SGEN_SKIP_BOOT_TEST") != "1":
        return False
    if os.environ.get("CI"):
        pytest.fail("K8SGEN_SKIP_BOOT_TEST=1 is for local runs only: CI must boot the VM")
    return True


def boot_spec(folder: Path) -> Path:
    """The Debian 12 example with every place a node would download from on its loopback."""
    mirrors = {
        "preset": "custom",
        "images": f"{NOWHERE}/k8s",
        "packages": f"http://{NOWHERE}/kubernetes",
        "containerd": f"http://{NOWHERE}/docker",
    }
    spec = example(
        "debian12-k8s130",
        spec__mirrors=mirrors,
        spec__cni__calico__manifest=f"http://{NOWHERE}/calico.yaml",
        spec__ntp=["127.0.0.1"],
    )
    body = spec["spec"]
    # The init node on the VM's NIC, named as the guest names it. Name servers too, as every
    # example has: cloud-init's eni renderer adds lines for them that ifup must accept.
    node = next(n for n in body["nodes"] if n["name"] == NODE)
    node.update(address=f"{ADDRESS}/{PREFIX}", gateway=GATEWAY, interface=NIC_NAME, dns=[DNS])
    # Few and short retries: the first download gives up within seconds, still retried.
    body["bootstrap"]["retries"] = RETRIES
    return write_spec(folder, spec, "boot.yaml")


def render_seed(folder: Path) -> Path:
    """`k8sgen render --iso`, as an operator runs it; returns the node's folder."""
    spec = boot_spec(folder)
    command = [sys.executable, "-m", "generator", "render", str(spec), "--iso"]
    command += ["-o", str(folder / "output"), "--secrets", str(folder / "boot.secrets.yaml")]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    cluster: str = yaml.safe_load(spec.read_text())["metadata"]["name"]
    return folder / "output" / cluster / "nodes" / NODE


@dataclass(frozen=True)
class Booted:
    node: Path  # the rendered node folder: user-data, meta-data, network-config, cidata.iso
    run: Boot
    disk: Disk
    observed: dict[str, Any]

    def user_data(self) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load((self.node / "user-data").read_text())
        return data

    def log(self) -> str:
        return self.disk.text(LOG)


def start(image: Image, node: Path, work: Path, after: Booted | None = None) -> Booted:
    """Boot the node's seed on a fresh disk, or again on a copy of an earlier boot's disk."""
    run = boot(image, node / "cidata.iso", work, after.run.disk if after else None)
    disk = Disk(run.disk)
    observed = disk.json(OBSERVED) if disk.exists(OBSERVED) else {}
    if not observed or (after and observed["boot_id"] == after.observed["boot_id"]):
        pytest.fail(
            "the VM powered off without recording its state; console:\n"
            + console_tail(run.console)
            + "\ncloud-init-output.log:\n"
            + disk.tail("/var/log/cloud-init-output.log")
        )
    return Booted(node, run, disk, observed)


def kept_if_failed(request: pytest.FixtureRequest, booted: Booted) -> Iterator[Booted]:
    failed_before = request.session.testsfailed
    yield booted
    # A disk is most of a gigabyte: kept only when a test failed, to look into.
    if request.session.testsfailed == failed_before:
        booted.run.disk.unlink()


@pytest.fixture(scope="module")
def rendered_node(tmp_path_factory: pytest.TempPathFactory) -> tuple[Image, Path]:
    if skip_requested():
        pytest.skip("K8SGEN_SKIP_BOOT_TEST=1: the real boot test was not run")
    for tool in ("qemu-system-x86_64", "debootstrap", "mkfs.ext4", "debugfs"):
        need(tool)
    image = ensure_image()
    return image, render_seed(tmp_path_factory.mktemp("render"))


@pytest.fixture(scope="module")
def booted(
    rendered_node: tuple[Image, Path],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Booted]:
    """The first boot of a fresh node."""
    image, node = rendered_node
    yield from kept_if_failed(request, start(image, node, tmp_path_factory.mktemp("boot")))


@pytest.fixture(scope="module")
def rebooted(
    rendered_node: tuple[Image, Path],
    booted: Booted,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Booted]:
    """The same node booted again (a copy of its disk after the first boot, seed attached)."""
    image, node = rendered_node
    work = tmp_path_factory.mktemp("reboot")
    yield from kept_if_failed(request, start(image, node, work, after=booted))


def test_image_build_script_passes_shellcheck() -> None:
    script = Path(__file__).parent / "image" / "build.sh"
    result = subprocess.run([need("shellcheck"), str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_the_vm_had_one_nic_on_a_restricted_user_network(booted: Booted) -> None:
    assert booted.observed["interfaces"] == sorted([NIC_NAME, "lo"])


def test_cloud_init_took_the_seed_iso(booted: Booted) -> None:
    result = booted.observed["cloud_init_result"]["v1"]
    assert result["datasource"].startswith("DataSourceNoCloud [seed=/dev/vdb]")
    meta = yaml.safe_load((booted.node / "meta-data").read_text())
    assert booted.disk.text("/var/lib/cloud/data/instance-id").strip() == meta["instance-id"]


def test_cloud_init_finished_without_errors(booted: Booted) -> None:
    """runcmd only enables and starts the unit: cloud-init ends clean, whatever the bootstrap."""
    assert booted.observed["cloud_init_result"]["v1"]["errors"] == []
    stages = booted.observed["cloud_init_status"]["v1"]
    assert {name: stage["errors"] for name, stage in stages.items() if isinstance(stage, dict)} == {
        "init-local": [],
        "init": [],
        "modules-init": [],
        "modules-config": [],
        "modules-final": [],
    }


def test_network_config_was_rendered_for_ifupdown(booted: Booted) -> None:
    """cloud-init 22.4's eni renderer wrote the address for the NIC's real name, and the
    default route as ifupdown's own `gateway` (iproute2), not `post-up route add` (net-tools,
    which the image does not have)."""
    rendered = booted.disk.text("/etc/network/interfaces.d/50-cloud-init")
    assert re.search(rf"^iface {NIC_NAME} inet static$", rendered, re.MULTILINE), rendered
    assert re.search(rf"^ +address {ADDRESS}/{PREFIX}$", rendered, re.MULTILINE), rendered
    assert re.search(rf"^ +gateway {GATEWAY}$", rendered, re.MULTILINE), rendered
    assert re.search(rf"^ +dns-nameservers {DNS}$", rendered, re.MULTILINE), rendered
    assert "route add" not in rendered, rendered
    assert not booted.disk.exists("/usr/sbin/route"), "net-tools would hide a route(8) line"


def test_static_address_and_default_route_are_live_on_the_nic(booted: Booted) -> None:
    """`ip -j address` / `ip -j route` in the running guest: the NIC qemu gave the MAC has the
    spec's name, is up, holds the static address and carries the default route."""
    (nic,) = [link for link in booted.observed["addresses"] if link["address"] == NIC_MAC]
    assert (nic["ifname"], nic["operstate"]) == (NIC_NAME, "UP"), nic
    ipv4 = [(a["local"], a["prefixlen"]) for a in nic["addr_info"] if a["family"] == "inet"]
    assert ipv4 == [(ADDRESS, PREFIX)], nic
    defaults = [r for r in booted.observed["routes"] if r["dst"] == "default"]
    assert [(r["gateway"], r["dev"]) for r in defaults] == [(GATEWAY, NIC_NAME)], defaults


def content_of(entry: dict[str, Any]) -> bytes:
    content: bytes = entry["content"].encode()
    if entry.get("encoding") == "gz+b64":
        return gzip.decompress(base64.b64decode(content))
    assert "encoding" not in entry, entry["encoding"]
    return content


def test_write_files_are_on_disk_with_their_permissions(booted: Booted) -> None:
    """Entries that leave out owner and permissions get cloud-init's defaults (root, 0644)."""
    entries = [{**WRITE_FILES_DEFAULTS, **e} for e in booted.user_data()["write_files"]]
    assert len(entries) > 10
    assert any("permissions" not in e for e in booted.user_data()["write_files"])
    for entry in entries:
        path = entry["path"]
        inode = booted.disk.stat(path)
        assert (inode.kind, inode.uid, inode.gid) == ("regular", 0, 0), path
        assert oct(inode.mode & 0o7777) == oct(int(entry["permissions"], 8)), path
        assert booted.disk.read(path) == content_of(entry), path


def test_hostname_and_hosts_block(booted: Booted) -> None:
    assert booted.observed["hostname"] == NODE
    assert booted.disk.text("/etc/hostname").strip() == NODE
    block = booted.disk.text("/etc/k8sgen/hosts")
    assert block.startswith("# BEGIN k8sgen\n")
    assert booted.disk.text("/etc/hosts").count(block) == 1


def test_swap_was_on_and_is_off(booted: Booted) -> None:
    console = booted.run.console.read_text(errors="replace")
    assert "Activated swap" in console, "the image's swap file was never on: nothing was proved"
    assert booted.observed["swaps"] == []
    fstab = booted.disk.text("/etc/fstab").splitlines()
    assert "#/swapfile none swap sw 0 0" in fstab


def test_kernel_modules_and_sysctls_are_live(booted: Booted) -> None:
    assert {"overlay", "br_netfilter"} <= set(booted.observed["modules"])
    assert booted.observed["sysctl"] == {
        "net.bridge.bridge-nf-call-iptables": "1",
        "net.bridge.bridge-nf-call-ip6tables": "1",
        "net.ipv4.ip_forward": "1",
    }


def test_time_servers_from_the_spec(booted: Booted) -> None:
    """cloud-init's ntp module chose the image's systemd-timesyncd and gave it our servers."""
    config = booted.disk.text("/etc/systemd/timesyncd.conf.d/cloud-init.conf")
    servers = re.findall(r"^NTP=(.*)$", config, re.MULTILINE)
    assert [line.split() for line in servers] == [["127.0.0.1"]], config


def test_the_bootstrap_ran_as_the_enabled_unit(booted: Booted) -> None:
    unit = booted.observed["bootstrap_unit"]
    assert (unit["LoadState"], unit["Type"]) == ("loaded", "oneshot")
    assert (unit["ActiveState"], unit["Result"], unit["NRestarts"]) == ("failed", "exit-code", "0")
    wants = "/etc/systemd/system/multi-user.target.wants/k8sgen-bootstrap.service"
    assert booted.disk.stat(wants).kind == "symlink", "not enabled: a reboot would not resume"


def test_status_records_the_failed_download(booted: Booted) -> None:
    status = booted.disk.json(STATUS)
    schema = json.loads((REPO / "schemas" / "status.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(status)
    assert (status["node"], status["role"], status["runs"]) == (NODE, "init", 1)
    assert (status["result"], status["phase"], status["reason"]) == ("failed", "install", "network")
    url = f"http://{NOWHERE}/kubernetes/v1.30/deb/Release.key"
    assert status["error"].startswith("'curl ")
    assert f"{url}' failed {RETRIES['attempts']} times, the last with status 7: " in status["error"]
    states = {phase["name"]: phase["state"] for phase in status["phases"]}
    assert states == {
        "prepare": "succeeded",
        "install": "failed",
        **{name: "pending" for name in ("runtime", "prepull", "kubeadm", "cni", "report")},
    }
    install = status["phases"][1]
    assert (install["attempts"], install["retries"]) == (1, RETRIES["attempts"] - 1)
    assert any("Failed to connect to 127.0.0.1 port 9" in line for line in install["output"])
    assert booted.disk.stat(STATUS).mode & 0o777 == 0o644
    assert booted.disk.stat("/var/lib/k8sgen").mode & 0o777 == 0o700


def test_phase_records_let_a_restart_resume_at_install(booted: Booted) -> None:
    assert booted.disk.exists("/var/lib/k8sgen/phases/prepare.done")
    assert not booted.disk.exists("/var/lib/k8sgen/phases/install.done")
    assert not booted.disk.exists("/var/lib/k8sgen/bootstrap.done")


def test_log_shows_each_phase_and_the_bounded_retries(booted: Booted) -> None:
    """Log lines are "TIME [PHASE] MESSAGE"; command output lines in between are skipped."""
    lines = [line.split(" ", 1)[1] for line in booted.log().splitlines() if line[:1].isdigit()]
    assert lines[0].startswith("[start] run 1 of the bootstrap of cp (init); phases: prepare ")
    assert lines[1:4] == [
        "[prepare] phase prepare: start (attempt 1)",
        "[prepare] phase prepare: done",
        "[install] phase install: start (attempt 1)",
    ]
    retried = lines[4:-1]
    assert len(retried) == RETRIES["attempts"] - 1
    for number, line in enumerate(retried, start=1):
        assert line.startswith(f"[install] try {number} of {RETRIES['attempts']} of 'curl "), line
        delay = re.fullmatch(r".*; again in (\d+)s", line)
        assert delay and 1 <= int(delay[1]) <= RETRIES["maxDelaySeconds"], line
    assert lines[-1].startswith("[install] FAILED (network): 'curl "), "ran past the failure"


def test_explain_status_reads_the_nodes_status_file(booted: Booted, tmp_path: Path) -> None:
    """What an operator does with the file fetched from the node."""
    fetched = tmp_path / "cp.json"
    fetched.write_bytes(booted.disk.read(STATUS))
    command = [sys.executable, "-m", "generator", "explain-status", str(fetched)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith(
        "node cp (init) of cluster lab, Kubernetes 1.30.14: FAILED in phase install"
    )
    assert "systemctl restart k8sgen-bootstrap.service" in result.stdout


def test_a_reboot_resumes_at_the_failed_phase(booted: Booted, rebooted: Booted) -> None:
    """systemd starts the enabled unit on the next boot; it skips prepare, retries install."""
    status = rebooted.disk.json(STATUS)
    assert (status["runs"], status["result"], status["phase"]) == (2, "failed", "install")
    prepare, install = status["phases"][:2]
    assert (prepare["state"], prepare["attempts"]) == ("succeeded", 1)
    assert (install["state"], install["attempts"]) == ("failed", 2)
    assert install["retries"] == 2 * (RETRIES["attempts"] - 1)
    second_run = rebooted.log()[len(booted.log()) :]
    assert "[start] run 2 of the bootstrap of cp (init)" in second_run
    assert "phase prepare: done on an earlier run" in second_run
    assert "[install] phase install: start (attempt 2)" in second_run
    assert "phase prepare: start" not in second_run


def test_a_reboot_does_not_run_cloud_init_again(booted: Booted, rebooted: Booted) -> None:
    """Same instance-id: write_files and runcmd are per instance, the seed is not re-applied."""
    assert rebooted.observed["cloud_init_result"]["v1"]["errors"] == []
    runcmd = "/var/lib/cloud/instance/sem/config_runcmd"
    assert rebooted.disk.read(runcmd) == booted.disk.read(runcmd)
