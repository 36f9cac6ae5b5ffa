"""The Packer bake: the template parsed by python-hcl2, the script by shellcheck, and the
user-data of a baked image, which must install nothing."""

from __future__ import annotations

import configparser
import re
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

from generator.layout import IMAGE_MARKER
from generator.render import rpm
from generator.render.repos import REPO_DIR

from .support.nodedata import cloud_config, files, node_names, scripts
from .support.repo import REPO
from .support.specs import Rendered, example, render_spec, write_spec
from .support.tools import cloud_init_writes_yum_repos, need

BAKED = REPO / "examples" / "baked.yaml"
BOOTSTRAP = "/usr/local/sbin/k8sgen-bootstrap"


@pytest.fixture(scope="module")
def baked() -> Rendered:
    return render_spec(BAKED)


def template(rendered: Rendered) -> dict[str, Any]:
    options = SerializationOptions(
        with_comments=False, explicit_blocks=False, strip_string_quotes=True
    )
    data: dict[str, Any] = hcl2.loads(
        rendered.text("packer/k8sgen.pkr.hcl"), serialization_options=options
    )
    return data


def packer_files(rendered: Rendered) -> dict[str, str]:
    prefix = "packer/files"
    return {
        path.removeprefix(prefix): artifact.content.decode()
        for path, artifact in rendered.artifacts.items()
        if path.startswith(prefix + "/")
    }


def run_phases(script: str) -> list[str]:
    """The phases a script runs: its PHASES (a node's bootstrap) or its run_phase lines (bake)."""
    listed = re.search(r"^readonly -a PHASES=\((.*)\)$", script, re.MULTILINE)
    if listed:
        return listed[1].split()
    return [line.split()[1] for line in script.splitlines() if line.startswith("run_phase ")]


def test_template_parses_and_wires_files_script_and_seed(baked: Rendered) -> None:
    data = template(baked)
    plugins = data["packer"][0]["required_plugins"][0]
    assert plugins["qemu"]["source"] == "github.com/hashicorp/qemu"
    variables = {name for block in data["variable"] for name in block}
    assert {"base_image_url", "base_image_checksum", "ssh_public_key"} <= variables
    source = data["source"][0]["qemu"]["k8sgen"]
    assert source["disk_image"] is True
    assert source["cd_label"] == "cidata"
    assert source["vm_name"] == "k8sgen-baked-k8s-1.33.6-ubuntu-24.04.qcow2"
    build = data["build"][0]
    assert build["sources"] == ["source.qemu.k8sgen"]
    (mkdir,), (upload,), (bake,) = (list(p.values()) for p in build["provisioner"])
    destination = upload["destination"]
    assert mkdir["inline"] == [f"mkdir -p {destination}"]
    assert upload["source"] == "${path.root}/files/"
    assert bake["script"] == "${path.root}/bake.sh"
    assert f"K8SGEN_FILES={destination}" in bake["environment_vars"]
    assert bake["execute_command"].startswith("sudo ")


