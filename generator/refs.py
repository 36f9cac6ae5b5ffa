"""Hosts in URLs and image references, parsed the way containerd and curl read them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DOCKER_HUB = "docker.io"
# A registry host: has a dot or a port, or is localhost (the Docker reference rule).
_REGISTRY = re.compile(r"^(localhost|[^/]*[.:][^/]*)$")


def url_host(url: str) -> str:
    """The host of an http(s) URL, lower case, without port or brackets."""
    return (urlsplit(url).hostname or "").lower()


def host_of(host_port: str) -> str:
    """harbor.example:5000 -> harbor.example."""
    return host_port.rsplit(":", 1)[0].lower() if ":" in host_port else host_port.lower()


@dataclass(frozen=True)
class ImageRef:
    """registry/path[:tag][@digest], with Docker Hub's implicit registry made explicit."""

    registry: str  # host[:port] as written, e.g. docker.io or harbor.example:5000
    path: str  # repository path inside the registry, e.g. calico/node
    tag: str | None
    digest: str | None = None

    @property
    def host(self) -> str:
        return host_of(self.registry)

    @property
    def repository(self) -> str:
        return f"{self.registry}/{self.path}"

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def moved(self, registry: str) -> ImageRef:
        """The same repository path and tag on another registry host."""
        return ImageRef(registry, self.path, self.tag, self.digest)


def parse_image(reference: str) -> ImageRef:
    """Parse an image reference; a first component without a dot or port means Docker Hub."""
    rest, _, digest = reference.partition("@")
    first, slash, remainder = rest.partition("/")
    if slash and _REGISTRY.match(first):
        registry, path = first, remainder
    else:
        registry, path = DOCKER_HUB, rest if slash else f"library/{rest}"
    tag = None
    name, colon, maybe_tag = path.rpartition(":")
    if colon and "/" not in maybe_tag:
        path, tag = name, maybe_tag
    return ImageRef(registry, path, tag, digest or None)
