"""spec.proxy on a node, as data: an environment file, containerd's drop-in, apt's setting.

The bootstrap unit reads the environment file (curl, apt, dnf and kubeadm inherit it);
containerd, which pulls the images, reads the same file through its own drop-in. The kubelet
gets none: it downloads nothing (containerd pulls its images) and talks only to the API
server and its own node, which a proxy could only get in the way of.
"""

from __future__ import annotations

import json

from generator.layout import APT_PROXY_CONF, CONTAINERD_PROXY_DROPIN, PROXY_ENV
from generator.model import Cluster
from generator.proxy import Proxy


def proxy_files(cluster: Cluster) -> dict[str, str]:
    """Path -> content of every file that sets the proxy on a node of CLUSTER."""
    proxy = cluster.proxy
    if proxy is None:
        return {}
    files = {
        PROXY_ENV: environment_file(proxy.environment),
        CONTAINERD_PROXY_DROPIN: systemd_unit({"Service": {"EnvironmentFile": [PROXY_ENV]}}),
    }
    if cluster.os.package_format == "deb":
        files[APT_PROXY_CONF] = apt_conf(apt_settings(proxy))
    return files


def environment_file(variables: dict[str, str]) -> str:
    """NAME=value lines, as systemd's EnvironmentFile= reads them (the schema allows no
    quotes, spaces or shell characters in the values)."""
    return "".join(f"{name}={value}\n" for name, value in variables.items())


def systemd_unit(sections: dict[str, dict[str, list[str]]]) -> str:
    """A unit file (or drop-in); the values are written as they are: paths, which systemd reads
    unquoted (EnvironmentFile= takes no quotes)."""
    lines = []
    for section, keys in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key}={value}" for key, values in keys.items() for value in values]
    return "\n".join(lines) + "\n"


def apt_settings(proxy: Proxy) -> dict[str, str]:
    """apt's Acquire options: the proxy per scheme, DIRECT for the exact hosts of the
    operator's noProxy, where a package mirror of the site can be (apt matches neither
    domains nor networks: those go through the proxy; the cluster's own hosts serve no
    packages)."""
    settings = {}
    for scheme, url in (("http", proxy.http), ("https", proxy.https)):
        if url is None:
            continue
        settings[f"Acquire::{scheme}::Proxy"] = url
        for host in proxy.named:
            if "/" not in host and not host.startswith("."):
                settings[f"Acquire::{scheme}::Proxy::{host}"] = "DIRECT"
    return settings


def apt_conf(settings: dict[str, str]) -> str:
    return "".join(f"{name} {json.dumps(value)};\n" for name, value in settings.items())
