"""Air-gapped installs: which hosts a node may reach, as named by the spec itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from generator.refs import host_of, parse_image, url_host

# Loopback is never egress.
ALWAYS_ALLOWED = ("127.0.0.1", "::1", "localhost")
BUNDLE_LABEL = "K8SBUNDLE"  # ISO 9660 volume label of the bundle ISO


@dataclass(frozen=True)
class Offline:
    enabled: bool = False
    bundle: bool = False  # nodes install from the bundle ISO; implies enabled
    # Hosts the spec names explicitly plus allowedHosts: preset values and defaults are not
    # "named", so an offline spec that forgot a mirror fails the lint instead of leaking.
    allowed_hosts: tuple[str, ...] = ALWAYS_ALLOWED

    def allows(self, host: str) -> bool:
        return host.lower() in self.allowed_hosts


def build_offline(spec: dict[str, Any]) -> Offline:
    data = spec.get("offline", {})
    bundle = bool(data.get("bundle", False))
    hosts = {*ALWAYS_ALLOWED, *(h.lower() for h in data.get("allowedHosts", ()))}
    hosts.update(named_hosts(spec))
    return Offline(
        enabled=bundle or bool(data.get("enabled", False)),
        bundle=bundle,
        allowed_hosts=tuple(sorted(hosts)),
    )


def named_hosts(spec: dict[str, Any]) -> Iterator[str]:
    """Every host the spec names explicitly: mirrors, manifest URL, NTP, nodes, endpoint, VIP,
    the proxy and the private registries."""
    mirrors = spec.get("mirrors", {})
    for key in ("images", "calicoImages"):
        if key in mirrors:
            yield parse_image(mirrors[key] + "/x").host
    for key in ("packages", "containerd"):
        if key in mirrors:
            yield url_host(mirrors[key])
    for urls in mirrors.get("registries", {}).values():
        yield from (url_host(u) for u in urls)
    calico = spec.get("cni", {}).get("calico", {})
    manifest = calico.get("manifest", "")
    if manifest.startswith(("http://", "https://")):
        yield url_host(manifest)
    yield from (url_host(u) for u in calico.get("manifestMirrors", ()))
    yield from (h.lower() for h in spec.get("ntp", ()))
    for node in spec.get("nodes", ()):
        if "address" in node:
            yield node["address"].split("/")[0]
        yield from node.get("dns", ())
    control_plane = spec.get("controlPlane", {})
    if "endpoint" in control_plane:
        yield host_of(control_plane["endpoint"])
    proxy = spec.get("proxy", {})
    yield from (url_host(proxy[k]) for k in ("http", "https") if k in proxy)
    yield from (host_of(h) for h in spec.get("registries", {}))
    vip = control_plane.get("vip", {})
    if "address" in vip:
        yield vip["address"]
    if "image" in vip:
        yield parse_image(vip["image"]).host
