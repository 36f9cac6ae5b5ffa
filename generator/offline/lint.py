"""Zero-egress lint: every host a node would reach, read back from its rendered user-data.

Scans what cloud-init writes: URLs in scripts and repository files, containerd hosts.toml
servers and mirrors, image references (manifests, kubeadm imageRepository, the sandbox
image, images named in scripts), the NTP servers, the API endpoint. An image whose registry
has a hosts.toml on the node is reached through that file's hosts (checked themselves); in
bundle mode an image the bundle carries is not reached at all.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from generator.errors import K8sgenError
from generator.layout import CERTS_DIR
from generator.model import Cluster
from generator.offline.images import cluster_images
from generator.refs import host_of, parse_image, url_host
from generator.render.artifact import Artifact

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
URL = re.compile(r"\b(?:https?|ftp|wss?)://[^\s'\"<>()\[\]{}\\]+")
# host.with.dots[:port]/path[:tag] not preceded by a path or URL character; the path starts
# with a letter so that a CIDR such as 10.244.0.0/16 is not taken for an image.
IMAGE = re.compile(
    r"(?<![\w./:@$-])((?:[a-z0-9-]+\.)+[a-z0-9-]+(?::\d+)?|localhost(?::\d+)?)"
    r"/[a-z_][\w./-]*(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?"
)
IMAGE_KEYS = ("image", "imageRepository")
ENDPOINT_KEYS = ("controlPlaneEndpoint", "apiServerEndpoint")
USER_DATA = "user-data"


@dataclass(frozen=True, order=True)
class Reach:
    """One place where a node would contact a host."""

    node: str
    file: str  # path on the node, or user-data for the cloud-config itself
    line: int
    host: str
    what: str  # URL, image, NTP server, endpoint
    via: str = ""  # the proxy host this reach goes through (spec.proxy), or "" when direct

    def format(self) -> str:
        through = f", through the proxy {self.via}" if self.via else ""
        return f"{self.node}: {self.file}:{self.line}: {self.host} ({self.what}{through})"


@dataclass(frozen=True)
class LintReport:
    findings: tuple[Reach, ...]  # reaches outside the allowed set
    reaches: int
    hosts: tuple[str, ...]  # every host reached directly (all of them without a proxy)
    nodes: int
    files: int
    proxied: tuple[str, ...] = ()  # hosts reached only through the proxy (spec.proxy)
    proxies: tuple[str, ...] = ()  # the proxy hosts: the node's egress for `proxied`

    @property
    def clean(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        where = f"{_count(self.nodes, 'node')}, {_count(self.files, 'file')}"
        if self.clean:
            return (
                f"zero-egress lint: clean ({where}; {_count(self.reaches, 'reach')} to "
                f"{_count(len(self.hosts), 'host')}, all allowed: {', '.join(self.hosts)})"
                + self._through()
            )
        outside = sorted({f.host for f in self.findings})
        return (
            f"zero-egress lint: {_count(len(self.findings), 'reach')} to hosts outside the "
            f"allowed set ({', '.join(outside)}) in {where}; point them at a host the spec "
            "names (mirrors, cni.calico.manifest, ntp) or list it in offline.allowedHosts"
            + self._through()
        )

    def _through(self) -> str:
        """With spec.proxy the nodes reach these hosts only through it (their one egress)."""
        if not self.proxied:
            return ""
        return (
            f"; the nodes' egress is the proxy {', '.join(self.proxies)}, which they ask for "
            f"{', '.join(self.proxied)} (hosts in noProxy and the cluster's own go direct)"
        )


def _count(number: int, word: str) -> str:
    plural = "es" if word.endswith("h") else "s"
    return f"{number} {word}{'' if number == 1 else plural}"


class LintError(K8sgenError):
    def __init__(self, report: LintReport) -> None:
        self.report = report
        lines = [f"  {f.format()}" for f in report.findings]
        super().__init__(
            "zero-egress lint failed (offline.enabled), render wrote no output:\n"
            + "\n".join(lines)
            + f"\n{report.summary()}"
        )


class Scan:
    """The lint of a render, fed one artifact at a time: keeps what the report needs (findings,
    hosts, counts), never the artifacts, so a preflight over a fleet stays small."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        bundle = cluster.offline.bundle
        self.bundled = {i.reference for i in cluster_images(cluster)} if bundle else set()
        self.findings: list[Reach] = []
        self.hosts: set[str] = set()
        self.proxied: set[str] = set()  # hosts the nodes ask spec.proxy for
        self.reaches = self.nodes = self.files = 0

    def add(self, artifact: Artifact) -> None:
        """Scans ARTIFACT if it is a node's user-data (other artifacts reach nothing)."""
        if artifact.node is None or not artifact.path.endswith("/" + USER_DATA):
            return
        self.nodes += 1
        text = _user_data_text(artifact)
        config = _cloud_config(text)
        entries = [(e["path"], _content(e)) for e in config.get("write_files", [])]
        self.files += len(entries)
        scanner = _NodeScanner(artifact.node, entries, self.bundled)
        reaches = scanner.user_data(text)
        for path, content in entries:
            reaches += scanner.file(path, content)
        reaches = [_routed(self.cluster, r) for r in reaches]
        self.reaches += len(reaches)
        self.hosts.update(r.host for r in reaches if not r.via)  # reached directly
        self.proxied.update(r.host for r in reaches if r.via)
        self.findings += [r for r in reaches if _finding(self.cluster, r)]

    def report(self) -> LintReport:
        findings = tuple(sorted(self.findings))
        proxy = self.cluster.proxy
        return LintReport(
            findings,
            self.reaches,
            tuple(sorted(self.hosts)),
            self.nodes,
            self.files,
            tuple(sorted(self.proxied)),
            proxy.hosts if proxy else (),
        )


