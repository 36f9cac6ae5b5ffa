"""The wheel carries templates and schemas: an installed k8sgen renders from any folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from .support.repo import REPO


def test_wheel_renders_from_another_directory(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("k8sgen-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "generator/templates/bootstrap/main.sh.j2" in names
    # The kubeadm schemas only the tests read (tests/schemas/) stay out; the kubelet's and
    # kube-proxy's check spec.kubeadm.
    schemas = {n for n in names if n.startswith("generator/schemas/")}
    assert schemas == {
        "generator/schemas/cluster.schema.json",
        "generator/schemas/status.schema.json",
        "generator/schemas/kubelet-config-v1beta1.schema.json",
        "generator/schemas/kubeproxy-config-v1alpha1.schema.json",
    }
    assert not any(n.startswith(("tests/", "examples/")) for n in names)

    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    spec = elsewhere / "cluster.yaml"
    spec.write_text((REPO / "examples" / "single.yaml").read_text())
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-m", "generator", "render", "cluster.yaml", "-o", "out"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (elsewhere / "out" / "demo" / "nodes" / "master1" / "user-data").is_file()
    # The installed copy was used, not the checkout.
    probe = subprocess.run(
        [sys.executable, "-c", "import generator; print(generator.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.startswith(str(target))
