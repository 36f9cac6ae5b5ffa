
import argparse
import re
import sys
from typing import Any, Dict, List, Optional

import yaml

try:  # libyaml's parser when present: calico.yaml is hundreds of kilobytes.
    from yaml import CSafeDumper as _BaseDumper
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

POOL_VARIABLE = "CALICO_IPV4POOL_CIDR"
POOL6_VARIABLE = "CALICO_IPV6POOL_CIDR"
IPV6_ON = (
    ("IP6", "autodetect"),
    ("FELIX_IPV6SUPPORT", "true"),
    ("CALICO_IPV6POOL_NAT_OUTGOING", "true"),
)
IPV4_OFF = (("IP", "none"), ("CALICO_ROUTER_ID", "hash"))
CALICO_CONFIG = "ConfigMap calico-config"
CNI_CONFIG_KEY = "cni_network_config"
IPAM_TYPE = re.compile(r'("ipam"\s*:\s*\{\s*"type"\s*:\s*"calico-ipam")')
CALICO_IMAGE = re.compile(r"^(?:[^/]+/)?calico/([^/]+)$")
CALICO_NODE = "DaemonSet calico-node"
CONTAINERS_PATH = "spec.template.spec.containers"


class PatchError(Exception):
    pass


class _NoAliasLoader(_BaseLoader):

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if node in self.constructed_objects:  # only an alias reaches a node a second time
            line = node.start_mark.line + 1
            raise PatchError(
                f"line {line}: YAML alias of the node at this line: aliases are refused in a "
                "Calico manifest (the release manifests have none)"
            )
        return super().construct_object(node, deep)


class _OrderedDumper(_BaseDumper):

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_in_order(dumper: "_OrderedDumper", data: Dict[Any, Any]) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", list(data.items()))


_OrderedDumper.add_representer(dict, _represent_in_order)


def patch_manifest(text: str, pod_cidr: str, image_repository: Optional[str] = None) -> str:
    documents = _load(text)
    container = _calico_node_container(documents)
    env = _list(container.setdefault("env", []), CONTAINERS_PATH + "[calico-node].env")
    ipv4 = [c for c in pod_cidr.split(",") if ":" not in c]
    ipv6 = [c for c in pod_cidr.split(",") if ":" in c]
    settings = [(POOL_VARIABLE, c) for c in ipv4] + [(POOL6_VARIABLE, c) for c in ipv6]
    if ipv6:
        settings += list(IPV6_ON) + ([] if ipv4 else list(IPV4_OFF))
        _assign_addresses(documents, bool(ipv4))
    for name, value in settings:
        _set_env(env, name, value)
    if image_repository:
        for document in documents:
            _rewrite_images(document, image_repository)
    return yaml.dump_all(
        documents, Dumper=_OrderedDumper, default_flow_style=False, explicit_start=True
    )


def _set_env(env: List[Any], name: str, value: str) -> None:
    entry = {"name": name, "value": value}
    for index, variable in enumerate(env):
        where = f"{CONTAINERS_PATH}[calico-node].env[{index}]"
        if _mapping(variable, where).get("name") == name:
            env[index] = entry
            return
    env.append(entry)


def _assign_addresses(documents: List[Any], ipv4: bool) -> None:
    for document in documents:
        if not isinstance(document, dict) or document.get("kind") != "ConfigMap":
            continue
        if _mapping(document.get("metadata", {}), "metadata").get("name") != "calico-config":
            continue
        data = _mapping(document.get("data"), CALICO_CONFIG + ": data")
        template = data.get(CNI_CONFIG_KEY)
        if not isinstance(template, str) or not IPAM_TYPE.search(template):
            break
        flags = ', "assign_ipv4": "{}", "assign_ipv6": "true"'.format("true" if ipv4 else "false")
        data[CNI_CONFIG_KEY] = IPAM_TYPE.sub(r"\1" + flags, template, count=1)
        return
    raise PatchError(
        f"no {CALICO_CONFIG} whose {CNI_CONFIG_KEY} has a calico-ipam: is this calico.yaml?"
    )


def _load(text: str) -> List[Any]:
    try:
        return [d for d in yaml.load_all(text, Loader=_NoAliasLoader) if d is not None]
    except yaml.YAMLError as exc:
        raise PatchError("not a YAML manifest: " + " ".join(str(exc).split())) from exc
    except RecursionError as exc:
        raise PatchError("not a YAML manifest: nested too deeply") from exc


def _calico_node_container(documents: List[Any]) -> Dict[str, Any]:
    for document in documents:
        if not isinstance(document, dict) or document.get("kind") != "DaemonSet":
            continue
        metadata = _mapping(document.get("metadata", {}), "metadata")
        if metadata.get("name") != "calico-node":
            continue
        pod = _mapping(document.get("spec"), "spec")
        pod = _mapping(pod.get("template"), "spec.template")
        pod = _mapping(pod.get("spec"), "spec.template.spec")
        containers = _list(pod.get("containers", []), CONTAINERS_PATH)
        for index, container in enumerate(containers):
            container = _mapping(container, f"{CONTAINERS_PATH}[{index}]")
            if container.get("name") == "calico-node":
                return container
    raise PatchError(f"no {CALICO_NODE} with a container calico-node: is this calico.yaml?")


def _mapping(value: Any, where: str) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise PatchError(f"{CALICO_NODE}: {where}: expected a mapping, found {_kind(value)}")
    return value


def _list(value: Any, where: str) -> List[Any]:
    if not isinstance(value, list):
        raise PatchError(f"{CALICO_NODE}: {where}: expected a list, found {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    shown = repr(value)
    return type(value).__name__ + ("" if len(shown) > 40 else " " + shown)


def calico_image(image: str, image_repository: str) -> str:
    match = CALICO_IMAGE.match(image)
    return f"{image_repository}/{match.group(1)}" if match else image


def _rewrite_images(node: Any, image_repository: str) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str):
                node[key] = calico_image(value, image_repository)
            else:
                _rewrite_images(value, image_repository)
    elif isinstance(node, list):
        for item in node:
            _rewrite_images(item, image_repository)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pod-cidr", required=True)
    parser.add_argument("--image-repository", help="registry path the Calico images move to")
    parser.add_argument("source")
    parser.add_argument("target")
    args = parser.parse_args(argv)
    try:
        with open(args.source, encoding="utf-8") as handle:
            patched = patch_manifest(handle.read(), args.pod_cidr, args.image_repository)
        with open(args.target, "w", encoding="utf-8") as handle:
            handle.write(patched)
    except (OSError, UnicodeDecodeError, PatchError) as exc:
        print(f"calico_patch: {args.source}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