def test_bake_script_passes_shellcheck(baked: Rendered, tmp_path: Path) -> None:
    path = tmp_path / "bake.sh"
    path.write_text(baked.text("packer/bake.sh"))
    assert baked.artifacts["packer/bake.sh"].mode == 0o755
    result = subprocess.run(
        [need("shellcheck"), "--severity=style", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_bake_runs_the_build_time_phases_and_installs_every_uploaded_file(
    baked: Rendered,
) -> None:
    script = baked.text("packer/bake.sh")
    assert run_phases(script) == ["files", "prepare", "install", "runtime", "prepull"]
    assert script.rstrip().splitlines()[-2] == "seal_image"  # after the phases: no state left
    assert "apt-mark hold kubelet kubeadm kubectl containerd.io" in script
    assert "kubeadm config images pull --kubernetes-version" in script
    for image in baked.cluster.calico.images:
        assert f"{image} " in script
    uploaded = packer_files(baked)
    for path in uploaded:
        assert f'"$FILES_DIR"{path} {path}' in script, path
    assert "cloud-init clean --logs" in script.split("seal_image()")[1]
    assert "kubeadm.yaml" not in " ".join(uploaded)  # the image holds no cluster secret
    assert not any("/pki/" in path for path in uploaded)


def test_baked_user_data_installs_nothing_and_checks_the_image(baked: Rendered) -> None:
    marker = packer_files(baked)[IMAGE_MARKER].rstrip("\n")
    for node in ("cp1", "w1"):
        node_files = files(baked, node)
        assert not any(
            p.startswith(("/etc/k8sgen/apt/", "/etc/k8sgen/containerd/")) for p in node_files
        )
        script = scripts(baked, node)[BOOTSTRAP]
        for needle in ("apt-get", "apt-mark", "phase_install", "phase_runtime", "phase_prepull"):
            assert needle not in script, needle
        phases = run_phases(script)
        assert phases[:3] == ["prepare", "image", "kubeadm"]
        assert "install" not in phases and "prepull" not in phases
        assert f"expected='{marker}'" in script  # what the bake writes into the image
    assert run_phases(scripts(baked, "cp1")[BOOTSTRAP])[-2:] == ["cni", "report"]


def test_image_marker_follows_the_settings(baked: Rendered, tmp_path: Path) -> None:
    data = example("baked", spec__kubernetes__version="1.33.5")
    newer = render_spec(write_spec(tmp_path, data, "newer.yaml"))
    assert packer_files(newer)[IMAGE_MARKER] != packer_files(baked)[IMAGE_MARKER]
    assert '"kubernetesVersion": "1.33.5"' in packer_files(newer)[IMAGE_MARKER]


def test_an_image_that_is_not_baked_renders_no_packer_folder() -> None:
    rendered = render_spec(REPO / "examples" / "single.yaml")
    assert not any(path.startswith("packer/") for path in rendered.artifacts)
    script = scripts(rendered, "master1")[BOOTSTRAP]
    assert run_phases(script)[:5] == ["prepare", "install", "runtime", "prepull", "kubeadm"]


def baked_variant(tmp_path: Path, name: str) -> Rendered:
    data = example(name, spec__bootstrap__baked=True)
    return render_spec(write_spec(tmp_path, data, f"{name}.yaml"))


@pytest.mark.parametrize("name", ["rocky9", "openeuler2403-arm64"])
def test_rpm_bake_writes_the_repositories_cloud_init_would(tmp_path: Path, name: str) -> None:
    rendered = baked_variant(tmp_path, name)
    uploaded = packer_files(rendered)
    repos = {p: text for p, text in uploaded.items() if p.startswith(REPO_DIR + "/")}
    assert sorted(repos) == sorted(rpm.dnf_settings(rendered.cluster)["repo_files"])
    # cloud-init's own yum_repos module, on the repositories a node that is not baked gets.
    written = tmp_path / "cloud-init"
    written.mkdir()
    result = cloud_init_writes_yum_repos(rpm.yum_repos(rendered.cluster), written)
    assert result.returncode == 0, result.stderr
    for path, text in repos.items():
        ours, theirs = configparser.ConfigParser(), configparser.ConfigParser()
        ours.read_string(text)
        theirs.read(written / Path(path).name)
        assert {s: dict(ours[s]) for s in ours.sections()} == {
            s: dict(theirs[s]) for s in theirs.sections()
        }
    script = rendered.text("packer/bake.sh")
    assert "dnf_run versionlock add" in script
    for node in node_names(rendered):
        assert "yum_repos" not in cloud_config(rendered, node)
        assert "dnf " not in scripts(rendered, node)[BOOTSTRAP]
    paths = [tmp_path / "bake.sh"]
    paths[0].write_text(script)
    for node in node_names(rendered):
        path = tmp_path / f"{node}.sh"
        path.write_text(scripts(rendered, node)[BOOTSTRAP])
        paths.append(path)
    result = subprocess.run(
        [need("shellcheck"), "--severity=style", *map(str, paths)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_bake_of_a_vip_cluster_pulls_kube_vip(tmp_path: Path) -> None:
    rendered = baked_variant(tmp_path, "ha-vip")
    assert rendered.cluster.vip is not None
    image = rendered.cluster.vip.image
    assert f"{image} " in rendered.text("packer/bake.sh")
    assert image in packer_files(rendered)[IMAGE_MARKER]


def test_the_bake_opens_what_a_worker_opens_and_pulls_for_the_version(tmp_path: Path) -> None:
    """Built from narrow parts, not a faked worker or node plan: the same firewalld ports as
    the cluster's worker, kubeadm's images for the version, no kubeadm config."""
    rendered = baked_variant(tmp_path, "rocky9")
    bake = rendered.text("packer/bake.sh")
    worker = scripts(rendered, "rocky-w1")[BOOTSTRAP]
    control_plane = scripts(rendered, "rocky-cp1")[BOOTSTRAP]
    ports = re.compile(r"^  local -a ports=\(.*\)$", re.MULTILINE)
    # Baked nodes skip the bake's phases, but open their own ports in prepare.
    assert ports.findall(bake) == ports.findall(worker) != ports.findall(control_plane)
    assert "readonly NODE_ROLE=bake\n" in bake and "readonly HEAL_REASONS=''\n" in bake
    assert 'kubeadm config images pull --kubernetes-version "v$KUBERNETES_VERSION"' in bake
    assert "KUBEADM_CONFIG" not in bake and "WAIT_URL" not in bake
