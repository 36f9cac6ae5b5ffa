"""A tiny HTTP forward proxy on 127.0.0.1 for the proxy tests, loopback only.

A client that uses it sends GET (or HEAD) http://HOST/PATH (the absolute URL); the proxy never
resolves HOST: it answers from the loopback server ROUTES names for HOST (502 for any other
host), and records every URL it was asked for.
"""

from __future__ import annotations

import http.client
import http.server
from contextlib import AbstractContextManager
from urllib.parse import urlsplit

from .servers import QuietHandler, serving


class ForwardProxy(http.server.ThreadingHTTPServer):
    def __init__(self, routes: dict[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes = routes  # requested host -> port of a server on 127.0.0.1
        self.requested: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(QuietHandler):
    server: ForwardProxy

    def do_GET(self) -> None:
        self.forward()

    def do_HEAD(self) -> None:  # containerd resolves an image with HEAD
        self.forward()

    def forward(self) -> None:
        self.server.requested.append(self.path)
        target = urlsplit(self.path)
        port = self.server.routes.get(target.hostname or "")
        if port is None:
            self.send_error(502, "no route on loopback")
            return
        upstream = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        upstream.request(self.command, target.path or "/")
        answer = upstream.getresponse()
        body = answer.read()
        upstream.close()
        self.send_response(answer.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def forward_proxy(routes: dict[str, int]) -> AbstractContextManager[ForwardProxy]:
    return serving(ForwardProxy(routes))
