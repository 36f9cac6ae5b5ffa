"""write_files entries for what the spec adds to a node: its files and its kubeadm patches."""

from __future__ import annotations

import base64
from typing import Any

from generator.layout import KUBEADM_PATCHES
from generator.model import Node
from generator.nodeconfig import DEFAULT_FILE_OWNER, NodeFile
from generator.render.kubeadm import patch_files
from generator.render.yamlio import dump


def extra_files(node: Node) -> list[dict[str, Any]]:
    patches = [
        {
            "path": f"{KUBEADM_PATCHES}/{name}",
            "owner": DEFAULT_FILE_OWNER,
            "permissions": "0600",  # like kubeadm's own files under /etc/kubernetes
            "content": dump(patch),
        }
        for name, patch in patch_files(node).items()
    ]
    return [*(_entry(f) for f in node.extras.files), *patches]


def _entry(file: NodeFile) -> dict[str, Any]:
    assert file.content is not None, f"{file.source} was not read: node_files.embed_node_files"
    entry: dict[str, Any] = {
        "path": file.path,
        "owner": file.owner,
        "permissions": file.permissions,
    }
    try:
        entry["content"] = file.content.decode("utf-8")
    except UnicodeDecodeError:
        entry["content"] = base64.b64encode(file.content).decode()
        entry["encoding"] = "b64"
    if file.owner != DEFAULT_FILE_OWNER:
        # Written after cloud-init created users and installed packages, so the owner exists.
        entry["defer"] = True
    return entry
