"""The cluster's secrets: created once, stored 0600, reused, never silently replaced."""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import datetime
import os
import re
import secrets as random
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from cryptography.exceptions import UnsupportedAlgorithm

from generator.certspec import DEFAULTS, Certificates
from generator.errors import SecretsError
from generator.inputs import InputError, describe_yaml_error, read_input, safe_yaml
from generator.registries import Credential
from generator.secrets.pki import (
    CertPair,
    KeyAlgorithm,
    discovery_hash,
    key_algorithm,
    key_matches_cert,
    key_pem,
    new_ca,
    new_client_cert,
    new_private_key,
    public_key_pem,
)
from generator.spec.rules import (
    TOKEN_EXAMPLE,
    TOKEN_ID_LENGTH,
    TOKEN_PATTERN,
    TOKEN_SECRET_LENGTH,
)

API_VERSION = "k8sgen/v1alpha1"
KIND = "ClusterSecrets"
CERT_KEY_PATTERN = re.compile(r"^[0-9a-f]{64}$")
ADMIN_USER = "kubernetes-admin"
ADMIN_GROUP = "kubeadm:cluster-admins"  # kubeadm >= 1.29; bound to cluster-admin by kubeadm init
CA_PAIRS = ("ca", "frontProxyCA", "etcdCA")
JOIN_CREDENTIALS = "joinCredentials"  # node name -> its join certificate and key
MAX_SECRETS_BYTES = 1024 * 1024  # about 20 KB in practice
# kube-apiserver's aescbc takes a 16, 24 or 32-byte key and secretbox exactly 32: one
# 32-byte key serves both providers.
ENCRYPTION_KEY_BYTES = 32


@dataclass(frozen=True)
class ServiceAccountKey:
    key: str  # PEM private key (sa.key)
    pub: str  # PEM public key (sa.pub)


@dataclass(frozen=True)
class ClusterSecrets:
    cluster: str
    bootstrap_token: str
    certificate_key: str  # 32 bytes hex: kubeadm's --certificate-key for uploaded certs
    ca: CertPair
    front_proxy_ca: CertPair
    etcd_ca: CertPair
    service_account: ServiceAccountKey
    admin: CertPair  # client certificate for admin.conf
    # base64 key of encryption at rest: in every file created since k8sgen had the feature,
    # None in older files. Never regenerated: a new key makes every stored Secret unreadable.
    encryption_key: str | None = None
    # Private registries' logins by host[:port] (k8sgen registry-login), sorted by host.
    registry_credentials: tuple[tuple[str, Credential], ...] = ()

    @property
    def registry_logins(self) -> dict[str, Credential]:
        return dict(self.registry_credentials)

    # Node name -> its join certificate (system:node:<name>), minted once per name.
    join_credentials: dict[str, CertPair] = field(default_factory=dict)
    # Node name -> role of every node rendered with these secrets: how a render knows that a
    # node left the spec (the output folder may be another one, or cleaned).
    nodes: dict[str, str] = field(default_factory=dict)

    @property
    def ca_cert_hash(self) -> str:
        return discovery_hash(self.ca.cert)

    @property
    def encryption_algorithm(self) -> KeyAlgorithm | None:
        """What kubeadm is told to make its own keys of where it can be told (v1beta4):
        ECDSA-P256 with ECDSA CAs; nothing with RSA CAs (kubeadm's default RSA-2048, as for
        every file made before ECDSA)."""
        algorithm = key_algorithm(self.ca.key)
        return algorithm if algorithm == KeyAlgorithm.ECDSA_P256 else None

    def to_data(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "cluster": self.cluster,
            "bootstrapToken": self.bootstrap_token,
            "certificateKey": self.certificate_key,
            "ca": _pair_data(self.ca),
            "frontProxyCA": _pair_data(self.front_proxy_ca),
            "etcdCA": _pair_data(self.etcd_ca),
            "serviceAccount": {"key": self.service_account.key, "pub": self.service_account.pub},
            "admin": _pair_data(self.admin),
            **({"encryptionKey": self.encryption_key} if self.encryption_key else {}),
            **_credentials_data(self.registry_credentials),
            **({"nodes": dict(self.nodes)} if self.nodes else {}),
            **(
                {JOIN_CREDENTIALS: {n: _pair_data(p) for n, p in self.join_credentials.items()}}
                if self.join_credentials
                else {}
            ),
        }


def _pair_data(pair: CertPair) -> dict[str, str]:
    return {"cert": pair.cert, "key": pair.key}


def _credentials_data(credentials: tuple[tuple[str, Credential], ...]) -> dict[str, Any]:
    """Absent when empty: a secrets file without registry logins reads as before."""
    if not credentials:
        return {}
    logins = {h: {"username": c.username, "password": c.password} for h, c in credentials}
    return {"registryCredentials": logins}


