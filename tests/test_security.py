"""Audit logging and encryption at rest (spec.controlPlane.audit, encryptionAtRest): what each
node gets, the kubeadm flags and mounts, and the key that is created once and kept.

The real kube-apiserver and etcd check the rendered files in tests/k8s/test_security_real.py;
the real kubeadm reads examples/audit-encryption.yaml in tests/k8s/test_kubeadm_real.py."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from generator import secrets
from generator.app import default_secrets_path
from generator.cli import cli
from generator.errors import SecretsError
from generator.layout import AUDIT_POLICY, ENCRYPTION_CONFIG
from generator.secrets import ClusterSecrets

from .support.kubeadm import api_validator
from .support.nodedata import decoded, files, kubeadm_documents
from .support.specs import Rendered, example, render_spec, write_spec

SETTINGS = {"audit": {"maxAge": 7, "maxBackup": 3, "maxSize": 50}, "encryptionAtRest": {}}
API_SERVER_FILES = {AUDIT_POLICY, ENCRYPTION_CONFIG}


def rendered_with(
    tmp_path: Path, name: str, settings: dict[str, Any], value: ClusterSecrets | None = None
) -> Rendered:
    data = example(name)
    data["spec"].setdefault("controlPlane", {}).update(settings)
    return render_spec(write_spec(tmp_path, data), value)


def cluster_configuration(rendered: Rendered, node: str) -> dict[str, Any]:
    return next(d for d in kubeadm_documents(rendered, node) if d["kind"] == "ClusterConfiguration")


def args_of(api_server: dict[str, Any]) -> dict[str, str]:
    """extraArgs as a mapping, from either kubeadm API's shape."""
    args = api_server["extraArgs"]
    return {a["name"]: a["value"] for a in args} if isinstance(args, list) else dict(args)


@pytest.mark.parametrize("name", ["ha-external-lb", "debian12-k8s130"])  # v1beta4, v1beta3
def test_api_server_flags_and_mounts(tmp_path: Path, name: str) -> None:
    rendered = rendered_with(tmp_path, name, SETTINGS)
    init = rendered.cluster.init_node.name
    config = cluster_configuration(rendered, init)
    assert not list(api_validator(config["apiVersion"]).iter_errors(config))
    api_server = config["apiServer"]
    assert args_of(api_server) == {
        "audit-policy-file": AUDIT_POLICY,
        "audit-log-path": "/var/log/kubernetes/audit/audit.log",
        "audit-log-maxage": "7",
        "audit-log-maxbackup": "3",
        "audit-log-maxsize": "50",
        "encryption-provider-config": ENCRYPTION_CONFIG,
    }
    mounts = {v["hostPath"]: v for v in api_server["extraVolumes"]}
    assert set(mounts) == {*API_SERVER_FILES, "/var/log/kubernetes/audit"}
    assert all(v["mountPath"] == v["hostPath"] for v in mounts.values())
    assert mounts[ENCRYPTION_CONFIG]["readOnly"] and mounts[AUDIT_POLICY]["readOnly"]
    assert not mounts["/var/log/kubernetes/audit"]["readOnly"]


def test_only_control_planes_get_the_files_and_the_key_is_private(tmp_path: Path) -> None:
    rendered = rendered_with(tmp_path, "ha-external-lb", SETTINGS)
    key = rendered.secrets.encryption_key
    assert key
    for node in rendered.cluster.nodes:
        written = files(rendered, node.name)
        text = rendered.text(f"nodes/{node.name}/user-data")
        if not node.is_control_plane:
            assert not API_SERVER_FILES & set(written) and key not in text
            continue
        assert {written[p]["permissions"] for p in API_SERVER_FILES} == {"0600"}
        config = yaml.safe_load(written[ENCRYPTION_CONFIG]["content"])
        assert config["apiVersion"] == "apiserver.config.k8s.io/v1"
        providers = config["resources"][0]["providers"]
        assert providers == [
            {"secretbox": {"keys": [{"name": "k8sgen-1", "secret": key}]}},
            {"identity": {}},
        ]


def test_aescbc_provider_and_a_32_byte_key(tmp_path: Path) -> None:
    rendered = rendered_with(tmp_path, "single", {"encryptionAtRest": {"provider": "aescbc"}})
    written = files(rendered, "master1")
    assert AUDIT_POLICY not in written  # audit is its own choice
    config = yaml.safe_load(written[ENCRYPTION_CONFIG]["content"])
    key = config["resources"][0]["providers"][0]["aescbc"]["keys"][0]["secret"]
    assert len(base64.b64decode(key, validate=True)) == 32


