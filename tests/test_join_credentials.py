"""Per-node join credentials and nodes added or removed by editing the spec (issue 14).

What the real kubeadm, API server and kubelet do with these credentials is proved in
tests/k8s/test_join_credentials_real.py; here: what render mints, keeps, reports and writes.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from cryptography import x509

from generator import secrets
from generator.app import default_secrets_path
from generator.cli import cli
from generator.layout import JOIN_KUBECONFIG, KUBEADM_CONFIG
from generator.secrets import joincred
from generator.status import ADVICE

from .support.nodedata import files
from .support.repo import REPO
from .support.specs import example, render_spec, write_spec

EXAMPLE = "ha-external-lb"  # cp1 (init), cp2, cp3, w1, w2
JOINERS = ("cp2", "cp3", "w1", "w2")
NOW = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
WEEK = datetime.timedelta(days=7)


def certificate_spec(tmp_path: Path, **patch: Any) -> Path:
    data = example(EXAMPLE, spec__bootstrap__joinWith="certificate", **patch)
    return write_spec(tmp_path, data)


def render(spec: Path, out: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    return result


def node_files(out: Path, node: str) -> dict[str, bytes]:
    folder = next(out.glob(f"*/nodes/{node}"))
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def stored(spec: Path) -> secrets.ClusterSecrets:
    return secrets.load(default_secrets_path(spec), "prod")


def subject(pair: Any, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in pair.certificate.subject.get_attributes_for_oid(oid)]


def test_certificate_is_the_default(tmp_path: Path) -> None:
    rendered = render_spec(write_spec(tmp_path, example(EXAMPLE)))
    assert sorted(rendered.secrets.join_credentials) == sorted(JOINERS)


def test_join_credential_is_a_node_certificate_for_the_join_window(tmp_path: Path) -> None:
    spec = certificate_spec(tmp_path, spec__bootstrap__joinWindow="72h")
    render(spec, tmp_path / "out")
    value = stored(spec)
    assert sorted(value.join_credentials) == sorted(JOINERS)  # not cp1: it runs kubeadm init
    for name, pair in value.join_credentials.items():
        cert = pair.certificate
        assert subject(pair, x509.NameOID.COMMON_NAME) == [f"system:node:{name}"]
        assert subject(pair, x509.NameOID.ORGANIZATION_NAME) == ["system:nodes"]
        cert.verify_directly_issued_by(value.ca.certificate)
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert lifetime == datetime.timedelta(hours=72, minutes=5)  # + the clock-skew margin
    control_planes = dict.fromkeys(("cp1", "cp2", "cp3"), "control-plane")
    assert value.nodes == {**control_planes, "w1": "worker", "w2": "worker"}


def test_join_configuration_uses_discovery_file_with_the_nodes_own_certificate(
    tmp_path: Path,
) -> None:
    rendered = render_spec(certificate_spec(tmp_path))
    for name in JOINERS:
        written = files(rendered, name)
        join = yaml.safe_load(written[KUBEADM_CONFIG]["content"])
        assert join["discovery"]["file"] == {"kubeConfigPath": JOIN_KUBECONFIG}
        assert "bootstrapToken" not in join["discovery"] and "tlsBootstrapToken" not in join
        assert written[JOIN_KUBECONFIG]["permissions"] == "0600"
        config = yaml.safe_load(written[JOIN_KUBECONFIG]["content"])
        user = config["users"][0]["user"]
        pem = base64.b64decode(user["client-certificate-data"]).decode()
        assert pem == rendered.secrets.join_credentials[name].cert
        assert "token" not in user
        cluster = config["clusters"][0]["cluster"]
        assert base64.b64decode(cluster["certificate-authority-data"]).decode() == (
            rendered.secrets.ca.cert
        )
        assert cluster["server"] == f"https://{rendered.cluster.endpoint}"
    assert JOIN_KUBECONFIG not in files(rendered, "cp1")


def test_join_with_token_mints_nothing_and_keeps_the_token_discovery(tmp_path: Path) -> None:
    rendered = render_spec(
        write_spec(tmp_path, example(EXAMPLE, spec__bootstrap__joinWith="token"))
    )
    assert rendered.secrets.join_credentials == {}
    join = yaml.safe_load(files(rendered, "w1")[KUBEADM_CONFIG]["content"])
    assert set(join["discovery"]) == {"bootstrapToken"}


def test_uploaded_certificates_keep_control_plane_joiners_on_the_token(tmp_path: Path) -> None:
    spec = certificate_spec(tmp_path, spec__controlPlane__certificateDistribution="upload")
    rendered = render_spec(spec)
    assert sorted(rendered.secrets.join_credentials) == ["w1", "w2"]
    join = yaml.safe_load(files(rendered, "cp2")[KUBEADM_CONFIG]["content"])
    assert set(join["discovery"]) == {"bootstrapToken"}


def test_render_again_is_byte_identical_and_keeps_the_secrets_file(tmp_path: Path) -> None:
    spec = certificate_spec(tmp_path)
    render(spec, tmp_path / "out")
    first = default_secrets_path(spec).read_bytes()
    again = render(spec, tmp_path / "out")
    assert "wrote 19 files (0 created, 0 changed, 19 unchanged)" in again.stdout
    assert default_secrets_path(spec).read_bytes() == first
    assert "(new)" not in again.output


def test_summary_says_how_each_node_joins_and_until_when(tmp_path: Path) -> None:
    result = render(certificate_spec(tmp_path), tmp_path / "out")
    value = stored(tmp_path / "cluster.yaml")
    for name in JOINERS:
        until = value.join_credentials[name].certificate.not_valid_after_utc
        line = f"certificate system:node:{name} (new): valid until {until:%Y-%m-%d %H:%M} UTC"
        assert line in result.stdout
    assert "bootstrap token" not in result.output  # no node joins with it


def test_added_worker_gets_a_fresh_credential_and_nothing_else_changes(tmp_path: Path) -> None:
    spec = certificate_spec(tmp_path)
    out = tmp_path / "out"
    render(spec, out)
    before = {n: node_files(out, n) for n in ("cp1", *JOINERS)}
    credentials = stored(spec).join_credentials
    data = yaml.safe_load(spec.read_text())
    data["spec"]["nodes"].append({"name": "w3", "role": "worker", "address": "192.168.10.23/24"})
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    result = render(spec, out)
    assert {n: node_files(out, n) for n in before} == before
    after = stored(spec).join_credentials
    assert {n: after[n] for n in credentials} == credentials
    assert "new: w3" in result.stdout
    assert "cluster.secrets.yaml: updated (nodes recorded; join certificates minted: w3)" in (
        result.stdout
    )
    assert "w3                   certificate system:node:w3 (new)" in result.stdout
    assert node_files(out, "w3")["user-data"]


def test_removed_nodes_are_reported_with_the_commands_that_remove_them(tmp_path: Path) -> None:
    spec = certificate_spec(tmp_path)
    out = tmp_path / "out"
    render(spec, out)
    data = yaml.safe_load(spec.read_text())
    data["spec"]["nodes"] = [n for n in data["spec"]["nodes"] if n["name"] not in ("cp3", "w2")]
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    result = render(spec, out)
    assert node_files(out, "w2") and node_files(out, "cp3")  # kept, never deleted
    text = result.stdout
    assert "removed from the spec: w2 (worker); its files are kept" in text
    assert "kubectl drain w2 --ignore-daemonsets --delete-emptydir-data" in text
    assert "kubectl delete node w2" in text
    assert "removed from the spec: cp3 (control-plane)" in text
    assert "on cp3, if it still runs: kubeadm reset -f   (also removes its etcd member)" in text
    assert joincred.etcdctl("cp1", "member remove", "<the ID of cp3>") in text
    assert "kubectl delete node cp3" in text
    assert "new:" not in text


def test_expired_credential_is_kept_and_reported_until_renewal_is_asked(tmp_path: Path) -> None:
    spec = certificate_spec(tmp_path)
    loaded = render_spec(spec)
    old = secrets.generate("prod", now=NOW)
    minted = joincred.reconcile(loaded.cluster, old, now=NOW).secrets
    secrets.write_new(default_secrets_path(spec), minted)
    result = render(spec, tmp_path / "out")
    warning = "warning: the join certificates of cp2, cp3, w1, w2 have expired: a node among"
    assert warning in result.stderr
    assert "--renew-join-credential NODE" in result.stderr
    assert stored(spec).join_credentials == minted.join_credentials  # never re-minted silently
    renewed = render(spec, tmp_path / "out", "--renew-join-credential", "w1")
    after = stored(spec).join_credentials
    assert after["w1"] != minted.join_credentials["w1"]
    assert after["w1"].certificate.not_valid_after_utc > datetime.datetime.now(datetime.UTC)
    assert {n: after[n] for n in ("cp2", "cp3", "w2")} == {
        n: minted.join_credentials[n] for n in ("cp2", "cp3", "w2")
    }
    assert "certificate system:node:w1 (new): valid" in renewed.stdout
    assert "certificate system:node:w2: EXPIRED" in renewed.stdout


@pytest.mark.parametrize("name", ["cp1", "nosuch"])
def test_renewal_of_a_node_without_a_credential_is_refused(tmp_path: Path, name: str) -> None:
    spec = certificate_spec(tmp_path)
    result = CliRunner().invoke(
        cli, ["render", str(spec), "-o", str(tmp_path / "o"), "--renew-join-credential", name]
    )
    assert result.exit_code == 1
    assert f"--renew-join-credential {name}: not a node of the spec that joins with a " in (
        result.stderr
    )
    assert "(those are: cp2, cp3, w1, w2)" in result.stderr
    assert not default_secrets_path(spec).exists()


@pytest.mark.parametrize(
    ("window", "says"),
    [("0h", "must be longer than zero"), ("9000h", "is longer than a year")],
)
def test_join_window_out_of_range_is_refused(tmp_path: Path, window: str, says: str) -> None:
    spec = certificate_spec(tmp_path, spec__bootstrap__joinWindow=window)
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 1
    assert "bootstrap.joinWindow" in result.stderr and says in result.stderr


def test_secrets_file_with_credentials_round_trips_and_rejects_a_foreign_key(
    tmp_path: Path,
) -> None:
    spec = certificate_spec(tmp_path)
    render(spec, tmp_path / "out")
    path = default_secrets_path(spec)
    value = stored(spec)
    assert secrets.load(path, "prod") == value
    data = yaml.safe_load(path.read_text())
    data["joinCredentials"]["w1"]["key"] = data["joinCredentials"]["w2"]["key"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(secrets.SecretsError, match=r"joinCredentials\.w1: the key does not belong"):
        secrets.load(path, "prod")


def test_explain_status_advice_names_the_renewal() -> None:
    advice = " ".join(ADVICE["join-credential-expired"].split())
    assert "k8sgen render SPEC --renew-join-credential <this node>" in advice
    assert "joinWindow" in advice


def test_join_credential_expired_is_a_reason_status_json_may_hold() -> None:
    text = (REPO / "schemas" / "status.schema.json").read_text()
    reasons = json.loads(text)["$defs"]["reason"]["enum"]
    assert "join-credential-expired" in reasons
    library = (REPO / "templates" / "bootstrap" / "lib" / "kubeadm-join.sh").read_text()
    assert library.count("fail_because join-credential-expired") == 2


def test_secrets_file_changed_meanwhile_is_not_replaced(tmp_path: Path) -> None:
    spec = certificate_spec(tmp_path)
    render(spec, tmp_path / "out")
    path = default_secrets_path(spec)
    before = stored(spec)
    grown = dataclasses.replace(before, nodes={**before.nodes, "w9": "worker"})
    other = dataclasses.replace(before, nodes={**before.nodes, "w8": "worker"})
    secrets.write_additions(path, before, other)  # someone else's render meanwhile
    with pytest.raises(secrets.SecretsError, match="changed while k8sgen ran"):
        secrets.write_additions(path, before, grown)
    assert stored(spec) == other
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_certs_lists_each_join_certificate_and_how_it_is_renewed(tmp_path: Path) -> None:
    spec = certificate_spec(tmp_path)
    render(spec, tmp_path / "out")
    result = CliRunner().invoke(cli, ["certs", str(spec)])
    assert result.exit_code == 0, result.output
    until = stored(spec).join_credentials["w1"].certificate.not_valid_after_utc
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("system:node:w1 ")]
    assert f"{until:%Y-%m-%d %H:%M} UTC" in line
    assert "k8sgen render --renew-join-credential w1" in line