def _finding(cluster: Cluster, reach: Reach) -> bool:
    """A reach outside the allowed set. Through spec.proxy the node reaches only the proxy
    (its one egress host, allowed: the spec names it), so a proxied host is a finding only
    offline, where the guarantee covers what the proxy would fetch for the node too."""
    if cluster.offline.allows(reach.host):
        return False
    return not reach.via or cluster.offline.enabled


def _routed(cluster: Cluster, reach: Reach) -> Reach:
    """Downloads and pulls (URLs, images) go through spec.proxy unless NO_PROXY covers the
    host; NTP (UDP) and the API endpoint (in NO_PROXY) always go direct."""
    if cluster.proxy is None or reach.what not in ("URL", "image"):
        return reach
    via = cluster.proxy.via(reach.host)
    return dataclasses.replace(reach, via=via) if via else reach


def lint(cluster: Cluster, artifacts: Iterable[Artifact]) -> LintReport:
    scan = Scan(cluster)
    for artifact in artifacts:
        scan.add(artifact)
    return scan.report()


def enforce(report: LintReport) -> LintReport:
    """The render-time guarantee: raises LintError when offline and anything leaks."""
    if not report.clean:
        raise LintError(report)
    return report


def _user_data_text(artifact: Artifact) -> str:
    """render --gzip writes user-data compressed (cloud-init detects it)."""
    content = artifact.content
    return (gzip.decompress(content) if content[:2] == b"\x1f\x8b" else content).decode()


def _cloud_config(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=_Loader)
    return data if isinstance(data, dict) else {}


def _content(entry: dict[str, Any]) -> str:
    content = str(entry.get("content", ""))
    if entry.get("encoding") in ("gz+b64", "gzip+base64"):
        return gzip.decompress(base64.b64decode(content)).decode()
    if entry.get("encoding") in ("b64", "base64"):
        return base64.b64decode(content).decode()
    return content


