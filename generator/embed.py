"""The local files a spec names, read after the model is built so the model does no I/O: the
Calico manifest (cni.calico.manifest, read and patched) and the registries' CA certificates
(registries.<host>.ca). A bad file fails the render, not the node."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from generator.calico_patch import PatchError, patch_manifest
from generator.errors import K8sgenError, Problem, SpecError
from generator.inputs import InputError, check_yaml_events, describe_yaml_error, read_input
from generator.model import MAX_MANIFEST_BYTES, Cluster, build
from generator.node_files import embed_node_files
from generator.registries import embed_cas
from generator.spec.load import LoadedSpec, format_path


class ManifestError(K8sgenError):
    """The local Calico manifest (spec.cni.calico.manifest) cannot be used."""

    field_path = ("spec", "cni", "calico", "manifest")


def embed_local_manifest(cluster: Cluster) -> Cluster:
    """The cluster with its local manifest read and patched (unchanged for a download)."""
    calico = cluster.calico
    if calico.manifest_file is None:
        return cluster
    patched = read_patched(calico.manifest_file, cluster.pod_subnet, calico.image_repository)
    embedded = dataclasses.replace(calico, manifest_patched=patched)
    return dataclasses.replace(cluster, calico=embedded)


def read_patched(path: Path, pod_subnet: str, image_repository: str | None) -> str:
    """Read and patch a local manifest; every failure is a ManifestError."""
    try:
        text = read_input(path, "Calico manifest", MAX_MANIFEST_BYTES).decode("utf-8")
    except InputError as exc:
        raise ManifestError(str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    return checked_patch(text, str(path), pod_subnet, image_repository)


def checked_patch(text: str, source: str, pod_subnet: str, image_repository: str | None) -> str:
    """patch_manifest on a manifest k8sgen did not write: every failure is a ManifestError."""
    try:
        check_yaml_events(text)  # before the patch walks it: no alias bombs, no deep nesting
    except yaml.YAMLError as exc:
        line, reason = describe_yaml_error(exc)
        raise ManifestError(
            f"{source}:{line}: {reason}" if line else f"{source}: {reason}"
        ) from exc
    try:
        return patch_manifest(text, pod_subnet, image_repository)
    except PatchError as exc:  # calico_patch names every shape it cannot work with
        raise ManifestError(f"{source}: {exc}") from exc


def embed_local_files(cluster: Cluster) -> Cluster:
    """The cluster with every local file it names read (the CAs were checked by validate)."""
    embedded = embed_node_files(embed_local_manifest(cluster))
    return dataclasses.replace(embedded, registries=embed_cas(embedded.registries))


def from_spec(loaded: LoadedSpec) -> Cluster:
    """The model of a validated spec with its local files embedded; a bad local manifest
    becomes a problem on its field."""
    try:
        return embed_local_files(build(loaded.data, loaded.base_dir))
    except ManifestError as exc:
        path = ManifestError.field_path
        problem = Problem(loaded.line_of(path), format_path(path), str(exc))
        raise SpecError(loaded.filename, [problem]) from exc
