"""Semantic checks of how nodes reach the outside: spec.proxy and spec.registries."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from generator.inputs import InputError
from generator.proxy import PROXY_PATH, url_problem
from generator.registries import REGISTRIES_PATH, read_ca
from generator.spec.load import FieldPath

if TYPE_CHECKING:
    from generator.spec.findings import Findings


def check_proxy(data: dict[str, Any], findings: Findings) -> None:
    proxy = data["spec"].get("proxy")
    if proxy is None:
        return
    for key in ("http", "https"):
        if key in proxy and (problem := url_problem(proxy[key])):
            findings.error((*PROXY_PATH, key), problem)
    if "http" in proxy and "https" not in proxy:
        findings.warn(
            PROXY_PATH,
            "https is not set: https:// downloads (most of them) go direct, not through the "
            "proxy; set https too (usually the same http://HOST:PORT)",
        )
    for index, entry in enumerate(proxy.get("noProxy", ())):
        if "/" in entry and not _is_network(entry):
            findings.error(
                (*PROXY_PATH, "noProxy", index),
                f"{entry}: not an IPv4 network; write it as ADDRESS/PREFIX, e.g. 192.168.30.0/24",
            )
    dynamic = [n["name"] for n in data["spec"]["nodes"] if "address" not in n]
    if dynamic:
        findings.warn(
            PROXY_PATH,
            f"{', '.join(dynamic)}: no static address, so k8sgen cannot put their network in "
            "NO_PROXY; add it to noProxy, or the nodes' traffic to each other may go to the proxy",
        )


def _is_network(entry: str) -> bool:
    try:
        ipaddress.IPv4Network(entry, strict=False)
    except ValueError:
        return False
    return True


def check_registries(data: dict[str, Any], findings: Findings) -> None:
    baked = data["spec"].get("bootstrap", {}).get("baked", False)
    for host, registry in data["spec"].get("registries", {}).items():
        path: FieldPath = (*REGISTRIES_PATH, host)
        if baked and registry.get("auth"):
            findings.error(
                (*path, "auth"),
                "not with bootstrap.baked: the image would have to carry the login (an image "
                "is copied and shared; a login in it cannot be taken back); use a registry "
                "that allows anonymous pulls for a baked cluster",
            )
        if registry.get("skipVerify") and "ca" in registry:
            findings.error(
                (*path, "skipVerify"),
                "ca and skipVerify exclude each other: with the registry's CA, keep checking "
                "its certificate (remove skipVerify)",
            )
        elif registry.get("skipVerify"):
            findings.warn(
                (*path, "skipVerify"),
                f"containerd will not check {host}'s TLS certificate: anyone on the path can "
                "serve the nodes other images; give the registry's CA instead (ca: FILE)",
            )
        if "ca" in registry:
            try:
                read_ca(findings.spec.base_dir / registry["ca"])
            except InputError as exc:
                findings.error((*path, "ca"), f"{exc} (relative paths start at the spec's folder)")
