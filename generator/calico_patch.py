"""Set CALICO_IPV4POOL_CIDR in a calico.yaml manifest.

Used at render time for an embedded manifest, and shipped as is to the init node for a
manifest it downloads: it must depend on nothing but Python 3 and PyYAML, which every
cloud-init node has.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml

POOL_VARIABLE = "CALICO_IPV4POOL_CIDR"
# libyaml's loader and dumper when present: calico.yaml is hundreds of kilobytes.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class PatchError(Exception):
    pass


def patch_manifest(text: str, pod_cidr: str) -> str:
    """The manifest with the calico-node container's pool CIDR set to pod_cidr."""
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


def dict_or_fail(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PatchError("the calico-node container is not a mapping")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pod-cidr", required=True)
    parser.add_argument("source")
    parser.add_argument("target")
    args = parser.parse_args(argv)
    try:
        with open(args.source, encoding="utf-8") as handle:
            patched = patch_manifest(handle.read(), args.pod_cidr)
    except (OSError, PatchError) as exc:
        print(f"calico_patch: {args.source}: {exc}", file=sys.stderr)
        return 1
    with open(args.target, "w", encoding="utf-8") as handle:
        handle.write(patched)
    return 0


if __name__ == "__main__":
    sys.exit(main())
