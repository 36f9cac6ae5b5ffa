"""Run a node's real rendered bootstrap script in a bubblewrap sandbox.

The sandbox has its own /etc, /var, /usr/local and /root (directories under tmp_path),
no network at all (--unshare-net), and recorder programs on PATH in place of every system
command the script calls (apt-get, systemctl, kubeadm, curl, sleep, ...). The files of the
node's user-data are written into the fake root the way cloud-init writes them.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from generator.resources import load_schema

from ..nodedata import files
from ..specs import Rendered
from ..tools import need

RECORDER = Path(__file__).with_name("recorder.sh")
FAKED = ("/etc", "/var", "/usr/local", "/root")
COMMANDS = (
    "apt-get",
    "apt-mark",
    "dpkg",
    "systemctl",
    "kubeadm",
    "kubectl",
    "crictl",
    "ctr",
    "curl",
    "containerd",
    "modprobe",
    "sysctl",
    "swapoff",
    "python3",
    "sleep",
    "uname",
    "cloud-init",
    "dnf",
    "rpm",
    "systemd-run",
)
SCRIPT = "/usr/local/sbin/k8sgen-bootstrap"
STATUS = "var/lib/k8sgen/status.json"
STATUS_SCHEMA = jsonschema.Draft202012Validator(load_schema("status.schema.json"))


@dataclass
class Run:
    returncode: int
    calls: list[list[str]]  # the calls of this run only
    output: str  # what reached stdout and stderr (the bootstrap logs to its file instead)

    def named(self, name: str) -> list[list[str]]:
        return [c for c in self.calls if c[0] == name]

    def sleeps(self) -> list[int]:
        return [int(c[1]) for c in self.named("sleep")]


class Sandbox:
    def __init__(self, tmp_path: Path, rendered: Rendered, node: str) -> None:
        self.bwrap = need("bwrap")
        self.root = tmp_path / "root"
        self.fake = tmp_path / "fake"
        self.rendered = rendered
        self.node = node
        for faked in FAKED:
            (self.root / faked.lstrip("/")).mkdir(parents=True, exist_ok=True)
        self.fake.mkdir()
        bin_dir = self.root / "usr/local/bin"
        bin_dir.mkdir(parents=True)
        shutil.copy(RECORDER, self.fake / "recorder")
        for command in COMMANDS:
            (bin_dir / command).symlink_to("/fake/recorder")
        (self.fake / "pause-image").write_text(rendered.cluster.pause_image + "\n")
        (self.fake / "machine").write_text(rendered.cluster.arch.rpm + "\n")
        self._write_image_files()
        self.cloud_init_write_files()
        self.rules: list[str] = []
        self.seen_calls = 0

    def _write_image_files(self) -> None:
        """What a fresh cloud image has, and what the packages would create."""
        os_ = self.rendered.cluster.os
        self.write("/etc/os-release", f'ID={os_.family}\nVERSION_ID="{os_.version}"\n')
        self.write("/etc/hosts", "127.0.0.1 localhost\n")
        self.write("/etc/fstab", "UUID=1 / ext4 defaults 0 1\n/swap.img none swap sw 0 0\n")
        for directory in ("/etc/containerd", "/etc/apt/sources.list.d"):
            self.path(directory).mkdir(parents=True, exist_ok=True)

    def cloud_init_write_files(self) -> None:
        for path, entry in files(self.rendered, self.node).items():
            self.write(path, entry["content"], int(entry["permissions"], 8))

    def path(self, absolute: str) -> Path:
        assert absolute.startswith(tuple(f"{f}/" for f in FAKED)), absolute
        return self.root / absolute.lstrip("/")

    def write(self, absolute: str, content: str, mode: int = 0o644) -> None:
        target = self.path(absolute)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod(mode)

    def use_real(self, command: str) -> None:
        """COMMAND is this machine's own program (still recorded in calls.log)."""
        self.use_program(command, need(command))

    def use_program(self, command: str, real: str) -> None:
        """COMMAND is the program at REAL, e.g. a built kubeadm (still recorded in calls.log)."""
        wrapper = self.fake / f"real-{command}"
        wrapper.write_text(
            "#!/bin/bash\n"
            'printf \'%q \' "${0##*/}" "$@" >>"$FAKE/calls.log"\n'
            "printf '\\n' >>\"$FAKE/calls.log\"\n"
            f'exec {real} "$@"\n'
        )
        wrapper.chmod(0o755)
        link = self.root / "usr/local/bin" / command
        link.unlink()
        link.symlink_to(f"/fake/real-{command}")

    def rule(
        self, command: str, match: str, times: int, action: str, code: int = 1, text: str = ""
    ) -> None:
        """The next TIMES calls of COMMAND whose arguments contain MATCH play ACTION
        (fail, say, kill, term); -1 = every call."""
        assert "\t" not in match + text and "\n" not in match + text
        self.rules.append("\t".join((command, match, str(times), action, str(code), text)))
        (self.fake / "rules").write_text("".join(f"{r}\n" for r in self.rules))

    def run(
        self,
        *,
        hold_lock: bool = False,
        script: str = SCRIPT,
        env: dict[str, str] | None = None,
        loopback: bool = False,
        args: tuple[str, ...] = (),
    ) -> Run:
        """LOOPBACK: this machine's network namespace, for real programs that reach servers
        the test runs on 127.0.0.1 (the spec must name nothing else); otherwise none at all."""
        command = ["/bin/bash", script, *args]
        if hold_lock:
            command = ["flock", "/var/lib/k8sgen/lock", *command]
            self.path("/var/lib/k8sgen").mkdir(parents=True, exist_ok=True)
        binds = [a for f in FAKED for a in ("--bind", str(self.root / f.lstrip("/")), f)]
        result = subprocess.run(
            [
                self.bwrap,
                *("--bind", "/", "/"),
                *binds,
                *("--bind", str(self.fake), "/fake"),
                *("--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc"),
                *(() if loopback else ("--unshare-net",)),
                *("--unshare-pid", "--new-session", "--die-with-parent"),
                *("--clearenv", "--setenv", "FAKE", "/fake"),
                *("--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin"),
                *(a for k, v in (env or {}).items() for a in ("--setenv", k, v)),
                *command,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            start_new_session=True,
        )
        assert "Traceback" not in result.stderr
        lines = self.all_calls()
        run = Run(result.returncode, lines[self.seen_calls :], result.stdout + result.stderr)
        self.seen_calls = len(lines)
        return run

    def all_calls(self) -> list[list[str]]:
        log = self.fake / "calls.log"
        if not log.exists():
            return []
        return [shlex.split(line) for line in log.read_text().splitlines() if line.strip()]

    def status(self) -> dict[str, Any]:
        """status.json, checked against its contract (the schema explain-status reads with)."""
        data: dict[str, Any] = json.loads((self.root / STATUS).read_text())
        errors = [e.message for e in STATUS_SCHEMA.iter_errors(data)]
        assert errors == [], errors
        return data

    def phases(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self.status()["phases"]}

    def log(self) -> str:
        return self.path("/var/log/k8sgen/bootstrap.log").read_text()

    def exists(self, absolute: str) -> bool:
        return os.path.lexists(self.path(absolute))

    def posts(self) -> list[dict[str, Any]]:
        """Every status POSTed to the report URL, in order."""
        folder = self.fake / "posts"
        if not folder.exists():
            return []
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
