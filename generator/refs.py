"""Hosts in URLs and image references, parsed the way containerd and curl read them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from generator.spec.rules import split_host_port

DOCKER_HUB = "docker.io"
# A registry host: has a dot or a port, or is localhost (the Docker reference rule).
_REGISTRY = re.compile(r"^(localhost|[^/]*[.:][^/]*)$")


def url_host(url: str) -> str:
    """The host of an http(s) URL, lower case, without port or brackets."""
    return (urlsplit(url).hostname or "").lower()


def host_of(host_port: str) -> str:
    """harbor.example:5000 -> harbor.example."""
    return split_host_port(host_port)[0].lower()


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


# --- registry mirror URLs, as containerd's hosts.toml reads them ---------------------------
# containerd appends /v2 to a host URL whose path does not end in /v2, unless the host sets
# override_path = true; then the path is the registry API root as written.


def mirror_path_segments(url: str) -> list[str]:
    """/v2/dockerhub/ -> ["v2", "dockerhub"]."""
    return [s for s in urlsplit(url).path.split("/") if s]


def carries_api_root(url: str) -> bool:
    """The URL's path is an API root below /v2, such as a Harbor proxy project's
    https://harbor.example/v2/dockerhub: containerd must use it as is (override_path)."""
    return "v2" in mirror_path_segments(url)[:-1]


def appended_api_root(url: str) -> bool:
    """A path without a v2 segment (https://host/docker): containerd asks for /docker/v2/...,
    right only for a registry served under that prefix."""
    segments = mirror_path_segments(url)
    return bool(segments) and "v2" not in segments
