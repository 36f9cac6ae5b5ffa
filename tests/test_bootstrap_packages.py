"""The bootstrap's package steps in the sandbox: a package-manager lock really held by another
process, and the sysctls of prepare.

The lock tests run this machine's real dpkg inside the sandbox (its /var/lib/dpkg is the
sandbox's): dpkg takes its fcntl locks itself, so the test holds the same lock from outside
with fcntl, as unattended-upgrades would. apt-get, apt-mark and dnf stay recorders.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from generator.layout import SYSCTL_FILE
from generator.render.packer import repo_files
from generator.render.variables import PACKAGE_LOCK_WAIT_SECONDS

from .support.aptrepo import build_deb, dists_repository, flat_repository, signer
from .support.bootstrap_runs import (
    MAX_DELAY,
    assert_backoff,
    assert_failed,
    count_calls,
    render_with,
)
from .support.kubernetes_debs import CONTAINERD_DEBS, KUBERNETES_DEBS, island_spec
from .support.loopback import file_server
from .support.sandbox import Sandbox
from .support.specs import Rendered, render_spec, write_spec

# A second process holds the lock; with RELEASE_AFTER > 0 it lets go once the script has slept
# that many times, and that sleep returns only then (no race with the next try).
HOLDER = """
import fcntl, os, sys, time
lock, fake, after = sys.argv[1], sys.argv[2], int(sys.argv[3])
fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o640)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("held", flush=True)
log = os.path.join(fake, "calls.log")
while not after or not os.path.exists(log) or open(log).read().count("sleep ") < after:
    time.sleep(0.02)
fcntl.lockf(fd, fcntl.LOCK_UN)
open(os.path.join(fake, "released"), "w").close()
time.sleep(3600)
"""
SLEEP = """#!/bin/bash
printf '%q ' sleep "$@" >>"$FAKE/calls.log"
printf '\\n' >>"$FAKE/calls.log"
if [ "$(grep -c '^sleep ' "$FAKE/calls.log")" -ge {after} ] && [ {after} -gt 0 ]; then
  until [ -e "$FAKE/released" ]; do /bin/sleep 0.02; done
fi
"""


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return render_with(tmp_path_factory.mktemp("spec"), "single")


def with_real_dpkg(box: Sandbox) -> None:
    """The sandbox's /var/lib/dpkg as a fresh image has it, and the real dpkg to use it."""
    for folder in ("updates", "info"):
        box.path(f"/var/lib/dpkg/{folder}").mkdir(parents=True, exist_ok=True)
    box.write("/var/lib/dpkg/status", "")
    box.use_real("dpkg")


@contextmanager
def lock_held(box: Sandbox, lock: str, release_after: int) -> Iterator[None]:
    sleep = box.fake / "sleep"
    sleep.write_text(SLEEP.format(after=release_after))
    sleep.chmod(0o755)
    (box.root / "usr/local/bin/sleep").unlink()
    (box.root / "usr/local/bin/sleep").symlink_to("/fake/sleep")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(box.path(lock)), str(box.fake), str(release_after)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield
    finally:
        holder.kill()
        holder.wait()


def test_the_real_dpkg_lock_is_waited_for_until_released(single: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, single, "node1")
    with_real_dpkg(box)
    # Released during the second sleep: dpkg --configure -a found it held twice.
    with lock_held(box, "/var/lib/dpkg/lock-frontend", 2):
        run = box.run()
    assert run.returncode == 0, box.log()
    assert count_calls(run, "dpkg", "--configure -a") == 3
    lock_sleeps = run.sleeps()[:2]
    assert_backoff(lock_sleeps)
    install = box.phases()["install"]
    assert (install["state"], install["retries"]) == ("succeeded", 2)
    assert "dpkg frontend lock was locked by another process" in install["error"]
    assert box.status()["result"] == "succeeded"


def test_a_lock_never_released_fails_as_transient_after_the_bound(
    single: Rendered, tmp_path: Path
) -> None:
    box = Sandbox(tmp_path, single, "node1")
    with_real_dpkg(box)
    with lock_held(box, "/var/lib/dpkg/lock", 0):
        run = box.run()
    assert run.returncode == 1
    sleeps = run.sleeps()
    assert PACKAGE_LOCK_WAIT_SECONDS <= sum(sleeps) < PACKAGE_LOCK_WAIT_SECONDS + MAX_DELAY
    assert count_calls(run, "dpkg", "--configure -a") == len(sleeps) + 1
    record = assert_failed(box, "install", "package-lock")
    assert "dpkg database lock was locked by another process" in record["error"]
    assert any("locked by another process" in line for line in record["output"])
    assert not run.named("apt-get")


