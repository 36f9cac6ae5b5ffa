"""Servers on 127.0.0.1 that answer /readyz the ways a starting control plane can."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

from generator.secrets.pki import new_ca

from .servers import QuietHandler, serving

LOOPBACK = "127.0.0.1"
NOT_READY = "[-]etcd failed: reason withheld\nreadyz check failed"


class ReadyzHandler(QuietHandler):
    """Answers 500 NOT_READY to the first `server.failures` requests, then 200 "ok"."""

    server: ReadyzServer

    def do_GET(self) -> None:
        self.server.requests += 1
        ready = self.server.requests > self.server.failures
        body = b"ok" if ready else NOT_READY.encode()
        self.send_response(200 if ready else 500)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ReadyzServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, failures: int) -> None:
        super().__init__((LOOPBACK, 0), ReadyzHandler)
        self.failures = failures
        self.requests = 0


def self_signed(folder: Path) -> ssl.SSLContext:
    pair = new_ca(LOOPBACK, datetime.datetime.now(datetime.UTC))
    (folder / "tls.crt").write_text(pair.cert)
    (folder / "tls.key").write_text(pair.key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "tls.crt", folder / "tls.key")
    return context


@contextmanager
def readyz_server(folder: Path, failures: int, tls: bool = True) -> Iterator[ReadyzServer]:
    """An API server that is not ready for FAILURES requests (TLS unless told otherwise)."""
    server = ReadyzServer(failures)
    if tls:
        server.socket = self_signed(folder).wrap_socket(server.socket, server_side=True)
    with serving(server):
        yield server


@contextmanager
def silent_server() -> Iterator[int]:
    """Accepts connections and never says a word: a port of a hung API server."""
    listener = socket.socket()
    listener.bind((LOOPBACK, 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def closed_port() -> int:
    """A loopback port nobody listens on (connection refused)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
    return port
