"""User-data size budgets: the summary table, --gzip (read back by cloud-init's own code) and
--platform refusing what a platform would refuse, before anything is written."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator import budget, joincred
from generator.cli import cli
from generator.render import UserDataSize

from .support.counting import renders_per_node
from .support.repo import REPO, calico_fixture
from .support.specs import Rendered, example, write_spec
from .support.tools import cloud_init_python

CALICO = "v3.30.7"


def spec_copy(tmp_path: Path, embed_calico: bool = False) -> Path:
    data = example("single")
    if embed_calico:
        (tmp_path / "calico.yaml").write_bytes(calico_fixture(CALICO).read_bytes())
        data["spec"]["cni"] = {"calico": {"version": CALICO, "manifest": "calico.yaml"}}
    return write_spec(tmp_path, data)


def render(tmp_path: Path, spec: Path, *options: str) -> tuple[int, str, str, Path]:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(out), *options])
    return result.exit_code, result.stdout, result.stderr, out / "demo"


def cloud_init_reads(path: Path) -> bytes:
    """The user-data cloud-init itself makes of the file (its convert_string un-gzips)."""
    code = (
        "import sys; from cloudinit.user_data import convert_string; "
        "message = convert_string(open(sys.argv[1], 'rb').read()); "
        "sys.stdout.buffer.write(message.get_payload(decode=True))"
    )
    result = subprocess.run(
        [*cloud_init_python(), "-c", code, str(path)], capture_output=True, check=True
    )
    return result.stdout


def test_summary_lists_raw_and_gzip_size_per_node(tmp_path: Path) -> None:
    code, stdout, stderr, root = render(tmp_path, spec_copy(tmp_path))
    assert code == 0, stderr
    lines = stdout.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("user-data size")))
    assert lines[header + 1].split() == ["node", "raw", "gzip", "aws", "azure", "openstack", "gcp"]
    rows = {line.split()[0]: line.split() for line in lines[header + 2 : header + 5]}
    for node in ("master1", "node1", "node2"):
        raw = (root / "nodes" / node / "user-data").read_bytes()
        packed = gzip.compress(raw, compresslevel=6, mtime=0)
        assert rows[node][1:3] == [f"{len(raw):,}", f"{len(packed):,}"]
        expected_aws = "ok" if len(raw) <= 16384 else "gzip" if len(packed) <= 16384 else "NO"
        assert rows[node][3] == expected_aws
    # The init node's CA material (RSA): over 16 KB even compressed. Workers, with their join
    # certificate (RSA), fit AWS compressed.
    assert (rows["master1"][3], rows["node1"][3]) == ("NO", "gzip")


def test_every_worker_of_every_example_fits_aws_as_it_is(rendered_examples: list[Rendered]) -> None:
    """The first-boot script travels compressed (gz+b64), its comments stripped. A worker that
    joins with its own certificate carries it (and the CA): as it is with ECDSA keys, with
    --gzip with RSA ones (about 18.7 KB raw, 12 KB gzip; 13.6 KB raw with the token)."""
    aws = budget.PLATFORMS["aws"]
    for rendered in rendered_examples:
        small_keys = "BEGIN EC PRIVATE KEY" in rendered.secrets.ca.key
        for node in rendered.cluster.nodes:
            raw = rendered.artifacts[f"nodes/{node.name}/user-data"].content
            size = UserDataSize(node.name, len(raw), len(gzip.compress(raw, mtime=0)))
            token = joincred.join_method(rendered.cluster, node) == "token"
            if not node.is_control_plane:
                assert budget.fits(size, aws, gzipped=not (small_keys or token)), size


def test_gzip_user_data_is_what_cloud_init_decompresses(tmp_path: Path) -> None:
    spec = spec_copy(tmp_path)
    plain = render(tmp_path / "plain", spec)[3]
    code, _, stderr, root = render(tmp_path, spec, "--gzip")
    assert code == 0, stderr
    for node in ("master1", "node1"):
        packed = root / "nodes" / node / "user-data"
        assert packed.read_bytes()[:2] == b"\x1f\x8b"
        original = (plain / "nodes" / node / "user-data").read_bytes()
        assert cloud_init_reads(packed) == original
        assert gzip.decompress(packed.read_bytes()) == original


def test_platform_overflow_names_the_large_parts_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_copy(tmp_path, embed_calico=True)
    counts = renders_per_node(monkeypatch)
    code, stdout, stderr, root = render(tmp_path, spec, "--platform", "aws", "--gzip")
    assert code == 1 and stdout == ""
    # The preflight only: the write pass never began.
    assert counts == {"master1": 1, "node1": 1, "node2": 1}
    assert "error: user-data of 1 node(s) does not fit AWS EC2 (16,384 bytes" in stderr
    assert "master1:" in stderr and "node1:" not in stderr
    assert "  embedded Calico manifest: " in stderr
    assert "  CA material (kubeadm's shared certificates, control planes): " in stderr
    assert "set cni.calico.manifest to the URL of calico.yaml" in stderr
    assert "k8sgen render --iso" in stderr
    assert "render with --gzip" not in stderr  # it is gzip already, and still too big
    assert "Traceback" not in stderr
    assert not root.exists()
    assert not (tmp_path / "cluster.secrets.yaml").exists()


def test_platform_suggests_gzip_when_it_is_enough_and_accepts_it(tmp_path: Path) -> None:
    code, _, stderr, root = render(tmp_path, spec_copy(tmp_path), "--platform", "aws")
    assert code == 1
    assert "render with --gzip" not in stderr  # the init node does not fit compressed either
    assert "bake the image (spec.bootstrap.baked: true" in stderr
    assert not root.exists()
    # A baked image's nodes install nothing at first boot: compressed, they all fit.
    baked = tmp_path / "baked"
    baked.mkdir()
    spec = baked / "cluster.yaml"
    spec.write_text((REPO / "examples" / "baked.yaml").read_text())
    code, _, stderr, root = render(baked, spec, "--platform", "aws")
    assert code == 1
    assert "render with --gzip: every node then fits" in stderr
    code, _, stderr, _ = render(baked, spec, "--platform", "aws", "--gzip")
    assert code == 0, stderr
    assert (baked / "out" / "baked" / "nodes" / "cp1" / "user-data").stat().st_size <= 16384


def test_platforms_without_a_problem_accept_the_embedded_manifest(tmp_path: Path) -> None:
    spec = spec_copy(tmp_path, embed_calico=True)
    for platform in ("nocloud", "gcp"):
        code, _, stderr, _ = render(tmp_path, spec, "--platform", platform)
        assert code == 0, stderr


@pytest.mark.parametrize(
    ("platform", "raw", "packed", "expected"),
    [
        ("aws", 16384, 5000, "ok"),
        ("aws", 16385, 16384, "gzip"),
        ("aws", 40000, 16385, "NO"),
        ("azure", 65535, 1, "ok"),
        ("azure", 65536, 1, "gzip"),
        # Nova counts the base64 text: 49,152 bytes become 65,536 characters.
        ("openstack", 49149, 1, "ok"),
        ("openstack", 49152, 1, "gzip"),
        # GCE metadata is text: gzip travels base64-encoded.
        ("gcp", 262145, 196608, "gzip"),
        ("gcp", 262145, 196609, "NO"),
    ],
)
def test_limits_are_counted_as_each_platform_counts(
    platform: str, raw: int, packed: int, expected: str
) -> None:
    assert budget.verdict(UserDataSize("n", raw, packed), budget.PLATFORMS[platform]) == expected


def test_limits_are_the_documented_numbers() -> None:
    limits = {name: p.limit for name, p in budget.PLATFORMS.items()}
    assert limits == {
        "aws": 16384,
        "azure": 65535,
        "openstack": 65535,
        "gcp": 262144,
        "nocloud": None,
    }


def test_a_baked_cluster_is_not_told_to_bake(tmp_path: Path) -> None:
    spec = tmp_path / "baked.yaml"
    spec.write_text((REPO / "examples" / "baked.yaml").read_text())
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(out), "--platform", "aws"])
    assert result.exit_code == 1
    assert "cp1:" in result.stderr and "render with --gzip" in result.stderr
    assert "bake the image" not in result.stderr
