"""ECDSA P-256 CAs and service-account key in new secrets; kubeadm told to make its own keys
ECDSA where it can be told (v1beta4); RSA files render as before.

openssl is the oracle for the key types and the CA hash; the real kubeadm and control plane on
these keys are in tests/k8s/test_control_plane.py."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from generator import secrets
from generator.cli import cli
from generator.errors import SecretsError
from generator.secrets import ClusterSecrets
from generator.secrets.pki import KeyAlgorithm

from .support.kubeadm import SHARED_PKI, api_validator
from .support.nodedata import files, kubeadm_documents
from .support.repo import REPO
from .support.specs import Rendered, example, render_spec, write_spec
from .support.tools import need

P256 = "NIST CURVE: P-256"  # in openssl's text of a P-256 key or certificate
SINGLE = REPO / "examples" / "single.yaml"  # Kubernetes 1.33: kubeadm v1beta4


@pytest.fixture(scope="module")
def ecdsa_secrets() -> ClusterSecrets:
    return secrets.generate("demo", algorithm=KeyAlgorithm.ECDSA_P256)


def openssl(*args: str, stdin: bytes = b"") -> bytes:
    return subprocess.run(
        [need("openssl"), *args], input=stdin, capture_output=True, check=True
    ).stdout


def test_ecdsa_secrets_are_p256_keys_that_openssl_verifies(
    ecdsa_secrets: ClusterSecrets, tmp_path: Path
) -> None:
    pairs = (ecdsa_secrets.ca, ecdsa_secrets.front_proxy_ca, ecdsa_secrets.etcd_ca)
    for key in (
        *(p.key for p in pairs),
        ecdsa_secrets.admin.key,
        ecdsa_secrets.service_account.key,
    ):
        assert P256 in openssl("pkey", "-noout", "-text", stdin=key.encode()).decode()
    for cert in (*(p.cert for p in pairs), ecdsa_secrets.admin.cert):
        text = openssl("x509", "-noout", "-text", stdin=cert.encode()).decode()
        assert P256 in text and "ecdsa-with-SHA256" in text
    derived = openssl("pkey", "-pubout", stdin=ecdsa_secrets.service_account.key.encode())
    assert derived.decode() == ecdsa_secrets.service_account.pub
    (tmp_path / "ca.crt").write_text(ecdsa_secrets.ca.cert)
    (tmp_path / "admin.crt").write_text(ecdsa_secrets.admin.cert)
    assert b"OK" in openssl(
        "verify", "-CAfile", str(tmp_path / "ca.crt"), str(tmp_path / "admin.crt")
    )


def test_ecdsa_ca_hash_equals_openssls(ecdsa_secrets: ClusterSecrets) -> None:
    pubkey = openssl("x509", "-pubkey", "-noout", stdin=ecdsa_secrets.ca.cert.encode())
    der = openssl("pkey", "-pubin", "-outform", "der", stdin=pubkey)
    assert ecdsa_secrets.ca_cert_hash == "sha256:" + hashlib.sha256(der).hexdigest()


def test_new_secrets_are_ecdsa_for_every_version(tmp_path: Path) -> None:
    assert secrets.NEW_KEY_ALGORITHM == KeyAlgorithm.ECDSA_P256
    for version in ("1.30.14", "1.33.6"):
        spec = write_spec(tmp_path, example("single", spec__kubernetes__version=version))
        result = CliRunner().invoke(cli, ["secrets", str(spec)])
        assert result.exit_code == 0, result.output
        made = yaml.safe_load((tmp_path / "cluster.secrets.yaml").read_text())
        for name in ("ca", "frontProxyCA", "etcdCA", "admin"):
            assert made[name]["key"].startswith("-----BEGIN EC PRIVATE KEY-----")
        assert made["serviceAccount"]["key"].startswith("-----BEGIN EC PRIVATE KEY-----")
        (tmp_path / "cluster.secrets.yaml").unlink()


def cluster_configuration(rendered: Rendered) -> dict[str, object]:
    init = rendered.cluster.init_node.name
    return next(d for d in kubeadm_documents(rendered, init) if d["kind"] == "ClusterConfiguration")


def stash(rendered: Rendered) -> dict[str, str]:
    init = rendered.cluster.init_node.name
    return {p: f["content"] for p, f in files(rendered, init).items() if p in SHARED_PKI}


def test_rsa_secrets_render_as_before(demo_secrets: ClusterSecrets) -> None:
    """A secrets file with RSA keys (every file made before ECDSA): kubeadm is told nothing
    new, and the node gets the stored keys unchanged."""
    assert demo_secrets.encryption_algorithm is None
    rendered = render_spec(SINGLE, demo_secrets)
    assert "encryptionAlgorithm" not in cluster_configuration(rendered)
    assert stash(rendered)["/var/lib/k8sgen/pki/ca.key"] == demo_secrets.ca.key
    assert "BEGIN RSA PRIVATE KEY" in stash(rendered)["/var/lib/k8sgen/pki/sa.key"]


def test_ecdsa_secrets_tell_kubeadm_to_make_ecdsa_keys(ecdsa_secrets: ClusterSecrets) -> None:
    rendered = render_spec(SINGLE, ecdsa_secrets)
    configuration = cluster_configuration(rendered)
    assert configuration["encryptionAlgorithm"] == "ECDSA-P256"
    assert not list(
        api_validator(rendered.cluster.kubernetes.kubeadm_api).iter_errors(configuration)
    )
    assert stash(rendered)["/var/lib/k8sgen/pki/etcd/ca.key"] == ecdsa_secrets.etcd_ca.key


def test_ecdsa_secrets_file_round_trips(ecdsa_secrets: ClusterSecrets, tmp_path: Path) -> None:
    path = tmp_path / "demo.secrets.yaml"
    secrets.write_new(path, ecdsa_secrets)
    assert secrets.load(path, "demo") == ecdsa_secrets
    assert "BEGIN EC PRIVATE KEY" in path.read_text()


def test_a_key_on_another_curve_is_refused(ecdsa_secrets: ClusterSecrets, tmp_path: Path) -> None:
    path = tmp_path / "demo.secrets.yaml"
    secrets.write_new(path, ecdsa_secrets)
    data = yaml.safe_load(path.read_text())
    p384 = ec.generate_private_key(ec.SECP384R1())
    data["etcdCA"]["key"] = p384.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SecretsError, match=r"etcdCA: .*secp384r1: only P-256"):
        secrets.load(path, "demo")


def test_ecdsa_secrets_with_kubeadm_v1beta3_name_no_key_type(
    ecdsa_secrets: ClusterSecrets, tmp_path: Path
) -> None:
    """Kubernetes 1.30: v1beta3 has no encryptionAlgorithm, so kubeadm makes its own keys RSA
    (its default) and signs them with our ECDSA CAs (tests/k8s/test_kubeadm_real.py); the node
    gets the stored ECDSA keys unchanged."""
    spec = write_spec(tmp_path, example("single", spec__kubernetes__version="1.30.14"))
    rendered = render_spec(spec, ecdsa_secrets)
    configuration = cluster_configuration(rendered)
    assert "encryptionAlgorithm" not in configuration
    assert not list(
        api_validator(rendered.cluster.kubernetes.kubeadm_api).iter_errors(configuration)
    )
    assert stash(rendered)["/var/lib/k8sgen/pki/ca.key"] == ecdsa_secrets.ca.key
    assert stash(rendered)["/var/lib/k8sgen/pki/sa.key"] == ecdsa_secrets.service_account.key


@pytest.mark.parametrize("version", ["1.30.14", "1.33.6"])
def test_rsa_secrets_file_renders_byte_identically(
    demo_secrets: ClusterSecrets, tmp_path: Path, version: str
) -> None:
    """An RSA file made before: `k8sgen render` keeps its keys (it only adds the nodes' join
    credentials, signed by the RSA CA, and its record of the nodes)."""
    spec = write_spec(tmp_path, example("single", spec__kubernetes__version=version))
    path = tmp_path / "cluster.secrets.yaml"
    secrets.write_new(path, demo_secrets)
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    after = secrets.load(path, demo_secrets.cluster)
    kept = ("ca", "front_proxy_ca", "etcd_ca", "service_account", "admin", "bootstrap_token")
    assert [getattr(after, name) for name in kept] == [getattr(demo_secrets, n) for n in kept]
    assert "encryptionAlgorithm" not in cluster_configuration(render_spec(spec, demo_secrets))
