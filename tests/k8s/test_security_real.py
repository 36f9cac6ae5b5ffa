"""Audit logging and encryption at rest on the real kube-apiserver and etcd (issue 15, item 7).

ha-external-lb with spec.controlPlane.audit and encryptionAtRest (each provider in turn): the
init node's rendered audit policy and EncryptionConfiguration are placed where its user-data
puts them, and its control plane runs on loopback (tests/k8s/controlplane.py) with kubeadm's own
command lines, which carry the rendered flags. A Secret created through the API must be stored
encrypted in etcd (read raw through etcd's own v3 JSON gateway) and read back in the clear, and
the audit log must hold what the policy says, and nothing it drops.
"""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from generator.layout import AUDIT_POLICY, ENCRYPTION_CONFIG
from generator.render.security import AUDIT_LOG, ENCRYPTION_KEY_NAME

from ..support.nodedata import files
from ..support.specs import Rendered, example, render_spec, write_spec
from .binaries import kubeadm
from .cluster import INIT, render_example
from .controlplane import PKI, ControlPlane, MachineFactory, control_plane, place_rendered_files
from .machine import Machine
from .netns import isolated

KUBEADM_CONFIG = "/etc/k8sgen/kubeadm.yaml"
ETCD = "https://127.0.0.1:2379"  # kubeadm's local etcd client URL (its certificate names it)
PROVIDERS = ("aescbc", "secretbox")


@pytest.fixture(scope="module", params=PROVIDERS)
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    settings = {"audit": {"maxSize": 10}, "encryptionAtRest": {"provider": request.param}}
    return render_example(tmp_path_factory.mktemp("spec"), control_plane_spec=settings)


@pytest.fixture(scope="module")
def plane(rendered: Rendered, machines: MachineFactory) -> Iterator[ControlPlane]:
    """The init node's control plane with its rendered API-server files in place; stopped
    after its provider's tests (etcd holds 127.0.0.1:2379 in the shared namespace)."""

    def with_api_server_files(name: str) -> Machine:
        machine = machines(name)
        for path in (AUDIT_POLICY, ENCRYPTION_CONFIG):
            place_rendered_files(machine, rendered, name, path)
        return machine

    with control_plane(rendered, INIT, with_api_server_files) as running:
        yield running
        running.machine.stop()


def etcd_value(plane: ControlPlane, key: str) -> bytes:
    """The raw bytes etcd stores at KEY, through its /v3/kv/range JSON gateway."""
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()})
    # curl takes no --option=value: each option and its value are two arguments.
    client = [
        "--cert",
        f"{PKI}/apiserver-etcd-client.crt",
        "--key",
        f"{PKI}/apiserver-etcd-client.key",
    ]
    command = ["curl", "-sS", "--max-time", "10", "--cacert", f"{PKI}/etcd/ca.crt", *client]
    answer = plane.machine.run([*command, "-d", body, f"{ETCD}/v3/kv/range"]).stdout
    kvs = json.loads(answer).get("kvs", [])
    assert len(kvs) == 1, f"{key}: {answer}"
    return base64.b64decode(kvs[0]["value"])


def create_secret(plane: ControlPlane) -> tuple[str, str]:
    name, value = f"probe-{uuid.uuid4().hex[:8]}", f"plain-{uuid.uuid4().hex}"
    plane.kubectl("-n", "default", "create", "secret", "generic", name, f"--from-literal=v={value}")
    return name, value


def audit_events(plane: ControlPlane) -> list[dict[str, Any]]:
    text = plane.machine.read(AUDIT_LOG).decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_secret_is_stored_encrypted_with_the_rendered_key(
    plane: ControlPlane, rendered: Rendered
) -> None:
    assert rendered.cluster.encryption is not None
    name, value = create_secret(plane)
    stored = etcd_value(plane, f"/registry/secrets/default/{name}")
    prefix = f"k8s:enc:{rendered.cluster.encryption.provider}:v1:{ENCRYPTION_KEY_NAME}:"
    assert stored.startswith(prefix.encode()), stored[:60]
    assert value.encode() not in stored
    assert base64.b64encode(value.encode()) not in stored
    read = json.loads(plane.kubectl("-n", "default", "get", "secret", name, "-o", "json"))
    assert base64.b64decode(read["data"]["v"]).decode() == value


def test_objects_other_than_secrets_stay_in_the_clear(plane: ControlPlane) -> None:
    name = f"probe-{uuid.uuid4().hex[:8]}"
    plane.kubectl("-n", "default", "create", "configmap", name, "--from-literal=k=visible")
    stored = etcd_value(plane, f"/registry/configmaps/default/{name}")
    assert not stored.startswith(b"k8s:enc:")
    assert b"visible" in stored


def test_audit_log_follows_the_policy(plane: ControlPlane) -> None:
    name, value = create_secret(plane)
    namespace = f"audit-{uuid.uuid4().hex[:8]}"
    plane.kubectl("create", "namespace", namespace)
    events = audit_events(plane)

    def created(resource: str, object_name: str) -> dict[str, Any]:
        matches = [
            e
            for e in events
            if e["verb"] == "create"
            and e.get("objectRef", {}).get("resource") == resource
            and e["objectRef"].get("name") == object_name
            and e["stage"] == "ResponseComplete"
        ]
        assert len(matches) == 1, f"{resource}/{object_name}: {len(matches)} events"
        return matches[0]

    secret = created("secrets", name)
    assert secret["level"] == "Metadata" and "requestObject" not in secret
    assert value not in json.dumps(events)  # no Secret content anywhere in the log
    namespace_event = created("namespaces", namespace)
    assert namespace_event["level"] == "Request"
    assert namespace_event["requestObject"]["metadata"]["name"] == namespace
    assert not [e for e in events if e["requestURI"].startswith(("/readyz", "/livez"))]
    assert not [e for e in events if e["stage"] == "RequestReceived"]
    assert not [e for e in events if e.get("objectRef", {}).get("resource") == "leases"]


def test_kubeadm_v1beta3_accepts_the_api_server_settings(tmp_path: Path) -> None:
    """The 1.30 example (kubeadm v1beta3: extraArgs as a mapping) with both settings, read by
    the real kubeadm 1.30 (examples/audit-encryption.yaml covers v1beta4 in
    test_kubeadm_real.py)."""
    data = example("debian12-k8s130")
    data["spec"]["controlPlane"] = {"audit": {}, "encryptionAtRest": {"provider": "aescbc"}}
    rendered = render_spec(write_spec(tmp_path, data))
    assert rendered.cluster.kubernetes.kubeadm_api == "kubeadm.k8s.io/v1beta3"
    config = tmp_path / "kubeadm.yaml"
    config.write_text(files(rendered, rendered.cluster.init_node.name)[KUBEADM_CONFIG]["content"])
    minor = rendered.cluster.kubernetes.minor
    command = [str(kubeadm(minor)), "config", "validate", "--config", str(config)]
    result = subprocess.run(isolated(command), capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "ok", ""), result
