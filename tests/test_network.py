"""Static addresses reach the intended NIC under every renderer cloud-init uses on each OS.

The oracle is cloud-init's own `devel net-convert`: it turns a node's network-config into what
the eni, netplan, networkd, sysconfig and NetworkManager renderers write on a real boot, and
each test reads those files back (eni stanzas and udev rules, netplan YAML, networkd and
keyfile ini, ifcfg key=value) to find which device gets which address and default route.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import shlex
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from generator import versions
from generator.cli import cli
from generator.errors import SpecError
from generator.model import Node, build
from generator.render import network_config
from generator.render.yamlio import dump
from generator.resources import load_schema
from generator.spec.load import load_text
from generator.spec.validate import validate

from .support.repo import EXAMPLES
from .support.specs import example
from .support.tools import need

# -D for net-convert: the distro whose cloud-init defaults apply (as in cloud.cfg).
NET_CONVERT_DISTRO = {"ubuntu": "ubuntu", "debian": "debian", "rpm": "rhel"}


@dataclass(frozen=True)
class Configured:
    """One device configuration a renderer wrote, in renderer-neutral terms."""

    name: str | None  # the device it applies to (after renaming); None: matched by MAC alone
    mac: str | None
    address: str | None  # IPv4 ADDRESS/PREFIX
    gateway: str | None  # of the default route; "route(8) X" where only net-tools adds it
    dns: tuple[str, ...]  # both families, in the order given
    address6: str | None = None  # IPv6 ADDRESS/PREFIX
    gateway6: str | None = None


def split_families(addresses: list[str]) -> tuple[str | None, str | None]:
    """(the IPv4 one, the IPv6 one) of a device's ADDRESS/PREFIX list; at most one each."""
    ipv4 = [a for a in addresses if ":" not in a]
    ipv6 = [a for a in addresses if ":" in a]
    assert len(ipv4) <= 1 and len(ipv6) <= 1, addresses
    return (ipv4 or [None])[0], (ipv6 or [None])[0]


def ini_sections(text: str) -> list[tuple[str, dict[str, str]]]:
    """networkd units and NetworkManager keyfiles: sections may repeat ([Route])."""
    sections: list[tuple[str, dict[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1], {}))
        else:
            key, _, value = line.partition("=")
            sections[-1][1][key.strip()] = value.strip()
    return sections


def one_file(out: Path, pattern: str) -> Path:
    found = sorted(out.glob(pattern))
    assert len(found) == 1, f"{pattern}: {found}"
    return found[0]


def udev_names(out: Path) -> dict[str, str]:
    """MAC -> NAME of the persistent-net rules cloud-init writes for set-name."""
    rules = out / "etc/udev/rules.d/70-persistent-net.rules"
    text = rules.read_text() if rules.exists() else ""
    pairs = re.findall(r'ATTR\{address\}=="([0-9a-f:]+)".*NAME="([^"]+)"', text)
    return {mac: name for mac, name in pairs}


def from_eni(out: Path) -> list[Configured]:
    text = (out / "etc/network/interfaces.d/50-cloud-init").read_text()
    by_name = {name: mac for mac, name in udev_names(out).items()}
    devices: dict[str, Configured] = {}
    # A dual-stack NIC has an `inet` and an `inet6` stanza (the second as a "control-alias").
    for stanza in re.split(r"\n(?=auto |iface |# control-alias )", text):
        head = re.match(r"iface (\S+) (inet6?) static\n", stanza)
        if not head:
            continue
        lines = [line.strip() for line in stanza.splitlines()[1:] if line.strip()]
        values = dict(line.split(None, 1) for line in lines if not line.startswith("#"))
        gateway = values.get("gateway")
        net_tools = re.search(r"^\s*post-up route add default gw (\S+)", stanza, re.M)
        if net_tools:
            gateway = f"route(8) {net_tools[1]}"
        name, inet6 = head[1], head[2] == "inet6"
        device = devices.get(name) or Configured(name, by_name.get(name), None, None, ())
        dns = device.dns or tuple(values.get("dns-nameservers", "").split())
        if inet6:
            device = replace(device, address6=values["address"], gateway6=gateway, dns=dns)
        else:
            device = replace(device, address=values["address"], gateway=gateway, dns=dns)
        devices[name] = device
    return list(devices.values())


