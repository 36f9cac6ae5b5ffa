"""Check a loaded spec: the JSON Schema first, then every semantic check of the registry
(SEMANTIC_CHECKS, the one list of them), each where the parts it reads are well-formed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema

from generator.errors import SpecError
from generator.proxy import PROXY_PATH
from generator.registries import REGISTRIES_PATH
from generator.resources import load_schema
from generator.spec import (
    access,
    apiserver,
    certificates,
    cluster,
    control_plane,
    dualstack,
    join,
    kubeadm,
    nodes,
)
from generator.spec.findings import (
    ANY,
    BOOTSTRAP,
    CONTROL_PLANE,
    KUBERNETES,
    MIRRORS,
    NETWORK,
    NODE_ADDRESSES,
    NODE_ADDRESSES6,
    NODE_ROLES,
    NODES,
    OS,
    Findings,
    SemanticCheck,
)
from generator.spec.load import FieldPath, LoadedSpec, load_spec
from generator.spec.schema import control_characters, strict_validator

SCHEMA_FILE = "cluster.schema.json"


def validate(spec: LoadedSpec) -> Findings:
    """Every problem at once; raises SpecError when there is any, else returns the warnings."""
    findings = Findings(spec)
    schema_problems(spec, findings)
    _semantic_problems(spec, findings)
    if findings.problems:
        raise SpecError(spec.filename, findings.problems)
    findings.warnings.sort()
    return findings


def _semantic_problems(spec: LoadedSpec, findings: Findings) -> None:
    """Run every check whose input the schema found well-formed, so all problems come out at
    once. A check that raises on such input is a bug: the exception goes up, never skipped."""
    flagged = {p.path for p in findings.problems}
    semantic = Findings(spec)
    for check in SEMANTIC_CHECKS:
        if not any(_overlap(read, bad) for read in check.reads for bad in findings.malformed):
            check.run(spec.data, semantic)
    # A field the schema already flagged needs no second message.
    findings.problems += [p for p in semantic.problems if p.path not in flagged]
    findings.warnings += semantic.warnings


def _overlap(read: FieldPath, bad: FieldPath) -> bool:
    """One path lies inside the other (or they are the same); ANY in read matches any part."""
    return all(mine in (ANY, theirs) for mine, theirs in zip(read, bad, strict=False))


def schema_problems(spec: LoadedSpec, findings: Findings) -> None:
    flagged = set()
    for path, message in control_characters(spec.data):
        findings.error(path, message)
        findings.malformed.append(path)
        flagged.add(path)
    for error in strict_validator(load_schema(SCHEMA_FILE)).iter_errors(spec.data):
        for path, message in _explain(error):
            if path not in flagged:
                findings.error(path, message)
        # An unknown field leaves the known ones intact; any other error can break a check.
        if error.validator != "additionalProperties":
            findings.malformed.append(tuple(error.absolute_path))


def _explain(error: jsonschema.ValidationError) -> Iterator[tuple[FieldPath, str]]:
    """Turn jsonschema's wording into one message per field an operator can find."""
    path: FieldPath = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(_schema_of(error).get("properties", {}))
        known = set(allowed)
        for key in sorted(k for k in error.instance if k not in known):
            hint = f" (expected one of: {', '.join(allowed)})" if allowed else ""
            yield (*path, key), f"unknown field{hint}"
        return
    number = isinstance(error.instance, (int, float)) and not isinstance(error.instance, bool)
    if error.validator == "type" and error.validator_value == "string" and number:
        yield path, f'{error.instance!r} must be a string: quote it, e.g. "{error.instance}"'
        return
    if error.validator == "pattern":
        yield path, f"{error.instance!r} is not valid here: {_pattern_hint(error)}"
        return
    if error.validator == "anyOf":
        yield (
            path,
            f"{error.instance!r} is not valid here: {_schema_of(error).get('description', '')}",
        )
        return
    yield path, error.message


def _schema_of(error: jsonschema.ValidationError) -> dict[str, Any]:
    return error.schema if isinstance(error.schema, dict) else {}


def _pattern_hint(error: jsonschema.ValidationError) -> str:
    described = _schema_of(error).get("description")
    if described:
        return str(described).rstrip(".")
    return f"must match {error.validator_value}"


SEMANTIC_CHECKS: tuple[SemanticCheck, ...] = (
    SemanticCheck(cluster.check_kubernetes_version, ((*KUBERNETES, "version"),)),
    SemanticCheck(cluster.check_os, (OS, (*KUBERNETES, "version"))),
    SemanticCheck(cluster.check_subnets, (KUBERNETES, NODE_ADDRESSES)),
    SemanticCheck(nodes.check_nodes, (NODES,)),
    SemanticCheck(nodes.check_labels, ((*NODES, ANY, "labels"), ("spec", "roles", ANY, "labels"))),
    SemanticCheck(control_plane.check_endpoint, (NODE_ROLES, NODE_ADDRESSES, CONTROL_PLANE)),
    SemanticCheck(cluster.check_mirrors, (MIRRORS,)),
    SemanticCheck(cluster.check_calico, (("spec", "cni"), (*KUBERNETES, "version"))),
    SemanticCheck(cluster.check_bootstrap, (BOOTSTRAP,)),
    SemanticCheck(
        control_plane.check_vip,
        (CONTROL_PLANE, NODE_ADDRESSES, NODE_ROLES, (*NODES, ANY, "name"), KUBERNETES, MIRRORS),
    ),
    SemanticCheck(control_plane.check_control_plane_count, (NODE_ROLES,)),
    SemanticCheck(nodes.check_interfaces, (NODES, NETWORK, OS)),
    SemanticCheck(nodes.check_macs, ((*NODES, ANY, "mac"),)),
    SemanticCheck(control_plane.check_vip_interface, (CONTROL_PLANE, NODES, NETWORK, OS)),
    SemanticCheck(cluster.check_offline, (("spec", "offline"), BOOTSTRAP, OS)),
    SemanticCheck(
        certificates.check_certificates, (certificates.CERTIFICATES, (*KUBERNETES, "version"))
    ),
    SemanticCheck(access.check_proxy, (PROXY_PATH, NODES)),
    SemanticCheck(access.check_registries, (REGISTRIES_PATH, BOOTSTRAP)),
    SemanticCheck(dualstack.check_cluster_networks, (KUBERNETES, NODES)),
    SemanticCheck(dualstack.check_node_families, (KUBERNETES, NODE_ADDRESSES, NODE_ADDRESSES6)),
    SemanticCheck(dualstack.check_node_addresses6, (KUBERNETES, NODES)),
    SemanticCheck(dualstack.check_ipv6_control_plane, (KUBERNETES, CONTROL_PLANE, NODES)),
    SemanticCheck(dualstack.check_static_address_settings, (NODES, NETWORK, OS)),
    *kubeadm.SEMANTIC_CHECKS,
    SemanticCheck(join.check_join_window, (BOOTSTRAP,)),
    SemanticCheck(apiserver.check_api_server_overlap, (CONTROL_PLANE, ("spec", "kubeadm"))),
)


def load_and_validate(path: Path) -> Findings:
    return validate(load_spec(path))
