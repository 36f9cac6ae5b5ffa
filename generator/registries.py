"""spec.registries: private registry hosts with their own CA, credentials or skipVerify.

The CA certificate is a file named in the spec, read and checked at render time and embedded
in each node's user-data; credentials live in the secrets file (k8sgen registry-login), never
in the spec.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from generator.errors import K8sgenError
from generator.inputs import InputError, read_input
from generator.layout import CERTS_DIR

REGISTRIES_PATH = ("spec", "registries")
MAX_CA_BYTES = 256 * 1024  # a bundle of a few dozen certificates at most
CA_FILE = "ca.crt"  # beside the registry's hosts.toml


@dataclass(frozen=True)
class RegistryHost:
    host: str  # host[:port], as containerd names the folder under certs.d
    ca_file: Path | None  # the spec's `ca`, relative to the spec's folder resolved
    skip_verify: bool
    auth: bool  # credentials are in the secrets file
    ca: str | None = None  # the PEM text of ca_file, read after the model is built

    @property
    def ca_path(self) -> str:
        """Where the node keeps the CA (containerd's hosts.toml `ca`)."""
        return f"{CERTS_DIR}/{self.host}/{CA_FILE}"


@dataclass(frozen=True)
class Credential:
    username: str
    password: str

    @property
    def authorization(self) -> str:
        """The HTTP Authorization header containerd sends to the registry."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"


class CredentialsMissing(K8sgenError):
    """spec.registries.<host>.auth is set and the secrets file has no credentials for it."""


def build_registries(spec: dict[str, Any], base_dir: Path) -> tuple[RegistryHost, ...]:
    return tuple(
        RegistryHost(
            host=host,
            ca_file=base_dir / data["ca"] if "ca" in data else None,
            skip_verify=bool(data.get("skipVerify", False)),
            auth=bool(data.get("auth", False)),
        )
        for host, data in sorted(spec.get("registries", {}).items())
    )


def embed_cas(registries: tuple[RegistryHost, ...]) -> tuple[RegistryHost, ...]:
    """The registries with their CA files read (InputError when one is not a certificate)."""
    return tuple(
        dataclasses.replace(r, ca=read_ca(r.ca_file)) if r.ca_file else r for r in registries
    )


def read_ca(path: Path) -> str:
    """The PEM text of PATH, if every block in it is an X.509 certificate (InputError if not)."""
    raw = read_input(path, "registry CA certificate", MAX_CA_BYTES)
    try:
        text = raw.decode("ascii")
        certificates = x509.load_pem_x509_certificates(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(
            f"{path}: not a PEM certificate (expected -----BEGIN CERTIFICATE----- blocks: "
            "the registry's CA, not its key)"
        ) from exc
    if not certificates:
        raise InputError(f"{path}: holds no certificate")
    return text if text.endswith("\n") else text + "\n"


def credentials_for(
    registries: tuple[RegistryHost, ...], stored: dict[str, Credential]
) -> dict[str, Credential]:
    """The credentials of every registry with auth; CredentialsMissing names what to run."""
    missing = [r.host for r in registries if r.auth and r.host not in stored]
    if missing:
        raise CredentialsMissing(
            f"spec.registries: auth is set for {', '.join(missing)} and the secrets file holds "
            f"no credentials for {'it' if len(missing) == 1 else 'them'}: run "
            f"`k8sgen registry-login SPEC {missing[0]} --username USER --password-stdin` "
            "(the password is read from standard input and kept in the secrets file only)"
        )
    return {r.host: stored[r.host] for r in registries if r.auth}