def from_netplan(out: Path) -> list[Configured]:
    data = yaml.safe_load((out / "etc/netplan/50-cloud-init.yaml").read_text())
    result = []
    for key, ethernet in data["network"]["ethernets"].items():
        match = ethernet.get("match", {})
        assert set(match) <= {"macaddress"}, f"only a MAC identifies a NIC: {match}"
        name = ethernet.get("set-name", key) if match else key
        gateway, gateway6 = ethernet.get("gateway4"), ethernet.get("gateway6")
        for route in ethernet.get("routes", []):
            if route["to"] in ("0.0.0.0/0", "default"):
                gateway = route["via"]
            elif route["to"] == "::/0":
                gateway6 = route["via"]
        address, address6 = split_families(ethernet["addresses"])
        dns = tuple(ethernet.get("nameservers", {}).get("addresses", ()))
        mac = match.get("macaddress")
        result.append(Configured(name, mac, address, gateway, dns, address6, gateway6))
    return result


def from_networkd(out: Path) -> list[Configured]:
    result = []
    for path in sorted(out.glob("etc/systemd/network/*.network")):
        sections = ini_sections(path.read_text())
        merged: dict[str, str] = {}
        gateways: dict[bool, str | None] = {False: None, True: None}  # by "is IPv6"
        addresses = []
        for section, values in sections:
            gateway = values.get("Gateway", "")
            default = "::/0" if ":" in gateway else "0.0.0.0/0"
            if section == "Route" and values.get("Destination", default) == default:
                gateways[":" in gateway] = gateway
            elif section == "Address":
                addresses.append(values["Address"])
            elif section != "Route":
                merged.update(values)
        dns = tuple(merged.get("DNS", "").split())
        mac = merged.get("MACAddress")
        address, address6 = split_families(addresses)
        result.append(
            Configured(
                merged.get("Name"), mac, address, gateways[False], dns, address6, gateways[True]
            )
        )
    return result


def from_sysconfig(out: Path) -> list[Configured]:
    result = []
    for path in sorted(out.glob("etc/sysconfig/network-scripts/ifcfg-*")):
        values = dict(line.split("=", 1) for line in shlex.split(path.read_text(), comments=True))
        address = None
        if "IPADDR" in values:
            prefix = ipaddress.IPv4Network(f"0.0.0.0/{values['NETMASK']}").prefixlen
            address = f"{values['IPADDR']}/{prefix}"
        dns = tuple(values[k] for k in sorted(values) if re.fullmatch(r"DNS\d+", k))
        gateway = values.get("GATEWAY") if values.get("DEFROUTE", "yes") == "yes" else None
        mac = values.get("HWADDR", "").lower() or None
        six = (values.get("IPV6ADDR"), values.get("IPV6_DEFAULTGW"))
        result.append(Configured(values["DEVICE"], mac, address, gateway, dns, *six))
    return result


def from_network_manager(out: Path) -> list[Configured]:
    result = []
    for path in sorted(out.glob("etc/NetworkManager/system-connections/*.nmconnection")):
        sections = dict(ini_sections(path.read_text()))
        ipv4, ipv6 = sections.get("ipv4", {}), sections.get("ipv6", {})
        gateway = ipv4.get("gateway")
        for key, value in ipv4.items():
            if re.fullmatch(r"route\d+", key) and value.startswith("0.0.0.0/0,"):
                gateway = value.split(",")[1]
        both = ipv4.get("dns", "") + ipv6.get("dns", "")
        dns = tuple(d for d in both.split(";") if d)
        mac = sections.get("ethernet", {}).get("mac-address", "").lower() or None
        name = sections["connection"].get("interface-name")
        six = (ipv6.get("address1"), ipv6.get("gateway"))
        result.append(Configured(name, mac, ipv4.get("address1"), gateway, dns, *six))
    return result


READERS: dict[str, Callable[[Path], list[Configured]]] = {
    "eni": from_eni,
    "netplan": from_netplan,
    "networkd": from_networkd,
    "sysconfig": from_sysconfig,
    "network-manager": from_network_manager,
}