def new_token() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return (
        "".join(random.choice(alphabet) for _ in range(TOKEN_ID_LENGTH))
        + "."
        + "".join(random.choice(alphabet) for _ in range(TOKEN_SECRET_LENGTH))
    )


# New secrets' CAs and service-account key, for every version: kubeadm loads a CA of any type
# and signs its own keys with it; kube-apiserver takes an ES256 service-account key.
NEW_KEY_ALGORITHM = KeyAlgorithm.ECDSA_P256


def generate(
    cluster: str,
    now: datetime.datetime | None = None,
    lifetimes: Certificates = DEFAULTS,
    algorithm: KeyAlgorithm = KeyAlgorithm.RSA_2048,
) -> ClusterSecrets:
    """New secrets: CAs for lifetimes.caValidity, admin.conf's certificate for its validity;
    the CAs and the service-account key are ALGORITHM keys (see NEW_KEY_ALGORITHM)."""
    now = now or datetime.datetime.now(datetime.UTC)
    ca = new_ca("kubernetes", now, lifetimes.ca, algorithm)
    sa_key = new_private_key(algorithm)
    return ClusterSecrets(
        cluster=cluster,
        bootstrap_token=new_token(),
        certificate_key=random.token_hex(32),
        ca=ca,
        front_proxy_ca=new_ca("front-proxy-ca", now, lifetimes.ca, algorithm),
        etcd_ca=new_ca("etcd-ca", now, lifetimes.ca, algorithm),
        service_account=ServiceAccountKey(key_pem(sa_key), public_key_pem(sa_key)),
        admin=new_client_cert(ca, ADMIN_USER, (ADMIN_GROUP,), now, lifetimes.leaf),
        encryption_key=new_encryption_key(),
    )


def new_encryption_key() -> str:
    return base64.b64encode(random.token_bytes(ENCRYPTION_KEY_BYTES)).decode()


def is_encryption_key(text: str) -> bool:
    try:
        return len(base64.b64decode(text, validate=True)) == ENCRYPTION_KEY_BYTES
    except (binascii.Error, ValueError):
        return False


def load_or_create(
    path: Path,
    cluster: str,
    lifetimes: Certificates = DEFAULTS,
    algorithm: KeyAlgorithm = KeyAlgorithm.RSA_2048,
) -> tuple[ClusterSecrets, bool]:
    """The secrets in PATH, or new ones (ALGORITHM keys) written there; True when created."""
    if path.exists() or path.is_symlink():
        return load(path, cluster), False
    created = generate(cluster, lifetimes=lifetimes, algorithm=algorithm)
    write_new(path, created)
    return created, True


def write_new(path: Path, value: ClusterSecrets) -> None:
    """Create PATH 0600; refuse to replace an existing file, even one created meanwhile."""
    text = _text(value)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SecretsError(
            f"{path}: cannot create the secrets file: {path.parent} is not a usable folder "
            f"({exc.strerror or exc})"
        ) from exc
    try:
        with _private_temporary(path, text) as tmp:
            os.link(tmp, path)  # fails if PATH appeared meanwhile: never overwrite
    except FileExistsError as exc:
        raise SecretsError(f"{path}: already exists; not replacing it") from exc
    except OSError as exc:
        raise SecretsError(
            f"{path}: cannot create the secrets file: {exc.strerror or exc}"
        ) from exc