def test_a_lock_does_not_use_up_the_network_tries(single: Rendered, tmp_path: Path) -> None:
    """apt-get update ignores DPkg::Lock::Timeout (apt 2.6): the script waits for it."""
    box = Sandbox(tmp_path, single, "node1")
    held = "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 812 (apt-get)"
    box.rule("apt-get", "update", 7, "fail", 100, held)
    run = box.run()
    assert run.returncode == 0, box.log()
    assert count_calls(run, "apt-get", "update") == 8  # more than the 5 network tries
    assert box.phases()["install"]["retries"] == 7


def test_dnf_stops_at_a_held_lock_and_the_script_waits(tmp_path: Path) -> None:
    rendered = render_with(tmp_path, "rocky9")
    node = rendered.cluster.nodes[-1].name
    box = Sandbox(tmp_path / "box", rendered, node)
    for repo in repo_files(rendered.cluster):  # what cloud-init's yum_repos writes
        box.write(repo["path"], repo["content"])
    box.rule("systemctl", "cat firewalld", -1, "fail", 1, "No files found")  # not installed
    box.rule("dnf", "versionlock add", 2, "fail", 200, "RPMDB already locked by 4711")
    run = box.run()
    assert run.returncode == 0, box.log()
    dnf_calls = run.named("dnf")
    assert dnf_calls and all("--setopt=exit_on_lock=True" in call for call in dnf_calls)
    assert count_calls(run, "dnf", "versionlock add") == 3
    assert box.phases()["install"]["retries"] == 2


def test_prepare_applies_only_its_own_sysctl_file(single: Rendered, tmp_path: Path) -> None:
    box = Sandbox(tmp_path, single, "node1")
    # A host booted with ipv6.disable=1: another package's file fails `sysctl --system`.
    box.rule("sysctl", "--system", -1, "fail", 255, "sysctl: cannot stat /proc/sys/net/ipv6/x")
    run = box.run()
    assert run.returncode == 0, box.log()
    assert run.named("sysctl") == [["sysctl", "-p", SYSCTL_FILE]]
    assert box.exists(SYSCTL_FILE)


# --- offline: only k8sgen's own package sources -----------------------------------------

# The image's own source: an OS mirror the air-gapped node cannot reach (nothing listens).
UNREACHABLE = "deb http://127.0.0.1:9/ubuntu noble main\n"
# What the image has installed already: what the Kubernetes packages need from the OS.
IN_THE_IMAGE = ("conntrack", "iproute2", "iptables", "libc6", "libseccomp2", "socat")


def offline_spec(folder: Path, site: str) -> Path:
    return island_spec(folder, site, "127.0.0.1:5000", {"enabled": True})


