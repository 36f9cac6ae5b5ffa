"""spec.proxy: the HTTP(S) proxy nodes download through, and what never goes through it."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from generator.refs import url_host

# Always direct: loopback, and what the cluster reaches inside itself (Services by name).
ALWAYS_DIRECT = ("localhost", "127.0.0.1", ".svc")
PROXY_PATH = ("spec", "proxy")


@dataclass(frozen=True)
class Proxy:
    http: str | None
    https: str | None
    no_proxy: tuple[str, ...]  # the complete list: the cluster's own networks and names first
    named: tuple[str, ...] = ()  # the operator's noProxy (the site's mirrors, registries)

    @property
    def hosts(self) -> tuple[str, ...]:
        """The proxy hosts: the nodes' only egress for everything not in no_proxy."""
        return tuple(sorted({url_host(u) for u in (self.http, self.https) if u}))

    @property
    def environment(self) -> dict[str, str]:
        """The variables, lower case only: the one spelling every node program reads. curl
        reads http_proxy only in lower case; Go's net/http (containerd, kubeadm; x/net
        http/httpproxy FromEnvironment), dnf (libcurl) and Python read either; apt has its own
        Acquire settings. Written once, the long no_proxy list costs user-data once."""
        names = {"http_proxy": self.http, "https_proxy": self.https}
        names["no_proxy"] = ",".join(self.no_proxy)
        return {k: v for k, v in names.items() if v}

    def bypasses(self, host: str) -> bool:
        """no_proxy as curl and Go read it: exact hosts, .domain suffixes, CIDRs."""
        host = host.lower()
        return host in self.hosts or any(_matches(entry, host) for entry in self.no_proxy)

    def for_url(self, url: str) -> str | None:
        """The proxy URL a client uses for URL (by its scheme), or None when it goes direct."""
        if self.bypasses(url_host(url)):
            return None
        return self.http if url.startswith("http://") else self.https

    def via(self, host: str) -> str | None:
        """The proxy host a download from HOST goes through, or None when it goes direct."""
        if self.bypasses(host):
            return None
        chosen = self.https or self.http  # most downloads are https://
        return url_host(chosen) if chosen else None


def _matches(entry: str, host: str) -> bool:
    if "/" in entry:
        try:
            return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
    domain = entry.lstrip(".")
    return host == domain or host.endswith("." + domain)


def build_proxy(
    data: dict[str, Any] | None, networks: Iterable[str], names: Iterable[str]
) -> Proxy | None:
    """NETWORKS: node networks, pod and service subnets; NAMES: the endpoint host and the
    cluster domain. The operator's noProxy comes last, duplicates dropped."""
    if not data:
        return None
    entries = [*ALWAYS_DIRECT, *networks, *names, *data.get("noProxy", ())]
    named = tuple(data.get("noProxy", ()))
    return Proxy(data.get("http"), data.get("https"), tuple(dict.fromkeys(entries)), named)


def url_problem(url: str) -> str | None:
    """Why URL cannot be a proxy URL (http(s)://host:port, no credentials), or None."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return (
            "a proxy URL must not carry credentials (they would be readable in every node's "
            "user-data and process environment): k8sgen supports proxies without "
            "authentication; let the proxy allow the node network by address instead"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url}: expected http://HOST:PORT or https://HOST:PORT"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        return f"{url}: name the port, e.g. http://{parts.hostname}:3128"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return f"{url}: a proxy URL has no path: http(s)://{parts.hostname}:{port}"
    return None
