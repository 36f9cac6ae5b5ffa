"""The Terraform module, evaluated by the real terraform binary (no provider, no network).

The binary is PATH's terraform, else OpenTofu built from its Go module (scripts/terraform-binary).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from generator.cli import cli

from .k8s.binaries import terraform_binary
from .k8s.netns import isolated
from .support.repo import REPO

SINGLE = REPO / "examples" / "single.yaml"
ROOT_MODULE = """
module "demo" {
  source = "../demo/terraform"
}
output "cluster" { value = module.demo.cluster }
output "nodes" { value = module.demo.nodes }
output "user_data" {
  value     = module.demo.user_data
  sensitive = true
}
output "user_data_base64gzip" {
  value     = module.demo.user_data_base64gzip
  sensitive = true
}
"""


def terraform_outputs(root: Path) -> dict[str, Any]:
    """terraform init + plan of ROOT, then the planned output values."""
    tool = terraform_binary()
    config = root / "terraformrc"
    config.write_text("disable_checkpoint = true\n")
    env = {
        **os.environ,
        "CHECKPOINT_DISABLE": "1",  # no version check against the internet
        "TF_CLI_CONFIG_FILE": str(config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
    }

    def run(*args: str) -> str:
        # In a network namespace of its own: init and plan must need no network.
        result = subprocess.run(
            isolated([str(tool), *args]),
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    run("init", "-no-color", "-backend=false")
    run("plan", "-no-color", "-out=plan.bin")
    plan = json.loads(run("show", "-json", "plan.bin"))
    return {name: o["value"] for name, o in plan["planned_values"]["outputs"].items()}


def rendered_root(tmp_path: Path, *options: str) -> tuple[Path, Path]:
    spec = tmp_path / "cluster.yaml"
    spec.write_text(SINGLE.read_text())
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(out), *options])
    assert result.exit_code == 0, result.stderr
    root = out / "root"
    root.mkdir()
    (root / "main.tf").write_text(ROOT_MODULE)
    return root, out / "demo"


def test_module_hands_every_node_its_files(tmp_path: Path) -> None:
    root, cluster = rendered_root(tmp_path, "--iso")
    outputs = terraform_outputs(root)
    assert outputs["cluster"] == {
        "name": "demo",
        "endpoint": "192.168.220.110:6443",
        "kubernetes_version": "1.33.6",
        "init_node": "master1",
    }
    nodes = outputs["nodes"]
    assert sorted(nodes) == ["master1", "node1", "node2"]
    assert nodes["master1"]["role"] == "control-plane"
    assert nodes["master1"]["bootstrap"] == "init"
    assert nodes["node2"]["bootstrap"] == "join-worker"
    assert nodes["node1"]["address"] == "192.168.220.111"
    assert nodes["node1"]["prefix_length"] == 24
    assert nodes["node1"]["gateway"] == "192.168.220.2"
    assert nodes["node1"]["dns"] == ["223.5.5.5"]
    assert (nodes["node1"]["interface"], nodes["node1"]["mac"]) == ("ens3", None)
    for name, node in nodes.items():
        folder = cluster / "nodes" / name
        assert node["meta_data"] == (folder / "meta-data").read_text()
        assert node["network_config"] == (folder / "network-config").read_text()
        assert (root / node["iso_file"]).resolve() == (folder / "cidata.iso").resolve()
        assert (root / node["user_data_file"]).resolve() == (folder / "user-data").resolve()
        raw = (folder / "user-data").read_text()
        assert outputs["user_data"][name] == raw
        unpacked = gzip.decompress(base64.b64decode(outputs["user_data_base64gzip"][name]))
        assert unpacked.decode() == raw


def test_gzip_render_hands_out_the_compressed_bytes(tmp_path: Path) -> None:
    root, cluster = rendered_root(tmp_path, "--gzip")
    outputs = terraform_outputs(root)
    for name, node in outputs["nodes"].items():
        packed = (cluster / "nodes" / name / "user-data").read_bytes()
        assert outputs["user_data"][name] is None
        assert base64.b64decode(outputs["user_data_base64gzip"][name]) == packed
        assert node["iso_file"] is None