@contextlib.contextmanager
def _private_temporary(path: Path, text: str) -> Iterator[Path]:
    """TEXT written and synced to a new 0600 file beside PATH, removed after the block."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        yield tmp
    finally:
        # Never let the clean-up hide the real error (ENOTDIR, EROFS, EACCES on the folder).
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def missing_encryption_key(path: Path) -> SecretsError:
    """An older secrets file and a spec that turns encryption at rest on: k8sgen never rewrites
    the file, so the operator adds the key once (and backs the file up again)."""
    return SecretsError(
        f"{path}: spec.controlPlane.encryptionAtRest needs an encryption key, and this secrets "
        "file predates them: add the line `encryptionKey: KEY`, with KEY from "
        f"`head -c {ENCRYPTION_KEY_BYTES} /dev/urandom | base64`, once (never change it later: "
        "Secrets stored with a key are unreadable without it), then render again"
    )


def _text(value: ClusterSecrets) -> str:
    return "# k8sgen cluster secrets: keep private, back up, never commit.\n" + yaml.safe_dump(
        value.to_data(), sort_keys=False, default_flow_style=False, width=200
    )


def with_registry_login(value: ClusterSecrets, host: str, login: Credential) -> ClusterSecrets:
    """VALUE with LOGIN for HOST (replacing an older login of HOST); all else unchanged."""
    logins = {**value.registry_logins, host: login}
    return dataclasses.replace(value, registry_credentials=tuple(sorted(logins.items())))


def write_additions(path: Path, before: ClusterSecrets, after: ClusterSecrets) -> None:
    """Replace PATH's BEFORE with AFTER, which only adds nodes and join credentials (or renews
    those asked for); refused if the file changed since it was read."""
    if load(path, before.cluster) != before:
        raise SecretsError(f"{path}: changed while k8sgen ran; not replacing it, render again")
    replace_file(path, after)


def replace_file(path: Path, value: ClusterSecrets) -> None:
    """Write VALUE over the existing secrets file at PATH, 0600 throughout: a crash leaves the
    old file or the new one, never half of either."""
    try:
        with _private_temporary(path, _text(value)) as tmp:
            os.replace(tmp, path)
    except OSError as exc:
        raise SecretsError(
            f"{path}: cannot update the secrets file: {exc.strerror or exc}"
        ) from exc


def load(path: Path, cluster: str) -> ClusterSecrets:
    try:
        raw = read_input(path, "secrets file", MAX_SECRETS_BYTES, private=True)
        data = safe_yaml(raw.decode("utf-8"))
    except InputError as exc:
        raise SecretsError(str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise SecretsError(
            f"{path}: the secrets file is not UTF-8 text; it was not changed"
        ) from exc
    except yaml.YAMLError as exc:
        line, reason = describe_yaml_error(exc)
        where = f" at line {line}" if line else ""
        raise SecretsError(
            f"{path}: the secrets file is corrupt (not YAML{where}: {reason}); it was not changed"
        ) from exc
    value = _parse(path, data)
    if value.cluster != cluster:
        raise SecretsError(
            f"{path}: these secrets belong to cluster {value.cluster!r}, not {cluster!r}; "
            "pass --secrets with the right file, or move this one away to create new secrets"
        )
    return value


def _parse(path: Path, data: Any) -> ClusterSecrets:
    def corrupt(reason: str) -> SecretsError:
        return SecretsError(f"{path}: the secrets file is corrupt: {reason}; it was not changed")

    if (
        not isinstance(data, dict)
        or data.get("kind") != KIND
        or data.get("apiVersion") != API_VERSION
    ):
        raise corrupt(f"expected apiVersion {API_VERSION} and kind {KIND}")
    try:
        value = _secrets_from(data)
    except (KeyError, TypeError, AttributeError) as exc:
        raise corrupt(f"missing or misplaced field {exc}") from exc
    if not TOKEN_PATTERN.fullmatch(value.bootstrap_token):
        raise corrupt(f"bootstrapToken must look like {TOKEN_EXAMPLE}")
    if not CERT_KEY_PATTERN.fullmatch(value.certificate_key):
        raise corrupt("certificateKey must be 64 lowercase hex digits")
    if value.encryption_key is not None and not is_encryption_key(value.encryption_key):
        raise corrupt(f"encryptionKey must be {ENCRYPTION_KEY_BYTES} bytes in base64")
    for name in (*CA_PAIRS, "admin"):
        _check_pair(corrupt, name, data[name])
    for node, pair in (data.get(JOIN_CREDENTIALS) or {}).items():
        _check_pair(corrupt, f"{JOIN_CREDENTIALS}.{node}", pair)
    return value


def _secrets_from(data: dict[str, Any]) -> ClusterSecrets:
    """DATA as ClusterSecrets; KeyError, TypeError or AttributeError where it is malformed."""
    return ClusterSecrets(
        cluster=str(data["cluster"]),
        bootstrap_token=str(data["bootstrapToken"]),
        certificate_key=str(data["certificateKey"]),
        ca=_pair(data["ca"]),
        front_proxy_ca=_pair(data["frontProxyCA"]),
        etcd_ca=_pair(data["etcdCA"]),
        service_account=ServiceAccountKey(
            str(data["serviceAccount"]["key"]), str(data["serviceAccount"]["pub"])
        ),
        admin=_pair(data["admin"]),
        encryption_key=_optional_text(data.get("encryptionKey")),
        registry_credentials=_credentials(data.get("registryCredentials", {})),
        join_credentials={str(n): _pair(p) for n, p in (data.get(JOIN_CREDENTIALS) or {}).items()},
        nodes={str(n): str(r) for n, r in (data.get("nodes") or {}).items()},
    )


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _credentials(data: Any) -> tuple[tuple[str, Credential], ...]:
    return tuple(
        sorted(
            (str(host), Credential(str(login["username"]), str(login["password"])))
            for host, login in data.items()
        )
    )


def _pair(data: Any) -> CertPair:
    return CertPair(cert=str(data["cert"]), key=str(data["key"]))


def _check_pair(corrupt: Any, name: str, data: Any) -> None:
    try:
        pair = _pair(data)
        matches = key_matches_cert(pair)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise corrupt(f"{name}: not a PEM certificate and key ({exc})") from exc
    if not matches:
        raise corrupt(f"{name}: the key does not belong to the certificate")
