"""Read rendered user-data back as data: files by path, scripts, kubeadm documents."""

from __future__ import annotations

import base64
import gzip
import re
from typing import Any

import yaml

from generator.nodeconfig import DEFAULT_FILE_OWNER, DEFAULT_FILE_PERMISSIONS

from .specs import Rendered

# What cloud-init writes for an entry that leaves them out (cc_write_files, Linux distros).
WRITE_FILES_DEFAULTS = {"owner": DEFAULT_FILE_OWNER, "permissions": DEFAULT_FILE_PERMISSIONS}


def cloud_config(rendered: Rendered, node: str) -> dict[str, Any]:
    text = rendered.text(f"nodes/{node}/user-data")
    assert text.startswith("#cloud-config\n")
    data: dict[str, Any] = yaml.load(text, Loader=yaml.CSafeLoader)
    return data


def decoded(entry: dict[str, Any]) -> str:
    """A write_files entry's content as cloud-init writes it to disk."""
    content: str = entry["content"]
    if entry.get("encoding") == "gz+b64":
        content = gzip.decompress(base64.b64decode(content)).decode()
    return content


def files(rendered: Rendered, node: str) -> dict[str, dict[str, Any]]:
    """write_files entries by path, with content decoded and cloud-init's defaults filled in,
    as cloud-init would write them."""
    return {
        entry["path"]: {**WRITE_FILES_DEFAULTS, **entry, "content": decoded(entry)}
        for entry in cloud_config(rendered, node)["write_files"]
    }


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


def installed_files(rendered: Rendered, node: str) -> dict[str, dict[str, Any]]:
    """The files a node has at first boot: a baked image's (packer/files/), then user-data's."""
    result: dict[str, dict[str, Any]] = {}
    if rendered.cluster.baked:
        prefix = "packer/files"
        for path, artifact in rendered.artifacts.items():
            if path.startswith(prefix + "/"):
                target = path.removeprefix(prefix)
                result[target] = {"path": target, "content": artifact.content.decode()}
    result.update(files(rendered, node))
    return result


def install_script(rendered: Rendered, node: str) -> str:
    """The script that installs the packages: the bake's for a baked image, else the node's."""
    if rendered.cluster.baked:
        return rendered.text("packer/bake.sh")
    return scripts(rendered, node)["/usr/local/sbin/k8sgen-bootstrap"]


def readable_user_data(rendered: Rendered, node: str) -> str:
    """The node's cloud-config with every write_files content decoded, as one text to compare."""
    config = cloud_config(rendered, node)
    # As written in user-data: cloud-init's defaults stay left out.
    config["write_files"] = [{**e, "content": decoded(e)} for e in config["write_files"]]
    # Unfolded: where a long line folds would depend on the lengths of the names compared.
    return yaml.safe_dump(config, sort_keys=False, width=float("inf"))


def shell_function(script: str, name: str) -> str:
    """The definition of shell function NAME in SCRIPT, from `NAME() {` to its closing `}`."""
    match = re.search(rf"^{name}\(\) {{\n.*?^}}\n", script, re.MULTILINE | re.DOTALL)
    assert match, name
    return match.group(0)