def test_without_the_settings_nothing_changes(tmp_path: Path) -> None:
    rendered = rendered_with(tmp_path, "single", {})
    assert not API_SERVER_FILES & set(files(rendered, "master1"))
    assert set(cluster_configuration(rendered, "master1")["apiServer"]) == {"certSANs"}


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_rerender_keeps_the_key_and_every_byte(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, example("audit-encryption"))
    runner = CliRunner()
    out = tmp_path / "out"
    assert runner.invoke(cli, ["render", str(spec), "-o", str(out)]).exit_code == 0
    secrets_file = default_secrets_path(spec)
    stored, first = secrets_file.read_bytes(), all_files(out)
    key = yaml.safe_load(stored)["encryptionKey"]
    user_data = yaml.safe_load((out / "vault/nodes/cp2/user-data").read_text())
    on_node = {entry["path"]: decoded(entry) for entry in user_data["write_files"]}
    assert key in on_node[ENCRYPTION_CONFIG]
    again = runner.invoke(cli, ["render", str(spec), "-o", str(out)])
    assert again.exit_code == 0 and "0 created, 0 changed" in again.stdout
    assert secrets_file.read_bytes() == stored and all_files(out) == first


def test_older_secrets_file_without_a_key_is_refused_and_kept(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, example("audit-encryption"))
    old = secrets.generate("vault")
    secrets_file = default_secrets_path(spec)
    secrets.write_new(secrets_file, ClusterSecrets(**{**old.__dict__, "encryption_key": None}))
    before = secrets_file.read_bytes()
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(out)])
    assert result.exit_code == 1
    assert "encryptionAtRest needs an encryption key" in result.stderr
    assert "head -c 32 /dev/urandom | base64" in result.stderr
    assert secrets_file.read_bytes() == before and not out.exists()
    # Without encryption the same file is fine.
    data = example("audit-encryption")
    del data["spec"]["controlPlane"]["encryptionAtRest"]
    write_spec(tmp_path, data)
    assert CliRunner().invoke(cli, ["render", str(spec), "-o", str(out)]).exit_code == 0


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_malformed_key_is_corrupt(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "s.yaml"
    data = {**secrets.generate("demo").to_data(), "encryptionKey": bad}
    path.write_text(yaml.safe_dump(data))
    path.chmod(0o600)
    with pytest.raises(SecretsError, match="encryptionKey must be 32 bytes in base64"):
        secrets.load(path, "demo")


def test_key_survives_the_secrets_file_round_trip(tmp_path: Path) -> None:
    created = secrets.generate("demo")
    path = tmp_path / "s.yaml"
    secrets.write_new(path, created)
    assert secrets.load(path, "demo").encryption_key == created.encryption_key
    assert created.encryption_key != secrets.generate("demo").encryption_key


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("audit", {"maxAge": 0}, "0 is less than the minimum of 1"),
        ("audit", {"maxsize": 5}, "unknown field"),
        ("encryptionAtRest", {"provider": "aesgcm"}, "'aesgcm' is not one of"),
    ],
)
def test_bad_settings_name_file_and_line(
    tmp_path: Path, field: str, value: dict[str, Any], message: str
) -> None:
    data = example("single")
    data["spec"]["controlPlane"] = {field: value}
    spec = write_spec(tmp_path, data)
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 1
    line = spec.read_text().splitlines().index("  controlPlane:") + 3
    assert f"{spec}:{line}: spec.controlPlane.{field}." in result.stderr
    assert message in result.stderr


def test_spec_api_server_settings_combine_and_may_not_repeat_ours(tmp_path: Path) -> None:
    """spec.kubeadm.apiServer's own flags and volumes come after ours; a flag or volume name
    audit or encryptionAtRest owns is refused at its line."""
    data = example("node-settings")
    api_server = data["spec"]["kubeadm"]["apiServer"]
    api_server["extraArgs"] = {"profiling": "false"}
    api_server["extraVolumes"] = []
    data["spec"].setdefault("controlPlane", {}).update(SETTINGS)
    rendered = render_spec(write_spec(tmp_path, data))
    config = cluster_configuration(rendered, rendered.cluster.init_node.name)
    args = args_of(config["apiServer"])
    assert args["profiling"] == "false" and args["encryption-provider-config"] == ENCRYPTION_CONFIG
    api_server["extraArgs"] = {"audit-log-maxage": "5"}
    api_server["extraVolumes"] = [
        {"name": "audit-log", "hostPath": "/var/log/x", "mountPath": "/var/log/x"}
    ]
    spec = write_spec(tmp_path, data)
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 1
    assert "spec.kubeadm.apiServer.extraArgs.audit-log-maxage: spec.controlPlane.audit sets" in (
        result.stderr
    )
    assert "spec.kubeadm.apiServer.extraVolumes[0].name: 'audit-log' is the volume" in result.stderr
    assert f"{spec}:" in result.stderr