def net_convert(network_config: Path, distro: str, renderer: str, out: Path) -> list[Configured]:
    command = [need("cloud-init"), "devel", "net-convert", "-p", str(network_config)]
    command += ["-k", "yaml", "-D", distro, "-O", renderer, "-d", str(out)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return READERS[renderer](out)


def expected(node: Node, renderer: str) -> Configured:
    address, address6 = (str(a) if a else None for a in (node.address, node.address6))
    wanted = Configured(
        node.interface, node.mac, address, node.gateway, node.dns, address6, node.gateway6
    )
    if renderer == "network-manager" and node.mac:
        return replace(wanted, name=None)  # the keyfile matches the NIC by its MAC alone
    return wanted


def as_family(data: dict[str, Any], family: versions.OSFamily) -> dict[str, Any]:
    """The spec on the first supported release of another OS family."""
    changed = copy.deepcopy(data)
    release = next(o for o in versions.OPERATING_SYSTEMS.values() if o.family == family.name)
    changed["spec"]["os"] = {"family": family.name, "version": release.version}
    changed["spec"].get("offline", {}).pop("bundle", None)  # bundles carry deb packages only
    return changed


def distro_of(family: versions.OSFamily) -> str:
    return NET_CONVERT_DISTRO.get(family.name) or NET_CONVERT_DISTRO[family.package_format]


@dataclass(frozen=True)
class Case:
    """One static node of one example, rendered for one OS family."""

    example: str
    family: versions.OSFamily
    node: Node
    network_config: bytes


def static_nodes_to_check(nodes: tuple[Node, ...]) -> list[Node]:
    """Every node's network-config has one shape; the first static node and each with a MAC
    cover them all (the others differ only in values)."""
    static = [n for n in nodes if n.address or n.address6]
    return [n for i, n in enumerate(static) if i == 0 or n.mac]


def cases_and_refusals() -> tuple[list[Case], list[tuple[str, str, str]]]:
    cases, refused = [], []
    for spec in EXAMPLES:
        original = example(spec.stem)
        for family in versions.OS_FAMILIES.values():
            data = as_family(original, family)
            text = yaml.safe_dump(data, sort_keys=False)
            try:
                validate(load_text(text, spec.name, spec.parent))
            except SpecError as error:
                refused.append((spec.stem, family.name, str(error)))
                continue
            cluster = build(data, spec.parent)
            for node in static_nodes_to_check(cluster.nodes):
                network = network_config(node, family)
                assert network is not None
                cases.append(Case(spec.stem, family, node, dump(network).encode()))
    return cases, refused


CASES, REFUSED = cases_and_refusals()


def test_every_example_is_checked_under_every_family() -> None:
    checked = {(c.example, c.family.name) for c in CASES}
    refused = {(example, family) for example, family, _ in REFUSED}
    everything = {(s.stem, f) for s in EXAMPLES for f in versions.OS_FAMILIES}
    assert checked | refused == everything
    assert not checked & refused
    # Only specs that rely on the eth0 of Rocky/Alma images are refused elsewhere.
    for name, family, message in REFUSED:
        assert family in ("ubuntu", "debian", "openeuler"), (name, family)
        assert "a static address needs the name of its NIC" in message, message
    assert {c.family.name for c in CASES} == set(versions.OS_FAMILIES)


def test_static_address_and_default_route_land_on_the_intended_nic(tmp_path: Path) -> None:
    """Under each renderer of the node's OS family, exactly one device is configured: the
    NIC's real name (or its MAC, renamed to that name), with the address, the default route
    in the renderer's own form and the name servers."""
    # Rocky, AlmaLinux and openEuler often share one network-config: convert it once.
    conversions: dict[tuple[bytes, str, str], int] = {}
    checks = []
    for case in CASES:
        for renderer in case.family.network_renderers:
            key = (case.network_config, distro_of(case.family), renderer)
            checks.append((case, renderer, conversions.setdefault(key, len(conversions))))
    assert {renderer for _, renderer, _ in checks} == set(READERS)

    def convert(numbered: tuple[int, tuple[bytes, str, str]]) -> list[Configured]:
        number, (content, distro, renderer) = numbered
        source = tmp_path / f"{number}.yaml"
        source.write_bytes(content)
        return net_convert(source, distro, renderer, tmp_path / f"{number}-{renderer}")

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(convert, ((n, key) for key, n in conversions.items())))
    for case, renderer, number in checks:
        where = f"{case.example} {case.node.name} on {case.family.name}, {renderer}"
        assert results[number] == [expected(case.node, renderer)], where


