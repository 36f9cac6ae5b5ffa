"""Set CALICO_IPV4POOL_CIDR in a calico.yaml manifest, and move its images to a mirror.

Used at render time for an embedded manifest, and shipped as is to the init node for a
manifest it downloads: it must depend on nothing but Python 3 and PyYAML, which every
cloud-init node has.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

import yaml

POOL_VARIABLE = "CALICO_IPV4POOL_CIDR"
# libyaml's loader and dumper when present: calico.yaml is hundreds of kilobytes.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


# <registry>/calico/<name>:<tag>, or Docker Hub's short calico/<name>:<tag>.
CALICO_IMAGE = re.compile(r"^(?:[^/]+/)?calico/([^/]+)$")


class PatchError(Exception):
    pass


def patch_manifest(text: str, pod_cidr: str, image_repository: str | None = None) -> str:
    """The manifest with the calico-node container's pool CIDR set to pod_cidr.

    With image_repository, every calico/<name>:<tag> image becomes <image_repository>/<name>:<tag>.
    """
    try:
        documents = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
    except yaml.YAMLError as exc:
        raise PatchError(f"not a YAML manifest: {exc}") from exc
    container = _calico_node_container(documents)
    env = container.setdefault("env", [])
    entry = {"name": POOL_VARIABLE, "value": pod_cidr}
    for index, variable in enumerate(env):
        if variable.get("name") == POOL_VARIABLE:
            env[index] = entry
            break
    else:
        env.append(entry)
    if image_repository:
        for document in documents:
            _rewrite_images(document, image_repository)
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, explicit_start=True)


def _calico_node_container(documents: list[Any]) -> dict[str, Any]:
    for document in documents:
        if not isinstance(document, dict) or document.get("kind") != "DaemonSet":
            continue
        if document.get("metadata", {}).get("name") != "calico-node":
            continue
        for container in document["spec"]["template"]["spec"].get("containers", []):
            if container.get("name") == "calico-node":
                return dict_or_fail(container)
    raise PatchError("no DaemonSet calico-node with a container calico-node: is this calico.yaml?")


def calico_image(image: str, image_repository: str) -> str:
    """docker.io/calico/node:v3.30.7 -> <image_repository>/node:v3.30.7; other images unchanged."""
    match = CALICO_IMAGE.match(image)
    return f"{image_repository}/{match.group(1)}" if match else image


def _rewrite_images(node: Any, image_repository: str) -> None:
    """Every `image:` of every container and init container, wherever the document has one."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str):
                node[key] = calico_image(value, image_repository)
            else:
                _rewrite_images(value, image_repository)
    elif isinstance(node, list):
        for item in node:
            _rewrite_images(item, image_repository)


def dict_or_fail(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PatchError("the calico-node container is not a mapping")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pod-cidr", required=True)
    parser.add_argument("--image-repository", help="registry path the Calico images move to")
    parser.add_argument("source")
    parser.add_argument("target")
    args = parser.parse_args(argv)
    try:
        with open(args.source, encoding="utf-8") as handle:
            patched = patch_manifest(handle.read(), args.pod_cidr, args.image_repository)
    except (OSError, PatchError) as exc:
        print(f"calico_patch: {args.source}: {exc}", file=sys.stderr)
        return 1
    with open(args.target, "w", encoding="utf-8") as handle:
        handle.write(patched)
    return 0


if __name__ == "__main__":
    sys.exit(main())
