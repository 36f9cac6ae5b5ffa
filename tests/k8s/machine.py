"""A machine's own file system on this host: a private mount namespace, nothing on the host.

kubeadm, the kubelet and the control-plane programs read and write fixed paths
(/etc/kubernetes, /var/lib/kubelet, /var/lib/etcd, ...). Each Machine is a mount namespace
in which /etc, /var/lib, /var/log and /usr/local are overlays whose upper layers live in a
temporary folder, and /run is an empty tmpfs (so no socket of the host, such as a
containerd's, is visible). Every program of that machine runs in the namespace through
nsenter: the host's own /etc is never written, and the namespace disappears with its last
process. All machines of a test module share one network namespace made by the harness
(Network), with nothing but its own loopback: the machines talk over 127.0.0.x, and whatever
is sent anywhere else finds no route and never leaves the namespace.
"""

from __future__ import annotations

import ctypes
import select
import shutil
import signal
import subprocess
from pathlib import Path

OVERLAID = ("etc", "var/lib", "var/log", "usr/local")
# HOME of every program: kubectl writes a discovery cache there.
HOME = "/run/home"
# Names resolve from the machine's /etc/hosts only: a name missing there is asked of a
# resolver on loopback (where none listens), never of the host's own resolver.
RESOLV_CONF = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
PR_SET_PDEATHSIG = 1
STOP_SECONDS = 15


def die_with_parent() -> None:
    """preexec_fn: a killed pytest takes its servers along (no stray apiserver on the host)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class CommandFailed(AssertionError):
    pass


def hold(name: str, command: list[str], setup: list[str]) -> subprocess.Popen[bytes]:
    """command running a shell that does setup, then lives until its stdin is closed: the
    namespaces it entered or made live as long as it (or a process that joined them)."""
    script = "\n".join(["set -e", *setup, "echo ready", "exec cat >/dev/null"])
    holder = subprocess.Popen(
        [*command, "sh", "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=die_with_parent,
    )
    assert holder.stdout is not None
    ready, _, _ = select.select([holder.stdout], [], [], 30)
    line = holder.stdout.readline() if ready else b""
    if line.strip() != b"ready":
        holder.kill()
        _, err = holder.communicate(timeout=10)
        raise AssertionError(f"{name}: no namespace: {err.decode()}")
    return holder


def release(holder: subprocess.Popen[bytes]) -> None:
    if holder.poll() is None:
        assert holder.stdin is not None
        holder.stdin.close()
        try:
            holder.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait(timeout=STOP_SECONDS)
    for stream in (holder.stdout, holder.stderr):
        if stream is not None:
            stream.close()


class Network:
    """A network namespace with only a loopback interface, for the machines of one module."""

    def __init__(self) -> None:
        self.holder = hold("network", ["unshare", "--net"], ["ip link set lo up"])

    @property
    def namespace(self) -> str:
        return f"/proc/{self.holder.pid}/ns/net"

    def stop(self) -> None:
        release(self.holder)


class Machine:
    """One node: its mount namespace, the programs running in it, and their logs."""

    def __init__(
        self, name: str, address: str, root: Path, logs: Path, path: Path, network: Network
    ) -> None:
        self.name = name
        self.address = address
        self.root = root
        self.logs = logs
        self.network = network
        # Programs are found in the binaries folder first, then the usual system folders.
        self.env = {"PATH": f"{path}:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": HOME, "LANG": "C"}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.holder = self._hold_namespace()
        self.write("/etc/resolv.conf", RESOLV_CONF, 0o644)

    def _hold_namespace(self) -> subprocess.Popen[bytes]:
        mounts = ["mount -t tmpfs -o mode=0755 tmpfs /run", f"mkdir -p {HOME}"]
        for folder in OVERLAID:
            layer = self.root / folder.replace("/", "-")
            (layer / "upper").mkdir(parents=True)
            (layer / "work").mkdir()
            options = f"lowerdir=/{folder},upperdir={layer}/upper,workdir={layer}/work"
            mounts.append(f"mount -t overlay overlay -o {options} /{folder}")
        enter_network = ["nsenter", f"--net={self.network.namespace}", "--"]
        private_mounts = ["unshare", "--mount", "--propagation", "private"]
        return hold(self.name, [*enter_network, *private_mounts], mounts)

    def command(self, args: list[str]) -> list[str]:
        namespaces = [f"--net={self.network.namespace}", f"--mount=/proc/{self.holder.pid}/ns/mnt"]
        return ["nsenter", *namespaces, "--", *args]

    def run(
        self, args: list[str], timeout: float = 120, input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """args in the machine; stdout and stderr as text (stderr merged into stdout)."""
        result = subprocess.run(
            self.command(args),
            input=input,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd="/",
            timeout=timeout,
            preexec_fn=die_with_parent,
        )
        text = subprocess.CompletedProcess(
            result.args, result.returncode, result.stdout.decode(errors="replace"), ""
        )
        if check and result.returncode != 0:
            raise CommandFailed(
                f"{self.name}: {' '.join(args)} exited {result.returncode}:\n{text.stdout}"
            )
        return text

    def start(self, label: str, args: list[str]) -> subprocess.Popen[bytes]:
        """A long-running program in the machine, its output in LOGS/<machine>-<label>.log."""
        log = (self.logs / f"{self.name}-{label}.log").open("ab")
        process = subprocess.Popen(
            self.command(args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd="/",
            preexec_fn=die_with_parent,
        )
        log.close()
        self.processes[label] = process
        return process

    def log_tail(self, label: str, lines: int = 40) -> str:
        path = self.logs / f"{self.name}-{label}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- last lines of {path.name} ---\n" + "\n".join(text.splitlines()[-lines:])

    def stop_process(self, label: str) -> None:
        process = self.processes.pop(label, None)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_SECONDS)

    def stop(self) -> None:
        """Every program of the machine, last started first (the controller-manager before the
        apiserver before etcd: each shuts down cleanly), then the namespace and its layers."""
        for label in reversed(list(self.processes)):
            self.stop_process(label)
        release(self.holder)
        shutil.rmtree(self.root, ignore_errors=True)

    # --- files, always through the namespace (never the overlay's layers directly) ----------

    def write(self, path: str, content: str | bytes, mode: int = 0o644) -> None:
        data = content.encode() if isinstance(content, str) else content
        script = 'umask 077; mkdir -p "${1%/*}" && cat >"$1" && chmod "$2" "$1"'
        self.run(["sh", "-c", script, "sh", path, f"{mode:o}"], input=data)

    def read(self, path: str) -> bytes:
        result = subprocess.run(
            self.command(["cat", path]), capture_output=True, env=self.env, cwd="/", timeout=30
        )
        if result.returncode != 0:
            raise CommandFailed(f"{self.name}: cannot read {path}: {result.stderr.decode()}")
        return result.stdout

    def exists(self, path: str) -> bool:
        return self.run(["test", "-e", path], check=False).returncode == 0

    def files(self, folder: str) -> list[str]:
        """Every file below folder, relative to it, sorted (empty if there is no folder)."""
        if not self.exists(folder):
            return []
        out = self.run(["find", folder, "-mindepth", "1", "-type", "f", "-printf", "%P\\n"])
        return sorted(out.stdout.split())

    def mode(self, path: str) -> int:
        return int(self.run(["stat", "-c", "%a", path]).stdout.strip(), 8)
