"""`k8sgen kubeconfig`: a client kubeconfig minted offline with the cluster CA (issue 14)."""

from __future__ import annotations

import base64
import datetime
import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import NameOID

from generator.app import default_secrets_path
from generator.cli import cli
from generator.errors import K8sgenError
from generator.secrets import kubeconfig
from generator.spec.rules import DURATION

from .support.repo import REPO
from .support.specs import cluster_and_secrets, example, write_spec
from .support.tools import need


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    """A spec with its secrets file, as after the first render."""
    path = write_spec(tmp_path, example("single"))
    result = CliRunner().invoke(cli, ["secrets", str(path)])
    assert result.exit_code == 0, result.output
    return path


def mint_cli(spec: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["kubeconfig", str(spec), *args])


def client_cert(config: dict[str, Any]) -> x509.Certificate:
    data = config["users"][0]["user"]["client-certificate-data"]
    return x509.load_pem_x509_certificate(base64.b64decode(data))


def test_kubeconfig_is_0600_signed_by_the_ca_with_user_and_groups(
    spec: Path, tmp_path: Path
) -> None:
    out = tmp_path / "alice.conf"
    before = datetime.datetime.now(datetime.UTC)
    result = mint_cli(
        spec, "--user", "alice", "--group", "dev", "--group", "ops", "--ttl", "8h", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "alice" in result.stderr and "dev, ops" in result.stderr
    config = yaml.safe_load(out.read_text())
    cert = client_cert(config)
    subject = cert.subject
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == ["alice"]
    groups = [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert groups == ["dev", "ops"]
    expected = before + datetime.timedelta(hours=8)
    assert abs((cert.not_valid_after_utc - expected).total_seconds()) <= 1.5
    assert f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S}" in result.stderr
    # The cluster part is admin.conf's: same server, same CA.
    cluster, stored = cluster_and_secrets(spec)
    server = config["clusters"][0]["cluster"]["server"]
    assert server == f"https://{cluster.endpoint}"
    assert config["current-context"] == f"alice@{cluster.name}"
    ca = tmp_path / "ca.crt"
    ca.write_bytes(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]))
    crt = tmp_path / "alice.crt"
    crt.write_bytes(base64.b64decode(config["users"][0]["user"]["client-certificate-data"]))
    verify = [need("openssl"), "verify", "-purpose", "sslclient", "-CAfile", str(ca), str(crt)]
    answer = subprocess.run(verify, capture_output=True, text=True)
    assert answer.returncode == 0, answer.stderr
    assert ca.read_text() == stored.ca.cert


def test_kubeconfig_default_ttl_and_injected_clock(spec: Path) -> None:
    cluster, value = cluster_and_secrets(spec)
    now = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    ttl = kubeconfig.parse_ttl(kubeconfig.DEFAULT_TTL)
    assert ttl == datetime.timedelta(hours=24)
    minted = kubeconfig.mint(cluster, value, "bob", (), ttl, now=now)
    assert minted.not_after == now + ttl
    assert client_cert(minted.kubeconfig).not_valid_before_utc < now


def test_kubeconfig_ttl_is_the_schema_token_ttl_form() -> None:
    schema = json.loads((REPO / "schemas" / "cluster.schema.json").read_text())
    pattern = schema["$defs"]["bootstrap"]["properties"]["tokenTTL"]["pattern"]
    assert pattern == f"^(0|{DURATION.pattern})$"
    assert kubeconfig.parse_ttl("1h30m") == datetime.timedelta(minutes=90)


def test_kubeconfig_is_the_same_apart_from_the_new_key(spec: Path) -> None:
    cluster, value = cluster_and_secrets(spec)
    now = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    ttl = datetime.timedelta(hours=1)
    first, second = (kubeconfig.mint(cluster, value, "bob", ("g",), ttl, now=now) for _ in "12")
    keys = [m.kubeconfig["users"][0].pop("user") for m in (first, second)]
    assert first == second
    assert keys[0]["client-key-data"] != keys[1]["client-key-data"]


def test_kubeconfig_refuses_to_overwrite(spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "existing.conf"
    out.write_text("keep me\n")
    result = mint_cli(spec, "--user", "alice", "-o", str(out))
    assert result.exit_code == 1 and "already exists" in result.stderr
    assert out.read_text() == "keep me\n"


@pytest.mark.parametrize("dangling", [True, False])
def test_kubeconfig_refuses_a_link(spec: Path, tmp_path: Path, dangling: bool) -> None:
    target = tmp_path / "target"
    if not dangling:
        target.write_text("keep me\n")
    out = tmp_path / "link.conf"
    out.symlink_to(target)
    result = mint_cli(spec, "--user", "alice", "-o", str(out))
    assert result.exit_code == 1 and "symbolic link" in result.stderr
    assert target.exists() != dangling
    assert dangling or target.read_text() == "keep me\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ttl", "0"], "--ttl '0'"),
        (["--ttl", "1d"], "--ttl '1d'"),
        (["--ttl", "24"], "--ttl '24'"),
        (["--ttl", "999999h"], "ends after the cluster CA"),
        (["--user", " "], "--user must not be empty"),
        (["--user", "al\nice"], "control characters"),
        (["--user", "a" * 65], "at most 64"),
        (["--group", ""], "--group must not be empty"),
        (["--group", "x", "--group", "x"], "each group once"),
        (["--group", "system:masters"], "--allow-system-masters"),
    ],
)
def test_kubeconfig_refuses_bad_options_and_writes_nothing(
    spec: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out.conf"
    result = mint_cli(spec, "--user", "alice", *args, "-o", str(out))
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert not out.exists()


def test_kubeconfig_system_masters_only_when_allowed(spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "break-glass.conf"
    args = ("--user", "root", "--group", "system:masters", "--ttl", "1h", "-o", str(out))
    result = mint_cli(spec, *args, "--allow-system-masters")
    assert result.exit_code == 0, result.output
    cert = client_cert(yaml.safe_load(out.read_text()))
    groups = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert groups == ["system:masters"]


def test_kubeconfig_never_creates_a_secrets_file(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, example("single"))
    out = tmp_path / "out.conf"
    result = mint_cli(spec, "--user", "alice", "-o", str(out))
    assert result.exit_code == 1 and "no secrets file" in result.stderr
    assert not default_secrets_path(spec).exists() and not out.exists()


def test_kubeconfig_user_is_checked_in_the_function_too(spec: Path) -> None:
    cluster, value = cluster_and_secrets(spec)
    with pytest.raises(K8sgenError, match="control characters"):
        kubeconfig.mint(cluster, value, "a\x1b[0m", (), datetime.timedelta(hours=1))
