"""NoCloud seed ISOs, read back by isoinfo (genisoimage) and compared with cloud-localds' seed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import cli
from generator.delivery.iso import seed_iso
from generator.offline.bundle.iso import write_iso
from generator.render import RenderOptions, render

from .support.repo import REPO
from .support.specs import Rendered, render_spec
from .support.tools import need

SINGLE = REPO / "examples" / "single.yaml"
NAMESPACES = {"iso9660": [], "joliet": ["-J"], "rock-ridge": ["-R"]}


def isoinfo(iso: Path, *args: str) -> str:
    result = subprocess.run(
        [need("isoinfo"), "-i", str(iso), *args], capture_output=True, text=True, check=True
    )
    return result.stdout


def listing(iso: Path, namespace: list[str]) -> list[str]:
    """File names in the root directory, as isoinfo -l lists them."""
    names = []
    for line in isoinfo(iso, "-l", *namespace).splitlines():
        if line.startswith("-"):  # a regular file (directories start with d)
            names.append(line.rsplit("]", 1)[1].strip())
    return sorted(names)


def extract(iso: Path, name: str) -> bytes:
    result = subprocess.run(
        [need("isoinfo"), "-i", str(iso), "-R", "-x", f"/{name}"], capture_output=True, check=True
    )
    return result.stdout


def cloud_localds(tmp_path: Path, seed: dict[str, bytes]) -> Path:
    """The reference seed, made by cloud-image-utils from the same files."""
    for name, content in seed.items():
        (tmp_path / name).write_bytes(content)
    iso = tmp_path / "reference.iso"
    command = [need("cloud-localds")]
    if "network-config" in seed:
        command += ["-N", str(tmp_path / "network-config")]
    command += [str(iso), str(tmp_path / "user-data"), str(tmp_path / "meta-data")]
    subprocess.run(command, check=True, capture_output=True)
    return iso


def node_seed(rendered: Rendered, node: str) -> dict[str, bytes]:
    names = ("user-data", "meta-data", "network-config")
    paths = {name: f"nodes/{node}/{name}" for name in names}
    return {
        name: rendered.artifacts[p].content for name, p in paths.items() if p in rendered.artifacts
    }


@pytest.fixture(scope="module")
def with_iso() -> Rendered:
    rendered = render_spec(SINGLE)
    options = RenderOptions(iso=True)
    artifacts = {a.path: a for a in render(rendered.cluster, rendered.secrets, options)}
    return Rendered(rendered.spec, rendered.cluster, rendered.secrets, artifacts)


def test_seed_matches_what_cloud_localds_makes(with_iso: Rendered, tmp_path: Path) -> None:
    for node in ("master1", "node1"):
        ours = tmp_path / f"{node}.iso"
        ours.write_bytes(with_iso.artifacts[f"nodes/{node}/cidata.iso"].content)
        seed = node_seed(with_iso, node)
        (tmp_path / node).mkdir()
        reference = cloud_localds(tmp_path / node, seed)
        info = isoinfo(ours, "-d")
        assert "Volume id: cidata\n" in info
        assert "Joliet with UCS level 3 found" in info
        assert "Rock Ridge signatures version 1 found" in info
        assert "Volume id: cidata\n" in isoinfo(reference, "-d")
        for namespace, args in NAMESPACES.items():
            assert listing(ours, args) == listing(reference, args), namespace
        assert listing(ours, ["-R"]) == ["meta-data", "network-config", "user-data"]
        assert listing(ours, []) == ["META_DAT.;1", "NETWORK_.;1", "USER_DAT.;1"]
        for name, content in seed.items():
            assert extract(ours, name) == content == extract(reference, name), name


def test_dhcp_node_seed_has_no_network_config(tmp_path: Path) -> None:
    seed = {"user-data": b"#cloud-config\n{}\n", "meta-data": b"instance-id: iid-x\n"}
    ours = tmp_path / "ours.iso"
    ours.write_bytes(seed_iso(sorted(seed.items())))
    reference = cloud_localds(tmp_path, seed)
    assert listing(ours, ["-R"]) == listing(reference, ["-R"]) == ["meta-data", "user-data"]
    assert listing(ours, ["-J"]) == listing(reference, ["-J"])


def test_same_files_same_bytes_in_any_time_zone(tmp_path: Path) -> None:
    seed = [("user-data", b"#cloud-config\n{}\n"), ("meta-data", b"instance-id: iid-x\n")]
    first = seed_iso(seed)
    assert seed_iso(list(reversed(seed))) == first
    # Another process, another time zone, another clock reading: the same image.
    code = (
        "import sys; from generator.delivery.iso import seed_iso; "
        "sys.stdout.buffer.write(seed_iso([('user-data', b'#cloud-config\\n{}\\n'), "
        "('meta-data', b'instance-id: iid-x\\n')]))"
    )
    env = {**os.environ, "TZ": "Asia/Shanghai"}
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, env=env, cwd=REPO
    )
    assert other.stdout == first
    assert seed_iso([("user-data", b"#cloud-config\n{ }\n"), seed[1]]) != first


def test_pycdlib_clock_is_restored_after_a_build() -> None:
    import time

    import pycdlib.headervd

    seed_iso([("user-data", b"#cloud-config\n")])
    assert pycdlib.headervd.time is time


def test_unknown_seed_file_is_refused() -> None:
    from generator.errors import K8sgenError

    with pytest.raises(K8sgenError, match="not a NoCloud seed file: userdata"):
        seed_iso([("userdata", b"")])


def test_render_iso_writes_a_private_seed_per_node_listed_in_the_manifest(tmp_path: Path) -> None:
    import json

    spec = tmp_path / "cluster.yaml"
    spec.write_text(SINGLE.read_text())
    out = tmp_path / "out"
    first = CliRunner().invoke(cli, ["render", str(spec), "-o", str(out), "--iso"])
    assert first.exit_code == 0, first.stderr
    root = out / "demo"
    manifest = json.loads((root / "manifest.json").read_text())
    listed = {f["path"]: f for f in manifest["files"]}
    for node in ("master1", "node1", "node2"):
        iso = root / "nodes" / node / "cidata.iso"
        assert stat.S_IMODE(iso.stat().st_mode) == 0o600  # it carries the bootstrap token
        entry = listed[f"nodes/{node}/cidata.iso"]
        assert entry["bytes"] == iso.stat().st_size and entry["node"] == node
        assert extract(iso, "user-data") == (root / "nodes" / node / "user-data").read_bytes()
    again = CliRunner().invoke(cli, ["render", str(spec), "-o", str(out), "--iso"])
    assert "0 created, 0 changed, 16 unchanged" in again.stdout


def test_a_folder_image_has_the_same_bytes_whatever_the_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The offline bundle's image is written like a seed: fixed dates, the same folder's bytes."""
    source = tmp_path / "bundle"
    (source / "debs").mkdir(parents=True)
    (source / "debs" / "kubeadm_1.33.4-1.1_amd64.deb").write_bytes(b"a package\n")
    (source / "SHA256SUMS").write_text("sums\n")
    write_iso(source, tmp_path / "now.iso", "K8SBUNDLE")
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)
    write_iso(source, tmp_path / "later.iso", "K8SBUNDLE")
    assert (tmp_path / "now.iso").read_bytes() == (tmp_path / "later.iso").read_bytes()
