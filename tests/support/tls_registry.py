"""The loopback registry behind TLS and HTTP basic auth, as a private registry is reached.

A front on 127.0.0.1 with a certificate from a CA made by openssl at test time checks each
request's Authorization header (401 and a Basic challenge without it) and passes it on to the
plain loopback registry (tests/support/loopback.py). It records what it answered.
"""

from __future__ import annotations

import base64
import http.server
import ssl
import subprocess
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from .loopback import Registry
from .servers import RegistryRelay, serving
from .tools import need


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the CA's certificate (PEM): what the spec names
    cert: Path  # the server's, for IP 127.0.0.1
    key: Path


def make_certificates(folder: Path) -> Certificates:
    """A throwaway CA and a server certificate it signed for 127.0.0.1, made by openssl."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, request = folder / "server.pem", folder / "server.key", folder / "server.csr"
    extensions = folder / "san.cnf"
    extensions.write_text("subjectAltName = IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    signed = ["-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2"]
    for argv in (
        [
            "req",
            "-x509",
            *ec,
            "-keyout",
            str(ca_key),
            "-out",
            str(ca),
            "-days",
            "2",
            "-subj",
            "/CN=ca",
        ],
        ["req", *ec, "-keyout", str(key), "-out", str(request), "-subj", "/CN=127.0.0.1"],
        [
            "x509",
            "-req",
            "-in",
            str(request),
            *signed,
            "-out",
            str(cert),
            "-extfile",
            str(extensions),
        ],
    ):
        subprocess.run([need("openssl"), *argv], check=True, capture_output=True)
    return Certificates(ca, cert, key)


class AuthFront(http.server.ThreadingHTTPServer):
    def __init__(self, registry: Registry, certificates: Certificates, login: str) -> None:
        super().__init__(("127.0.0.1", 0), _FrontHandler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificates.cert, certificates.key)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.registry = registry
        self.expected = "Basic " + base64.b64encode(login.encode()).decode()
        self.answers: list[tuple[str, int]] = []  # (path, status)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _FrontHandler(RegistryRelay):
    server: AuthFront

    def forward(self, method: str) -> None:
        if self.headers.get("Authorization") != self.server.expected:
            self.server.answers.append((self.path, 401))
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="k8sgen test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        answer, body = self.ask(method, self.server.registry.host, self.path)
        self.server.answers.append((self.path, answer.status))
        self.pass_back(method, answer, body)


def auth_front(
    registry: Registry, certificates: Certificates, login: str
) -> AbstractContextManager[AuthFront]:
    """REGISTRY behind TLS (CERTIFICATES) and basic auth (LOGIN is user:password)."""
    return serving(AuthFront(registry, certificates, login))
