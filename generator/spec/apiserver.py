"""Checks of spec.controlPlane.audit and encryptionAtRest against spec.kubeadm.apiServer: a
flag or volume one of them sets may not be set a second time by hand."""

from __future__ import annotations

from typing import Any

from generator.security import OWNED
from generator.spec.findings import Findings

API_SERVER = ("spec", "kubeadm", "apiServer")


def check_api_server_overlap(data: dict[str, Any], findings: Findings) -> None:
    control_plane = data["spec"].get("controlPlane", {})
    api_server = data["spec"].get("kubeadm", {}).get("apiServer", {})
    args = api_server.get("extraArgs", {})
    volumes = api_server.get("extraVolumes", [])
    for setting, (flags, names) in OWNED.items():
        if setting not in control_plane:
            continue
        for flag in sorted(set(args) & set(flags)):
            findings.error(
                (*API_SERVER, "extraArgs", flag),
                f"spec.controlPlane.{setting} sets this flag: remove it here, or remove {setting}",
            )
        for index, volume in enumerate(volumes):
            if isinstance(volume, dict) and volume.get("name") in names:
                findings.error(
                    (*API_SERVER, "extraVolumes", index, "name"),
                    f"{volume['name']!r} is the volume spec.controlPlane.{setting} mounts: "
                    "use another name",
                )
