"""A Debian 12 VM for the boot test: cached image, one NIC that reaches nothing, disk read back.

The image (tests/e2e/image/build.sh) is built once per content of tests/e2e/image/ and
kept in a cache folder outside the repository. Each boot runs on a sparse copy of its
disk; after power-off the copy is read with debugfs (e2fsprogs): nothing is mounted.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMAGE_SOURCES = Path(__file__).resolve().parent / "image"
IMAGE_PREFIX = "debian12-"
# Under TCG on two shared cores cloud-init ends in 1-3 minutes; the bootstrap's retries add
# about as much. The bound only stops a VM that hangs; it asserts nothing about speed.
BOOT_TIMEOUT_SECONDS = 1800
# The VM's one NIC: virtio-net in PCI slot 3 of qemu's i440fx machine, which systemd's
# predictable naming calls ens3 (the name the spec gives the node), on qemu's user-mode
# network with restrict=on: the guest reaches neither the host nor anything beyond it.
NIC_NAME = "ens3"
NIC_MAC = "52:54:00:12:34:56"
USER_NETWORK = "10.0.2.0/24"  # qemu's default; its virtual gateway is 10.0.2.2


def cache_root() -> Path:
    if "K8SGEN_E2E_CACHE" in os.environ:
        return Path(os.environ["K8SGEN_E2E_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "k8sgen-e2e"


def image_key() -> str:
    """Hash of everything the image is made from: a change to any of it rebuilds."""
    digest = hashlib.sha256()
    for path in sorted(IMAGE_SOURCES.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Image:
    folder: Path

    @property
    def disk(self) -> Path:
        return self.folder / "disk.img"

    @property
    def kernel(self) -> Path:
        return self.folder / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.folder / "initrd.img"


def ensure_image() -> Image:
    """The cached image for the current sources, built first if needed (one builder at a time)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    image = Image(root / f"{IMAGE_PREFIX}{image_key()}")
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not image.disk.exists():
            build(image.folder)
        remove_stale_images(root, keep=image.folder)
    return image


def build(folder: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [str(IMAGE_SOURCES / "build.sh"), str(folder)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"building the VM image failed:\n{result.stdout[-3000:]}{result.stderr}")
    # Printed, not asserted: how long CI spends here (visible with pytest -s or in the log).
    print(f"e2e: built {folder.name} in {time.monotonic() - started:.0f}s", file=sys.stderr)


def remove_stale_images(root: Path, keep: Path) -> None:
    for folder in root.glob(f"{IMAGE_PREFIX}*"):
        if folder != keep and folder.is_dir():
            shutil.rmtree(folder)


@dataclass(frozen=True)
class Boot:
    disk: Path
    console: Path
    seconds: float


def boot(image: Image, seed: Path, work: Path, disk_from: Path | None = None) -> Boot:
    """Boot a copy of the image's disk (or of an earlier boot's) with the seed attached until
    the VM powers off; its one NIC is on a restricted user network (no traffic leaves qemu)."""
    disk = work / "disk.img"
    source = disk_from or image.disk
    subprocess.run(["cp", "--sparse=always", str(source), str(disk)], check=True)
    console = work / "console.log"
    command = [
        "qemu-system-x86_64",
        # KVM hangs on these machines; TCG works everywhere. Override where KVM is usable.
        *("-accel", os.environ.get("K8SGEN_E2E_ACCEL", "tcg")),
        "-nodefaults",
        "-no-user-config",
        *("-display", "none"),
        *("-netdev", f"user,id=n0,restrict=on,net={USER_NETWORK}"),
        *("-device", f"virtio-net-pci,netdev=n0,mac={NIC_MAC},addr=0x3"),
        *("-m", "1024", "-smp", "2"),
        "-no-reboot",
        *("-kernel", str(image.kernel), "-initrd", str(image.initrd)),
        # panic=-1 and -no-reboot: a kernel or initramfs failure ends qemu at once.
        *("-append", "root=LABEL=k8sgen-e2e rw console=ttyS0 panic=-1"),
        *("-drive", f"file={disk},format=raw,if=virtio"),
        *("-drive", f"file={seed},format=raw,if=virtio,readonly=on"),
        *("-serial", f"file:{console}"),
    ]
    started = time.monotonic()
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=BOOT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as error:
        raise AssertionError(
            f"the VM did not power off within {BOOT_TIMEOUT_SECONDS}s; console:\n"
            + console_tail(console)
        ) from error
    except subprocess.CalledProcessError as error:
        raise AssertionError(f"qemu failed: {error.stderr.decode()}") from error
    seconds = time.monotonic() - started
    print(f"e2e: boot to power-off took {seconds:.0f}s", file=sys.stderr)
    return Boot(disk, console, seconds)


def console_tail(console: Path, size: int = 4000) -> str:
    return console.read_bytes()[-size:].decode(errors="replace") if console.exists() else ""


@dataclass(frozen=True)
class Inode:
    kind: str
    mode: int
    uid: int
    gid: int


class Disk:
    """Files of an ext4 image, read with debugfs: no mount, no root needed for reading."""

    def __init__(self, image: Path) -> None:
        self.image = image

    def debugfs(self, request: str) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(["debugfs", "-R", request, str(self.image)], capture_output=True)
        if b"while trying to open" in result.stderr:  # not a file system: nothing to look up
            raise RuntimeError(result.stderr.decode(errors="replace"))
        return result

    def exists(self, path: str) -> bool:
        return b"File not found" not in self.debugfs(f"stat {path}").stderr

    def read(self, path: str) -> bytes:
        result = self.debugfs(f"cat {path}")
        if b"File not found" in result.stderr:
            raise FileNotFoundError(path)
        return result.stdout

    def text(self, path: str) -> str:
        return self.read(path).decode()

    def tail(self, path: str, size: int = 3000) -> str:
        """The end of a text file for a failure message, or why there is none."""
        if not self.exists(path):
            return f"({path} does not exist)"
        return self.read(path)[-size:].decode(errors="replace")

    def json(self, path: str) -> Any:
        return json.loads(self.read(path))

    def stat(self, path: str) -> Inode:
        result = self.debugfs(f"stat {path}")
        if b"File not found" in result.stderr:
            raise FileNotFoundError(path)
        text = result.stdout.decode()
        kind = re.search(r"Type: (\w+)", text)
        mode = re.search(r"Mode:\s+(\d+)", text)
        owner = re.search(r"User:\s+(\d+)\s+Group:\s+(\d+)", text)
        assert kind and mode and owner, f"unexpected debugfs output for {path}:\n{text}"
        return Inode(kind[1], int(mode[1], 8), int(owner[1]), int(owner[2]))
