"""Read rendered user-data back as data: files by path, scripts, kubeadm documents."""

from __future__ import annotations

import base64
import gzip
from typing import Any

import yaml

from .conftest import Rendered


def cloud_config(rendered: Rendered, node: str) -> dict[str, Any]:
    text = rendered.text(f"nodes/{node}/user-data")
    assert text.startswith("#cloud-config\n")
    data: dict[str, Any] = yaml.load(text, Loader=yaml.CSafeLoader)
    return data


def files(rendered: Rendered, node: str) -> dict[str, dict[str, Any]]:
    """write_files entries by path, with content decoded as cloud-init would write it."""
    result = {}
    for entry in cloud_config(rendered, node)["write_files"]:
        entry = dict(entry)
        if entry.get("encoding") == "gz+b64":
            entry["content"] = gzip.decompress(base64.b64decode(entry["content"])).decode()
        result[entry["path"]] = entry
    return result


def scripts(rendered: Rendered, node: str) -> dict[str, str]:
    return {
        path: entry["content"]
        for path, entry in files(rendered, node).items()
        if entry["content"].startswith("#!/bin/bash")
    }


def kubeadm_documents(rendered: Rendered, node: str) -> list[dict[str, Any]]:
    content = files(rendered, node)["/etc/k8sgen/kubeadm.yaml"]["content"]
    return list(yaml.safe_load_all(content))


def node_names(rendered: Rendered) -> list[str]:
    return [n.name for n in rendered.cluster.nodes]