def image_with_apt(box: Sandbox) -> None:
    """A cloud image's apt: its own source, its installed packages, apt's folders; and for
    the test, apt-get install only simulates (nothing reaches this machine's dpkg)."""
    box.write("/etc/apt/sources.list", UNREACHABLE)
    # apt-key's awk and friends are alternatives (/usr/bin/awk -> /etc/alternatives/awk).
    shutil.copytree("/etc/alternatives", box.path("/etc/alternatives"), symlinks=True)
    for folder in (
        "/etc/apt/apt.conf.d",
        "/etc/apt/preferences.d",
        "/var/lib/apt/lists/partial",
        "/var/cache/apt/archives/partial",
    ):
        box.path(folder).mkdir(parents=True, exist_ok=True)
    box.write(
        "/etc/apt/apt.conf.d/99-test",
        'APT::Get::Simulate "true";\nDir::Bin::dpkg "/bin/false";\nAcquire::Retries "0";\n',
    )
    box.write(
        "/var/lib/dpkg/status",
        "".join(
            f"Package: {name}\nStatus: install ok installed\nVersion: 99\n"
            f"Architecture: amd64\nMaintainer: image\nDescription: {name}\n\n"
            for name in IN_THE_IMAGE
        ),
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Signed Kubernetes and containerd repositories served on 127.0.0.1."""
    root = tmp_path_factory.mktemp("site")
    with signer(root / "gnupg") as key:
        debs = root / "debs"
        debs.mkdir()
        kubernetes = [build_deb(d, debs) for d in KUBERNETES_DEBS]
        flat_repository(root / "www" / "k8s" / "v1.33" / "deb", kubernetes, key)
        containerd = [build_deb(d, debs) for d in CONTAINERD_DEBS]
        docker = root / "www" / "docker" / "linux" / "ubuntu"
        dists_repository(docker, "noble", "stable", containerd, key)
    with file_server(root / "www") as url:
        yield url


def test_offline_apt_uses_only_its_own_sources(site: str, tmp_path: Path) -> None:
    """The real apt-get and curl against loopback: the image's unreachable source is never
    read, and what the image has installed satisfies the packages' OS dependencies."""
    rendered = render_spec(offline_spec(tmp_path, site))
    box = Sandbox(tmp_path / "box", rendered, "w1")
    image_with_apt(box)
    box.use_real("apt-get")
    box.use_real("curl")
    box.rule("containerd", "--version", 1, "term")  # stop in runtime: nothing past install
    run = box.run(loopback=True)
    assert box.phases()["install"]["state"] == "succeeded", box.log()
    assert run.returncode == 143  # the stop in runtime
    updates = [c for c in run.named("apt-get") if "update" in c]
    assert updates and all("Dir::Etc::sourceparts=/etc/k8sgen/apt" in c for c in updates)
    port = site.rsplit(":", 1)[1]
    lists = sorted(p.name for p in box.path("/var/lib/apt/lists").iterdir() if p.is_file())
    assert lists and all(name.startswith(f"127.0.0.1:{port}_") for name in lists), lists
    install = next(c for c in run.named("apt-get") if "install" in c and "kubelet" in " ".join(c))
    assert "Dir::Etc::sourcelist=/dev/null" in install
    assert box.phases()["install"]["retries"] == 0


def offline_rpm_node(tmp_path: Path, os_spec: dict[str, str]) -> Sandbox:
    rendered = render_with(tmp_path, "rocky9", baked=False)
    data = yaml.safe_load(rendered.spec.read_text())
    data["spec"]["offline"] = {"enabled": True, "allowedHosts": ["mirrors.aliyun.com"]}
    data["spec"]["os"] = os_spec
    rendered = render_spec(write_spec(tmp_path, data, rendered.spec.name))
    box = Sandbox(tmp_path / "box", rendered, rendered.cluster.nodes[-1].name)
    for repo in repo_files(rendered.cluster):
        box.write(repo["path"], repo["content"])
    box.rule("systemctl", "cat firewalld", -1, "fail", 1, "No files found")
    return box


def test_an_offline_apt_node_without_the_os_packages_says_what_the_image_lacks(
    site: str, tmp_path: Path
) -> None:
    rendered = render_spec(offline_spec(tmp_path, site))
    box = Sandbox(tmp_path / "box", rendered, "w1")
    image_with_apt(box)
    status = box.path("/var/lib/dpkg/status")
    kept = [p for p in status.read_text().split("\n\n") if not p.startswith("Package: socat")]
    status.write_text("\n\n".join(kept))
    run = box.run(loopback=True)
    assert run.returncode == 1
    record = assert_failed(box, "install", "error")
    assert "lacks packages k8sgen's sources do not carry: socat;" in record["error"]
    assert not run.named("apt-get")  # no doomed apt-get update or install


def test_offline_dnf_uses_only_its_own_repositories(tmp_path: Path) -> None:
    box = offline_rpm_node(tmp_path, {"family": "rocky", "version": "8"})
    run = box.run()
    assert run.returncode == 0, box.log()
    ours = "--enablerepo=k8sgen-kubernetes,k8sgen-docker-ce"
    calls = run.named("dnf")
    assert calls and all("--disablerepo=*" in c and ours in c for c in calls)
    # Only k8sgen's packages from k8sgen's repositories; the OS's are checked in the image.
    installs = [c for c in calls if "install" in c]
    assert len(installs) == 1 and not {"iproute-tc", "python3"} & set(installs[0]), installs
    queried = [c[-1] for c in run.named("rpm")]
    assert queried == ["dnf-command(versionlock)", "iproute-tc", "python3"]


def test_an_offline_rpm_node_without_the_os_packages_says_what_the_image_lacks(
    tmp_path: Path,
) -> None:
    box = offline_rpm_node(tmp_path, {"family": "almalinux", "version": "8"})
    for name in ("iproute-tc", "python3"):
        box.rule("rpm", f"--whatprovides {name}", -1, "fail", 1, f"no package provides {name}")
    run = box.run()
    assert run.returncode == 1
    record = assert_failed(box, "install", "error")
    assert (
        "lacks packages k8sgen's repositories do not carry: iproute-tc python3" in (record["error"])
    )
    assert "put them in the node image" in record["error"]
    assert not [c for c in run.named("dnf") if "install" in c]  # no doomed dnf install


def test_a_dependency_no_enabled_repository_provides_fails_at_once(tmp_path: Path) -> None:
    box = offline_rpm_node(tmp_path, {"family": "rocky", "version": "9"})
    missing = (
        " - nothing provides container-selinux >= 2:2.74 needed by "
        "containerd.io-1.7.27-3.1.el9.x86_64"
    )
    box.rule("dnf", "containerd.io", -1, "fail", 1, missing)
    run = box.run()
    assert run.returncode == 1
    assert_failed(box, "install", "permanent")
    assert count_calls(run, "dnf", "containerd.io") == 1
