"""Key pairs and certificates the cluster shares, made the way kubeadm makes them."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class KeyAlgorithm(StrEnum):
    """A key type by its kubeadm name (ClusterConfiguration.encryptionAlgorithm, v1beta4)."""

    RSA_2048 = "RSA-2048"  # kubeadm's default
    # About a tenth of an RSA key's bytes: what makes a control plane's user-data fit AWS.
    ECDSA_P256 = "ECDSA-P256"


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
RSA_BITS = 2048  # kubeadm's default (encryptionAlgorithm RSA-2048)
CA_VALIDITY = datetime.timedelta(days=3650)  # kubeadm's CA lifetime
CLIENT_VALIDITY = datetime.timedelta(days=365)  # kubeadm's leaf certificate lifetime
CLOCK_SKEW = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class CertPair:
    """A certificate and its private key, both PEM text."""

    cert: str
    key: str

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert.encode())


def new_private_key(algorithm: KeyAlgorithm = KeyAlgorithm.RSA_2048) -> PrivateKey:
    if algorithm == KeyAlgorithm.ECDSA_P256:
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)


def load_private_key(pem: str) -> PrivateKey:
    """An RSA key, or an ECDSA key on P-256: the types k8sgen makes and names to kubeadm."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey) and not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"an ECDSA key on {key.curve.name}: only P-256 (ECDSA-P256) is taken")
    if not isinstance(key, PrivateKey):
        raise ValueError(f"a {type(key).__name__}: only RSA and ECDSA P-256 keys are taken")
    return key


def key_algorithm(pem: str) -> KeyAlgorithm | None:
    """The kubeadm name of the PEM private key's type; None for an RSA key of another size."""
    key = load_private_key(pem)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return KeyAlgorithm.ECDSA_P256
    return KeyAlgorithm.RSA_2048 if key.key_size == RSA_BITS else None


def key_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def public_key_pem(key: PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def new_ca(
    common_name: str,
    now: datetime.datetime,
    validity: datetime.timedelta = CA_VALIDITY,
    algorithm: KeyAlgorithm = KeyAlgorithm.RSA_2048,
) -> CertPair:
    key = new_private_key(algorithm)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertPair(cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem(key))


def new_client_cert(
    ca: CertPair,
    common_name: str,
    organizations: Sequence[str],
    now: datetime.datetime,
    validity: datetime.timedelta = CLIENT_VALIDITY,
) -> CertPair:
    """A client certificate: the API server reads CN as the user name and each O as a group.
    Its key is of the CA's type, as kubeadm makes its own client certificates."""
    ca_key = load_private_key(ca.key)
    key = new_private_key(key_algorithm(ca.key) or KeyAlgorithm.RSA_2048)
    ca_cert = ca.certificate
    subject = x509.Name(
        [
            *(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return CertPair(cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem(key))


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def discovery_hash(ca_cert_pem: str) -> str:
    """kubeadm's caCertHashes entry: SHA-256 over the CA's DER SubjectPublicKeyInfo."""
    cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def key_matches_cert(pair: CertPair) -> bool:
    key = load_private_key(pair.key)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(serialization.Encoding.DER, public) == (
        pair.certificate.public_key().public_bytes(serialization.Encoding.DER, public)
    )
