"""The local files that spec.roles and spec.nodes[] name as `files[].source`, read after the
model is built (the model does no I/O); validate checked that each can be read."""

from __future__ import annotations

import dataclasses

from generator.inputs import read_input
from generator.model import Cluster, Node
from generator.nodeconfig import MAX_FILE_BYTES, NodeFile


def embed_node_files(cluster: Cluster) -> Cluster:
    """The cluster with every node's source files read (unchanged when none is named)."""
    if not any(f.source for n in cluster.nodes for f in n.extras.files):
        return cluster
    return dataclasses.replace(cluster, nodes=tuple(_embedded(n) for n in cluster.nodes))


def _embedded(node: Node) -> Node:
    files = tuple(_read(f) for f in node.extras.files)
    return dataclasses.replace(node, extras=dataclasses.replace(node.extras, files=files))


def _read(file: NodeFile) -> NodeFile:
    if file.source is None:
        return file
    content = read_input(file.source, "file for a node", MAX_FILE_BYTES)
    return dataclasses.replace(file, content=content)
