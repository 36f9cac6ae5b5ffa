"""containerd's certs.d/<registry>/hosts.toml: pull mirrors (spec.mirrors.registries) and the
private registries' CA, skipVerify and credentials (spec.registries), for containerd 1.x and
2.x alike (both read this format through config_path). kubeadm's and crictl's pulls go through
the CRI, so they use these files too.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from generator.layout import CERTS_DIR
from generator.model import REGISTRY_SERVERS, Cluster
from generator.refs import carries_api_root
from generator.registries import Credential, RegistryHost
from generator.render.templating import render_template

PRIVATE = "0600"  # a hosts.toml with an Authorization header holds a password


@dataclass(frozen=True)
class HostFile:
    path: str
    content: str
    permissions: str = "0644"


@dataclass(frozen=True)
class Access:
    """The hosts.toml settings of one registry host: how containerd trusts and logs in."""

    ca: str | None = None
    skip_verify: bool = False
    authorization: str | None = None


def registry_files(cluster: Cluster, logins: dict[str, Credential]) -> list[HostFile]:
    """hosts.toml of every mirrored or private registry, and each private registry's CA.
    LOGINS: the credentials of the registries with auth (none for a baked image)."""
    accesses = {r.host: _access(r, logins.get(r.host)) for r in cluster.registries}
    mirrored = dict(cluster.mirrors.registries)
    names = sorted({*mirrored, *accesses})
    files = [_hosts_file(cluster, name, mirrored.get(name, ()), accesses) for name in names]
    files += [HostFile(r.ca_path, r.ca) for r in cluster.registries if r.ca is not None]
    return files


def _access(registry: RegistryHost, login: Credential | None) -> Access:
    return Access(
        ca=registry.ca_path if registry.ca is not None else None,
        skip_verify=registry.skip_verify,
        authorization=login.authorization if login else None,
    )


def _hosts_file(
    cluster: Cluster, name: str, mirrors: tuple[str, ...], accesses: dict[str, Access]
) -> HostFile:
    server = REGISTRY_SERVERS.get(name, f"https://{name}")
    if cluster.offline.enabled and mirrors:
        server = mirrors[0]  # air-gapped: never fall back to the upstream registry

    def access(url: str) -> Access | None:
        return accesses.get(urlsplit(url).netloc.lower())

    # A private registry's own settings go in a [host] table too, after its mirrors: the
    # containerd 1.6 of Debian 12 refuses a hosts.toml without one ("invalid `host` tree").
    hosts = (*mirrors, server) if access(server) and server not in mirrors else mirrors
    content = render_template(
        "hosts.toml.j2",
        registry=name,
        server=server,
        mirrors=hosts,
        api_root=carries_api_root,
        access=access,
    )
    secret = any((a := access(u)) and a.authorization for u in hosts)
    return HostFile(f"{CERTS_DIR}/{name}/hosts.toml", content, PRIVATE if secret else "0644")