def test_the_default_route_needs_no_net_tools_where_ifupdown_may_render() -> None:
    """cloud-init's eni renderer writes a route as `post-up route add`, which needs net-tools;
    gateway4 becomes ifupdown's own `gateway` line. netplan deprecates gateway4."""
    for case in CASES:
        ethernet = next(iter(yaml.safe_load(case.network_config)["ethernets"].values()))
        if case.node.gateway is None:
            continue
        if "eni" in case.family.network_renderers:
            assert ethernet["gateway4"] == case.node.gateway and "routes" not in ethernet
        else:
            assert ethernet["routes"] == [{"to": "0.0.0.0/0", "via": case.node.gateway}]
            assert "gateway4" not in ethernet


def test_examples_cover_names_from_the_spec_the_os_default_and_macs() -> None:
    sources = {
        ("mac" if c.node.mac else "name", c.family.default_interface == c.node.interface)
        for c in CASES
    }
    assert {("mac", False), ("name", False), ("name", True)} <= sources


def test_a_rocky_node_gets_eth0_and_the_vip_follows_the_control_planes() -> None:
    spec = next(s for s in EXAMPLES if s.stem == "ha-vip")
    data = as_family(example("ha-vip"), versions.OS_FAMILIES["rocky"])
    del data["spec"]["network"]
    validate(load_text(yaml.safe_dump(data), "ha.yaml", spec.parent))
    cluster = build(data, spec.parent)
    assert {n.interface for n in cluster.nodes} == {"eth0"}
    assert cluster.vip is not None and cluster.vip.interface == "eth0"


def test_starter_names_the_os_default_or_asks_to_check(tmp_path: Path) -> None:
    runner = CliRunner()
    for arguments, interface in (
        ([], "ens3"),
        (["--os", "rocky:9"], "eth0"),
        (["--os", "openeuler:24.03", "--arch", "arm64"], "enp1s0"),
        (["--os", "debian:13", "--interface", "ens192"], "ens192"),
    ):
        result = runner.invoke(cli, ["init", *arguments])
        assert result.exit_code == 0, result.stderr
        assert yaml.safe_load(result.stdout)["spec"]["network"] == {"interface": interface}


@pytest.mark.parametrize("renderer", sorted(READERS))
def test_readers_see_the_old_glob_as_no_nic_at_all(renderer: str, tmp_path: Path) -> None:
    """The readers are the test: the network-config k8sgen wrote before (ethernets key
    `primary`, `match: {name: e*}`) must not pass for a NIC named ens3."""
    source = tmp_path / "old.yaml"
    old = {"match": {"name": "e*"}, "addresses": ["10.0.2.15/24"]}
    source.write_text(yaml.safe_dump({"version": 2, "ethernets": {"primary": old}}))
    distro = "rhel" if renderer in ("sysconfig", "network-manager") else "debian"
    if renderer == "netplan":
        with pytest.raises(AssertionError, match="only a MAC identifies a NIC"):
            net_convert(source, distro, renderer, tmp_path / "out")
        return
    configured = net_convert(source, distro, renderer, tmp_path / "out")
    assert [c.name for c in configured] == ["primary"]


def test_schema_documents_the_default_interface_of_each_family() -> None:
    """No single default in the schema: it is per OS family, as the description says."""
    interface = load_schema("cluster.schema.json")["$defs"]["network"]["properties"]["interface"]
    assert "default" not in interface
    named = [f for f in versions.OS_FAMILIES.values() if f.default_interface]
    unnamed = [f.name for f in versions.OS_FAMILIES.values() if not f.default_interface]
    assert {f.default_interface for f in named} == {"eth0"}
    names = " and ".join(f.name for f in named)
    assert f"Default: eth0 on {names}" in interface["description"]
    assert f"none on {', '.join(unnamed[:-1])} and {unnamed[-1]}" in interface["description"]
