"""Real servers on 127.0.0.1 for the air-gap tests: a registry, an HTTP file server, OCI images.

Nothing here talks to anything but loopback; every server is stopped by the fixture that
started it.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .servers import QuietHandler, serving
from .tools import need

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_answers(url: str, attempts: int = 100) -> None:
    """Readiness, bounded by attempts: the server was just started by the caller."""
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


class Registry:
    """Debian's docker-registry (distribution 2.x) on 127.0.0.1, storage in a temp folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        config = root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log: {level: error}\n"
            f"storage: {{filesystem: {{rootdirectory: {root / 'storage'}}}}}\n"
            f"http: {{addr: '{self.host}'}}\n"
        )
        self.log = (root / "registry.log").open("wb")
        self.process = subprocess.Popen(
            [need("docker-registry"), "serve", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        wait_until_answers(f"http://{self.host}/v2/")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()

    def push(self, layout: Path, tag: str, reference: str) -> None:
        """Copy oci:LAYOUT:TAG to docker://REFERENCE (every platform)."""
        subprocess.run(
            [
                need("skopeo"),
                "copy",
                "--all",
                "--quiet",
                "--dest-tls-verify=false",
                f"oci:{layout}:{tag}",
                f"docker://{reference}",
            ],
            check=True,
            capture_output=True,
        )

    def has(self, reference: str) -> bool:
        result = subprocess.run(
            [need("skopeo"), "inspect", "--raw", "--tls-verify=false", f"docker://{reference}"],
            capture_output=True,
        )
        return result.returncode == 0


@contextmanager
def running_registry(root: Path) -> Iterator[Registry]:
    root.mkdir(parents=True, exist_ok=True)
    registry = Registry(root)
    try:
        yield registry
    finally:
        registry.stop()


@contextmanager
def file_server(directory: Path) -> Iterator[str]:
    """http.server over DIRECTORY on 127.0.0.1; yields the base URL."""

    class Quiet(QuietHandler, http.server.SimpleHTTPRequestHandler):
        pass

    handler = functools.partial(Quiet, directory=str(directory))
    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}"


@contextmanager
def running_containerd() -> Iterator[str]:
    """A private containerd (root, state and socket in a temp folder); yields the socket."""
    if os.geteuid() != 0:
        pytest.fail("the ctr import test runs containerd and needs root (CI runs as root)")
    folder = Path(tempfile.mkdtemp(prefix="ctrd-", dir="/tmp"))  # short: sockets max 108
    socket = folder / "containerd.sock"
    disabled = ["io.containerd.grpc.v1.cri"] + [
        f"io.containerd.snapshotter.v1.{name}" for name in ("btrfs", "zfs", "devmapper", "aufs")
    ]
    (folder / "config.toml").write_text(
        "version = 2\n"
        f'root = "{folder / "root"}"\nstate = "{folder / "state"}"\n'
        f"disabled_plugins = {json.dumps(disabled)}\n"
        f'[grpc]\n  address = "{socket}"\n[ttrpc]\n  address = "{socket}.ttrpc"\n'
    )
    log = (folder / "log").open("wb")
    daemon = subprocess.Popen(
        [need("containerd"), "--config", str(folder / "config.toml")], stdout=log, stderr=log
    )
    try:
        for _ in range(100):  # readiness, bounded
            if (
                subprocess.run(
                    [need("ctr"), "--address", str(socket), "version"], capture_output=True
                ).returncode
                == 0
            ):
                break
            time.sleep(0.1)
        yield str(socket)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


# --- test images, written by hand as an OCI image layout ---------------------------------


def _blob(root: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _layer(text: str) -> tuple[bytes, bytes]:
    """(gzip layer, uncompressed tar) holding one file."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        data = text.encode()
        info = tarfile.TarInfo("k8sgen-test.txt")
        info.size, info.mtime = len(data), 0
        archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0), raw.getvalue()


def write_oci_image(root: Path, tag: str, text: str, architectures: tuple[str, ...]) -> None:
    """A tiny image (one layer, one file saying TEXT); an index when several architectures."""
    layer, raw = _layer(text)
    descriptors = []
    for arch in architectures:
        config = json.dumps(
            {
                "architecture": arch,
                "os": "linux",
                "config": {"Cmd": ["/bin/true"]},
                "rootfs": {
                    "type": "layers",
                    "diff_ids": [f"sha256:{hashlib.sha256(raw).hexdigest()}"],
                },
            }
        ).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, **_blob(root, config)},
                "layers": [{"mediaType": OCI_LAYER, **_blob(root, layer)}],
            }
        ).encode()
        descriptors.append(
            {
                "mediaType": OCI_MANIFEST,
                **_blob(root, manifest),
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
    if len(descriptors) == 1:
        top = descriptors[0]
    else:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
        top = {"mediaType": OCI_INDEX, **_blob(root, json.dumps(index).encode())}
    top = {**top, "annotations": {REF_NAME: tag}}
    top.pop("platform", None)
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))


@contextmanager
def registry_with_hello(root: Path, text: str) -> Iterator[Registry]:
    """A loopback registry holding library/hello:1 (amd64 and arm64; its layer holds TEXT)."""
    write_oci_image(root / "layout", "test", text, ("amd64", "arm64"))
    with running_registry(root / "server") as registry:
        registry.push(root / "layout", "test", f"{registry.host}/library/hello:1")
        yield registry