class _NodeScanner:
    def __init__(self, node: str, entries: list[tuple[str, str]], bundled: set[str]) -> None:
        self.node = node
        self.bundled = bundled
        prefix = CERTS_DIR + "/"
        # Registries whose pulls containerd sends to the hosts of their hosts.toml.
        self.mirrored = {
            path[len(prefix) :].split("/")[0]
            for path, _ in entries
            if path.startswith(prefix) and path.endswith("/hosts.toml")
        }

    def reach(self, file: str, line: int, host: str, what: str) -> Reach:
        return Reach(self.node, file, line, host, what)

    def user_data(self, text: str) -> list[Reach]:
        """The cloud-config itself: NTP servers, and URLs anywhere outside write_files."""
        root = yaml.compose(text, Loader=_Loader)
        result = []
        for key, value in _mapping(root):
            if key.value == "write_files":  # contents are scanned as files; a `source` URL here
                result += self._urls(USER_DATA, _file_fields(value))
                continue
            if key.value == "ntp":
                for ntp_key, servers in _mapping(value):
                    if ntp_key.value in ("servers", "pools"):
                        for server in _sequence(servers):
                            line = server.start_mark.line + 1
                            result.append(self.reach(USER_DATA, line, server.value, "NTP server"))
                continue
            result += self._urls(USER_DATA, _scalars(value))
        return result

    def _urls(self, file: str, scalars: Iterable[yaml.ScalarNode]) -> list[Reach]:
        return [
            self.reach(file, scalar.start_mark.line + 1, url_host(match.group(0)), "URL")
            for scalar in scalars
            for match in URL.finditer(str(scalar.value))
        ]

    def file(self, path: str, content: str) -> list[Reach]:
        if path.endswith((".yaml", ".yml")):
            return self._yaml(path, content)
        shell = content.startswith("#!/bin/") or path.endswith(".toml")
        result = []
        for number, line in enumerate(content.splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue  # comments reach nothing
            for match in URL.finditer(line):
                result.append(self.reach(path, number, url_host(match.group(0)), "URL"))
            if shell:  # image references are words in scripts and strings in TOML
                for match in IMAGE.finditer(line):
                    result += self._image(path, number, match.group(0))
        return result

    def _yaml(self, path: str, content: str) -> list[Reach]:
        """Structured: only fields that make a node reach out (image, endpoints)."""
        result = []
        for document in yaml.compose_all(content, Loader=_Loader):
            for key, value in _pairs(document):
                line = value.start_mark.line + 1
                if key in IMAGE_KEYS and isinstance(value.value, str):
                    result += self._image(path, line, value.value)
                elif key in ENDPOINT_KEYS and isinstance(value.value, str):
                    result.append(self.reach(path, line, host_of(value.value), "endpoint"))
        return result

    def _image(self, path: str, line: int, reference: str) -> list[Reach]:
        if self._bundled(reference):
            return []  # imported from the bundle, never pulled
        image = parse_image(reference if "/" in reference else f"{reference}/x")
        if image.registry in self.mirrored:
            return []  # pulled through hosts.toml, whose hosts are reaches of their own
        return [self.reach(path, line, image.host, "image")]

    def _bundled(self, reference: str) -> bool:
        """An image of the bundle, or the repository (imageRepository) of one."""
        return reference in self.bundled or any(b.startswith(reference + "/") for b in self.bundled)


def _mapping(node: yaml.Node | None) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        return [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
    return []


def _sequence(node: yaml.Node) -> list[yaml.ScalarNode]:
    if isinstance(node, yaml.SequenceNode):
        return [n for n in node.value if isinstance(n, yaml.ScalarNode)]
    return []


def _scalars(node: yaml.Node) -> Iterator[yaml.ScalarNode]:
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _scalars(item)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _scalars(key)
            yield from _scalars(value)


def _file_fields(node: yaml.Node) -> Iterator[yaml.ScalarNode]:
    """Scalars of write_files entries other than their content (e.g. a `source` URI)."""
    if isinstance(node, yaml.SequenceNode):
        for entry in node.value:
            for key, value in _mapping(entry):
                if key.value != "content":
                    yield from _scalars(value)


def _pairs(node: yaml.Node | None) -> Iterator[tuple[str, yaml.ScalarNode]]:
    """Every (key, scalar value) pair of a document, at any depth."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.ScalarNode):
                yield str(key.value), value
            else:
                yield from _pairs(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _pairs(item)
