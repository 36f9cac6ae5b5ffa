"""scripts/k8s-binaries' cache: a warm cache runs no `go`, a failed build leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .binaries import K8S_BINARIES

PROGRAMS = ("kubeadm", "kube-apiserver", "kube-controller-manager", "kubelet", "kubectl", "etcd")
FAKE_GO = '#!/bin/sh\necho "$@" >>"$GO_CALLS"\necho "go: this build fails" >&2\nexit 1\n'


def run_script(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The script with an empty cache folder of the test's and a `go` that records its calls."""
    tools = tmp_path / "bin"
    tools.mkdir(exist_ok=True)
    (tools / "go").write_text(FAKE_GO)
    (tools / "go").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{tools}:{os.environ['PATH']}",
        "GO_CALLS": str(tmp_path / "go-calls"),
        "K8SGEN_K8S_CACHE": str(tmp_path / "cache"),
    }
    command = [str(K8S_BINARIES), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def cached(tmp_path: Path, version: str, programs: tuple[str, ...]) -> Path:
    folder = tmp_path / "cache" / f"v{version}"
    folder.mkdir(parents=True)
    for program in programs:
        (folder / program).write_text("#!/bin/sh\n")
        (folder / program).chmod(0o755)
    return folder


def test_a_warm_cache_prints_the_folder_and_runs_no_go(tmp_path: Path) -> None:
    folder = cached(tmp_path, "1.34.2", PROGRAMS)
    for args in (("1.34.2",), ("v1.34.2",), ("--only", "kubeadm,etcd", "1.34.2")):
        result = run_script(tmp_path, *args)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"{folder}\n"
    assert not (tmp_path / "go-calls").exists()


def test_only_the_missing_programs_are_built_and_a_failed_build_leaves_nothing(
    tmp_path: Path,
) -> None:
    folder = cached(tmp_path, "1.31.14", ("kubeadm",))
    assert run_script(tmp_path, "--only", "kubeadm", "1.31.14").returncode == 0
    assert not (tmp_path / "go-calls").exists()
    failed = run_script(tmp_path, "1.31.14")
    assert failed.returncode != 0
    assert "building kube-apiserver kube-controller-manager kubelet kubectl etcd" in failed.stderr
    assert (tmp_path / "go-calls").read_text().startswith("mod download -json")
    assert sorted(p.name for p in folder.iterdir()) == ["kubeadm"]
    # The temporary build folder is gone; only the lock file stays beside the releases.
    assert sorted(p.name for p in folder.parent.iterdir()) == ["v1.31.14", "v1.31.14.lock"]


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    for args in (("1.34",), ("--only", "kube-proxy", "1.34.2"), ("1.34.2", "1.33.6"), ()):
        result = run_script(tmp_path, *args)
        assert result.returncode == 2, args
        assert "usage:" in result.stderr
