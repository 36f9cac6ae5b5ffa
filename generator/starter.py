"""`k8sgen init`: a commented starter spec, checked against the validator before it is shown."""

from __future__ import annotations

import json
from dataclasses import dataclass

from generator import versions
from generator.errors import K8sgenError, SpecError
from generator.render.templating import render_template
from generator.spec.load import load_text
from generator.spec.validate import validate


@dataclass(frozen=True)
class StarterOptions:
    name: str = "demo"
    kubernetes_version: str = "1.33.6"
    os_family: str = "ubuntu"
    os_version: str = "24.04"
    arch: str = "amd64"
    control_planes: tuple[str, ...] = ("192.168.220.110/24",)
    workers: tuple[str, ...] = ("192.168.220.111/24", "192.168.220.112/24")
    gateway: str | None = None
    endpoint: str | None = None
    interface: str | None = None  # spec.network.interface; default: the OS's, else ens3


# The starter names a NIC even where the OS has no default, so that it validates as written;
# its comment asks the operator to check it. The first virtio NIC under KVM: ens3 (i440fx,
# OpenStack) on amd64, enp1s0 on arm64 (the virt machine's PCIe root port).
STARTER_INTERFACES = {"amd64": "ens3", "arm64": "enp1s0"}


def starter_interface(options: StarterOptions) -> str:
    family = versions.OS_FAMILIES.get(options.os_family)
    default = family and family.default_interface
    return options.interface or default or STARTER_INTERFACES.get(options.arch, "ens3")


def starter_spec(options: StarterOptions) -> str:
    nodes = [("control-plane", f"master{i}", a) for i, a in enumerate(options.control_planes, 1)]
    nodes += [("worker", f"node{i}", a) for i, a in enumerate(options.workers, 1)]
    # JSON strings are YAML scalars: every value is quoted whatever the user typed.
    text = render_template(
        "spec.yaml.j2",
        options=options,
        nodes=nodes,
        interface=starter_interface(options),
        value=json.dumps,
    )
    try:
        validate(load_text(text, "<starter spec>"))
    except SpecError as exc:
        raise K8sgenError(f"these options do not make a valid spec:\n{exc}") from exc
    return text
