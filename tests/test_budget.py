"""User-data size budgets: the summary table, --gzip (read back by cloud-init's own code) and
--platform refusing what a platform would refuse, before anything is written."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from generator import secrets
from generator.cli import cli
from generator.delivery import budget
from generator.layout import ENCRYPTION_CONFIG, PKI_STASH
from generator.render import UserDataSize, user_data_bytes

from .support.counting import renders_per_node
from .support.nodedata import decoded
from .support.repo import EXAMPLES, REPO, calico_fixture
from .support.specs import Rendered, example, render_spec, write_spec
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


def as_written(user_data: bytes) -> dict[str, Any]:
    """The cloud-config with every write_files content as cloud-init writes it (decoded)."""
    config: dict[str, Any] = yaml.safe_load(user_data)
    config["write_files"] = [{**e, "content": decoded(e)} for e in config["write_files"]]
    for entry in config["write_files"]:
        entry.pop("encoding", None)
    return config


def test_summary_lists_raw_and_gzip_size_per_node(tmp_path: Path) -> None:
    spec = spec_copy(tmp_path)
    code, stdout, stderr, root = render(tmp_path, spec)
    assert code == 0, stderr
    gzipped = render(tmp_path / "gzip", spec, "--gzip")[3]
    lines = stdout.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("user-data size")))
    assert lines[header + 1].split() == ["node", "raw", "gzip", "aws", "azure", "openstack", "gcp"]
    rows = {line.split()[0]: line.split() for line in lines[header + 2 : header + 5]}
    for node in ("master1", "node1", "node2"):
        raw = (root / "nodes" / node / "user-data").read_bytes()
        packed = (gzipped / "nodes" / node / "user-data").read_bytes()  # what --gzip writes
        assert rows[node][1:3] == [f"{len(raw):,}", f"{len(packed):,}"]
        expected_aws = "ok" if len(raw) <= 16384 else "gzip" if len(packed) <= 16384 else "NO"
        assert rows[node][3] == expected_aws
    # The init node (ECDSA CA material) fits AWS compressed; workers fit it as they are.
    assert (rows["master1"][3], rows["node1"][3]) == ("gzip", "ok")


def user_data_sizes(rendered: Rendered) -> list[tuple[bool, UserDataSize]]:
    """(is a control plane, size) of every node, sized as `k8sgen render` writes user-data."""
    sizes = []
    for node in rendered.cluster.nodes:
        raw, packed = user_data_bytes(rendered.cluster, node, rendered.secrets)
        assert rendered.artifacts[f"nodes/{node.name}/user-data"].content == raw
        sizes.append((node.is_control_plane, UserDataSize(node.name, len(raw), len(packed))))
    return sizes


@pytest.mark.parametrize(
    "spec",
    EXAMPLES,
    ids=lambda p: p.stem,
)
def test_every_node_of_every_example_fits_aws_gzip_compressed(
    spec: Path, rendered_examples: list[Rendered]
) -> None:
    """Default options: every node, the init control plane too, without a baked image."""
    aws = budget.PLATFORMS["aws"]
    rendered = next(r for r in rendered_examples if r.spec == spec)
    for _, size in user_data_sizes(rendered):
        assert budget.fits(size, aws, gzipped=True), size


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.stem)
def test_every_worker_of_every_example_fits_aws_as_it_is(
    spec: Path, rendered_examples: list[Rendered]
) -> None:
    """The first-boot script travels compressed (gz+b64), its comments stripped."""
    aws = budget.PLATFORMS["aws"]
    rendered = next(r for r in rendered_examples if r.spec == spec)
    workers = [size for control_plane, size in user_data_sizes(rendered) if not control_plane]
    assert workers
    for size in workers:
        assert budget.fits(size, aws, gzipped=False), size


def test_gzip_user_data_is_what_cloud_init_decompresses(tmp_path: Path) -> None:
    spec = spec_copy(tmp_path)
    plain = render(tmp_path / "plain", spec)[3]
    code, _, stderr, root = render(tmp_path, spec, "--gzip")
    assert code == 0, stderr
    for node in ("master1", "node1"):
        packed = root / "nodes" / node / "user-data"
        assert packed.read_bytes()[:2] == b"\x1f\x8b"
        original = (plain / "nodes" / node / "user-data").read_bytes()
        assert cloud_init_reads(packed) == gzip.decompress(packed.read_bytes())
        # Compressed whole, its files travel plain; as they are, the ones gzip shrinks are
        # packed each (gz+b64): cloud-init writes the same files either way.
        assert as_written(cloud_init_reads(packed)) == as_written(original)
        assert cloud_init_reads(packed).count(b"gz+b64") < original.count(b"gz+b64")


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
    spec = spec_copy(tmp_path)
    code, _, stderr, root = render(tmp_path, spec, "--platform", "aws")
    assert code == 1
    assert "master1:" in stderr and "node1:" not in stderr
    assert "render with --gzip: every node then fits" in stderr
    assert not root.exists()
    code, _, stderr, _ = render(tmp_path, spec, "--platform", "aws", "--gzip")
    assert code == 0, stderr
    assert (root / "nodes" / "master1" / "user-data").stat().st_size <= 16384


def with_rsa_secrets(spec: Path, cluster: str) -> Path:
    """SPEC beside a secrets file with RSA keys, as every file made before ECDSA."""
    secrets.write_new(spec.with_name(spec.stem + ".secrets.yaml"), secrets.generate(cluster))
    return spec


def test_platform_suggests_baking_when_gzip_is_not_enough(tmp_path: Path) -> None:
    """RSA CA material: the init node is over 16 KB even compressed."""
    spec = with_rsa_secrets(spec_copy(tmp_path), "demo")
    code, _, stderr, root = render(tmp_path, spec, "--platform", "aws")
    assert code == 1
    assert "render with --gzip" not in stderr  # the init node does not fit compressed either
    assert "bake the image (spec.bootstrap.baked: true" in stderr
    assert not root.exists()


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
    """RSA CA material: a baked init node fits AWS compressed, not as it is."""
    spec = tmp_path / "baked.yaml"
    spec.write_text((REPO / "examples" / "baked.yaml").read_text())
    with_rsa_secrets(spec, "baked")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(out), "--platform", "aws"])
    assert result.exit_code == 1
    assert "cp1:" in result.stderr and "render with --gzip" in result.stderr
    assert "bake the image" not in result.stderr


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.stem)
def test_the_form_of_every_file_does_not_depend_on_the_secrets(spec: Path) -> None:
    """Two renders with fresh secrets pack the same files: a private file (0600) or a PEM
    stays plain, so a key's random bytes never tip the plain-or-packed choice."""

    def forms(rendered: Rendered) -> list[tuple[str, str, str]]:
        return [
            (node.name, entry["path"], entry.get("encoding", "plain"))
            for node in rendered.cluster.nodes
            for entry in yaml.safe_load(
                user_data_bytes(rendered.cluster, node, rendered.secrets)[0]
            )["write_files"]
        ]

    first, second = render_spec(spec), render_spec(spec)
    assert first.secrets.ca.key != second.secrets.ca.key
    assert forms(first) == forms(second)
    for _, path, form in forms(first):
        carries_a_secret = path.startswith(PKI_STASH) or path == ENCRYPTION_CONFIG
        assert not (carries_a_secret and form != "plain"), path
