"""Running a test HTTP server on 127.0.0.1, and the handler shapes the test servers share."""

from __future__ import annotations

import http.client
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

# Headers a registry answer carries that a client needs.
PASSED_ON = ("Content-Type", "Content-Length", "Docker-Content-Digest", "Location")

Server = TypeVar("Server", bound=http.server.HTTPServer)


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    """SERVER answering in a thread for the block; shut down and closed after it."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """A handler that keeps the test output free of access-log lines."""

    def log_message(self, *args: Any) -> None:
        pass


class RegistryRelay(QuietHandler):
    """GET and HEAD handed to `forward(method)`, which passes them on with `ask` and `pass_back`."""

    def do_GET(self) -> None:
        self.forward("GET")

    def do_HEAD(self) -> None:
        self.forward("HEAD")

    def forward(self, method: str) -> None:
        raise NotImplementedError

    def ask(self, method: str, host: str, path: str) -> tuple[http.client.HTTPResponse, bytes]:
        """METHOD PATH asked of the registry at HOST with this request's Accept: answer, body."""
        upstream = http.client.HTTPConnection(host, timeout=30)
        accept = ", ".join(self.headers.get_all("Accept", [])) or "*/*"  # skopeo sends several
        upstream.request(method, path, headers={"Accept": accept})
        answer = upstream.getresponse()
        body = answer.read()
        upstream.close()
        return answer, body

    def pass_back(self, method: str, answer: http.client.HTTPResponse, body: bytes) -> None:
        """The registry's ANSWER sent to the client, with the headers it needs."""
        self.send_response(answer.status)
        for name in PASSED_ON:
            if answer.getheader(name):
                self.send_header(name, answer.getheader(name, ""))
        self.end_headers()
        if method == "GET":
            self.wfile.write(body)
