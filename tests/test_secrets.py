"""Secrets: openssl is the oracle for the discovery hash and the certificates."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from generator import secrets
from generator.errors import SecretsError
from generator.secrets import ClusterSecrets

from .support.tools import need


def openssl(*args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(
        [need("openssl"), *args], input=stdin, capture_output=True, check=True
    ).stdout


def test_discovery_hash_equals_openssls(demo_secrets: ClusterSecrets) -> None:
    cert = demo_secrets.ca.cert.encode()
    pubkey = openssl("x509", "-pubkey", "-noout", stdin=cert)
    der = openssl("pkey", "-pubin", "-outform", "der", stdin=pubkey)
    digest = openssl("dgst", "-sha256", "-hex", stdin=der).decode().split("= ")[-1].strip()
    assert demo_secrets.ca_cert_hash == f"sha256:{digest}"


def test_certificates_verify_with_openssl(tmp_path: Path, demo_secrets: ClusterSecrets) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text(demo_secrets.ca.cert)
    admin = tmp_path / "admin.crt"
    admin.write_text(demo_secrets.admin.cert)
    assert b"OK" in openssl("verify", "-CAfile", str(ca), str(admin))
    subject = openssl("x509", "-noout", "-subject", "-in", str(admin)).decode()
    assert "O = kubeadm:cluster-admins" in subject and "CN = kubernetes-admin" in subject
    for pair in (demo_secrets.ca, demo_secrets.front_proxy_ca, demo_secrets.etcd_ca):
        text = openssl("x509", "-noout", "-text", stdin=pair.cert.encode()).decode()
        assert "CA:TRUE" in text and "Certificate Sign" in text
    names = [
        openssl("x509", "-noout", "-subject", stdin=p.cert.encode()).decode().strip()
        for p in (demo_secrets.ca, demo_secrets.front_proxy_ca, demo_secrets.etcd_ca)
    ]
    assert names == [
        "subject=CN = kubernetes",
        "subject=CN = front-proxy-ca",
        "subject=CN = etcd-ca",
    ]
    # sa.pub is the public half of sa.key.
    derived = openssl("pkey", "-pubout", stdin=demo_secrets.service_account.key.encode())
    assert derived.decode() == demo_secrets.service_account.pub


def test_token_and_certificate_key_formats(demo_secrets: ClusterSecrets) -> None:
    assert secrets.TOKEN_PATTERN.match(demo_secrets.bootstrap_token)
    assert secrets.CERT_KEY_PATTERN.match(demo_secrets.certificate_key)
    assert secrets.new_token() != secrets.new_token()


def test_created_0600_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "demo.secrets.yaml"
    first, created = secrets.load_or_create(path, "demo")
    assert created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created_again = secrets.load_or_create(path, "demo")
    assert not created_again
    assert again == first
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_never_replaces_an_existing_file(tmp_path: Path, demo_secrets: ClusterSecrets) -> None:
    path = tmp_path / "demo.secrets.yaml"
    path.write_text("precious")
    with pytest.raises(SecretsError, match="already exists; not replacing it"):
        secrets.write_new(path, demo_secrets)
    assert path.read_text() == "precious"


def corrupt_cases(good: dict[str, object]) -> list[tuple[str, str, str]]:
    other = dict(good, cluster="other")
    swapped = dict(good, ca=good["etcdCA"] | {"key": good["ca"]["key"]})  # type: ignore[operator,index]
    return [
        ("other cluster", yaml.safe_dump(other), "belong to cluster 'other', not 'demo'"),
        ("not yaml", "a: [", "corrupt (not YAML at line 1"),
        ("not secrets", "a: 1\n", "corrupt: expected apiVersion k8sgen/v1alpha1"),
        (
            "missing field",
            yaml.safe_dump({k: v for k, v in good.items() if k != "admin"}),
            "missing or misplaced field 'admin'",
        ),
        (
            "bad token",
            yaml.safe_dump(dict(good, bootstrapToken="x")),
            "bootstrapToken must look like",
        ),
        ("key mismatch", yaml.safe_dump(swapped), "ca: the key does not belong to the certificate"),
        ("bad pem", yaml.safe_dump(dict(good, ca={"cert": "x", "key": "y"})), "ca: not a PEM"),
    ]


def test_unusable_files_are_refused_and_untouched(
    tmp_path: Path, demo_secrets: ClusterSecrets
) -> None:
    for name, text, message in corrupt_cases(demo_secrets.to_data()):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        path.chmod(0o600)
        with pytest.raises(SecretsError, match=message.replace("(", r"\(").replace(")", r"\)")):
            secrets.load_or_create(path, "demo")
        assert path.read_text() == text, name


def test_a_dangling_link_is_refused_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.symlink_to(tmp_path / "gone.yaml")
    with pytest.raises(SecretsError, match="cannot read the secrets file"):
        secrets.load_or_create(path, "demo")
    assert path.is_symlink() and not (tmp_path / "gone.yaml").exists()


def test_a_directory_in_the_way_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.mkdir()
    with pytest.raises(SecretsError, match="cannot read the secrets file"):
        secrets.load_or_create(path, "demo")
