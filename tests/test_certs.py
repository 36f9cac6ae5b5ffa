"""Certificates (issue 14): spec.certificates, `k8sgen certs`, the control planes' renewal timer.

The real kubeadm's side (the lifetimes it gives, the renewal script renewing real certificates
only inside its threshold) is tests/k8s/test_certs_real.py.
"""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509

from generator import certs, pki, secrets
from generator.app import default_secrets_path
from generator.cli import cli

from .support.kubeadm import api_validator
from .support.nodedata import cloud_config, files, kubeadm_documents
from .support.sandbox import Sandbox
from .support.specs import Rendered, example, render_spec, write_spec
from .support.tools import need

RENEWAL_SCRIPT = "/usr/local/sbin/k8sgen-cert-renewal"
RENEWAL_SERVICE = "/etc/systemd/system/k8sgen-cert-renewal.service"
RENEWAL_TIMER = "/etc/systemd/system/k8sgen-cert-renewal.timer"
DAY = datetime.timedelta(days=1)


def spec_with(tmp_path: Path, name: str = "single", **certificates: str) -> Path:
    return write_spec(tmp_path, example(name, spec__certificates=certificates))


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, [*args])


def clustered(data: dict[str, Any]) -> dict[str, Any]:
    return {d["kind"]: d for d in data}


# --- the spec field -----------------------------------------------------------------------


def test_validity_periods_reach_kubeadm_v1beta4_when_set(tmp_path: Path) -> None:
    rendered = render_spec(spec_with(tmp_path, validity="4380h", caValidity="43800h"))
    documents = clustered(kubeadm_documents(rendered, "master1"))
    config = documents["ClusterConfiguration"]
    assert config["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert config["certificateValidityPeriod"] == "4380h"
    assert config["caCertificateValidityPeriod"] == "43800h"
    errors = api_validator("kubeadm.k8s.io/v1beta4").iter_errors(config)
    assert [e.message for e in errors] == []


def test_without_the_field_kubeadm_keeps_its_defaults(tmp_path: Path) -> None:
    rendered = render_spec(write_spec(tmp_path, example("single")))
    config = clustered(kubeadm_documents(rendered, "master1"))["ClusterConfiguration"]
    assert "certificateValidityPeriod" not in config
    assert "caCertificateValidityPeriod" not in config


def test_v1beta3_refuses_validity_with_file_and_line(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, "debian12-k8s130", validity="4380h")
    result = run("validate", str(spec))
    assert result.exit_code == 1
    line = next(n for n, t in enumerate(spec.read_text().splitlines(), 1) if "validity:" in t)
    assert f"{spec}:{line}: spec.certificates.validity: Kubernetes 1.30.14 uses kubeadm " in (
        result.stderr
    )
    assert "kubeadm.k8s.io/v1beta3, which has no certificateValidityPeriod" in result.stderr


def test_v1beta3_keeps_ca_validity_k8sgen_mints_the_cas(tmp_path: Path) -> None:
    rendered = render_spec(spec_with(tmp_path, "debian12-k8s130", caValidity="43800h"))
    config = clustered(kubeadm_documents(rendered, "cp"))["ClusterConfiguration"]
    assert "caCertificateValidityPeriod" not in config  # v1beta3 has no such field
    ca = rendered.secrets.ca.certificate
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert lifetime == datetime.timedelta(hours=43800) + pki.CLOCK_SKEW


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        ({"validity": "0h"}, "validity", "0h is no lifetime"),
        ({"validity": "87601h"}, "validity", "longer than caValidity (87600h)"),
        ({"caValidity": "100h"}, "caValidity", "validity (8760h) is longer than caValidity"),
        ({"renewBefore": "8760h"}, "renewBefore", "not shorter than validity (8760h)"),
        ({"renewBefore": "1y"}, "renewBefore", "such as 8760h or 1h30m (units h, m, s; no d or y)"),
    ],
)
def test_bad_lifetimes_are_refused_on_their_field(
    tmp_path: Path, settings: dict[str, str], field: str, message: str
) -> None:
    result = run("validate", str(spec_with(tmp_path, **settings)))
    assert result.exit_code == 1
    problem = next(line for line in result.stderr.splitlines() if f"certificates.{field}" in line)
    assert message in problem, result.stderr


def test_a_renewal_window_under_two_days_is_a_warning(tmp_path: Path) -> None:
    result = run("validate", str(spec_with(tmp_path, validity="24h", renewBefore="12h")))
    assert result.exit_code == 0, result.output
    assert "spec.certificates.renewBefore: 12h: the renewal timer runs once a day" in result.stderr


def test_new_secrets_use_ca_validity_and_admin_uses_validity(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, validity="720h", caValidity="17520h", renewBefore="240h")
    assert run("secrets", str(spec)).exit_code == 0
    value = secrets.load(default_secrets_path(spec), "demo")
    for pair, hours in ((value.ca, 17520), (value.etcd_ca, 17520), (value.admin, 720)):
        cert = pair.certificate
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert lifetime == datetime.timedelta(hours=hours) + pki.CLOCK_SKEW


# --- k8sgen certs -----------------------------------------------------------------------------


def test_certs_needs_the_secrets_file(tmp_path: Path) -> None:
    spec = spec_with(tmp_path)
    result = run("certs", str(spec))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {default_secrets_path(spec)}: no secrets file; the table reads the certificates "
        "k8sgen minted there (pass --secrets, or run k8sgen render first)\n"
    )


def add_client_credential(secrets_file: Path, value: secrets.ClusterSecrets) -> x509.Certificate:
    """What another part of k8sgen may store: a node's client certificate, in a shape the table
    does not know beforehand."""
    now = datetime.datetime.now(datetime.UTC)
    pair = pki.new_client_cert(value.ca, "system:node:node1", ("system:nodes",), now, 7 * DAY)
    data = yaml.safe_load(secrets_file.read_text())
    data["someCredentials"] = {"node1": {"cert": pair.cert, "key": pair.key}}
    secrets_file.write_text(yaml.safe_dump(data))
    return pair.certificate


def test_certs_table_lists_what_k8sgen_minted_and_what_kubeadm_makes(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, validity="4380h", renewBefore="360h")
    assert run("secrets", str(spec)).exit_code == 0
    path = default_secrets_path(spec)
    value = secrets.load(path, "demo")
    extra = add_client_credential(path, value)
    result = run("certs", str(spec))
    assert result.exit_code == 0, result.output
    rows = [line.split("  ") for line in result.stdout.splitlines()]
    table = {r[0]: [c.strip() for c in r[1:] if c.strip()] for r in rows if r[0]}
    ca_end = f"{value.ca.certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    assert table["ca"][:4] == ["k8sgen", "self", "secrets file", ca_end]
    assert table["front-proxy-ca"][:2] == ["k8sgen", "self"]
    admin_end = f"{value.admin.certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    assert table["kubernetes-admin (kubeadm:cluster-admins)"][2:4] == ["admin.conf", admin_end]
    node_end = f"{extra.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    assert table["system:node:node1 (system:nodes)"][:4] == [
        "k8sgen",
        "ca",
        "secrets file",
        node_end,
    ]
    for made in ("apiserver", "etcd-peer", "front-proxy-client", "scheduler.conf"):
        assert table[made][2:] == [
            "master1",
            "first boot + 4380h",
            "k8sgen-cert-renewal.timer",
            "first boot + 4020h, then every 4020h",
        ], made
    assert table["super-admin.conf"][2] == "master1"
    assert table["kubelet client"][2] == "every node"
    assert "once one kubeadm certificate has renewBefore (360h) or less left" in result.stdout


def test_certs_json_has_the_same_rows(tmp_path: Path) -> None:
    spec = spec_with(tmp_path)
    assert run("secrets", str(spec)).exit_code == 0
    text = run("certs", str(spec)).stdout
    data = json.loads(run("certs", str(spec), "--format", "json").stdout)
    assert data["cluster"] == "demo"
    names = [row["name"] for row in data["certificates"]]
    assert names == [line.split("  ")[0] for line in text.splitlines()[1 : len(names) + 1]]
    apiserver = next(r for r in data["certificates"] if r["name"] == "apiserver")
    assert apiserver["path"] == "/etc/kubernetes/pki/apiserver.crt"
    assert (apiserver["signedBy"], apiserver["notAfter"]) == ("ca", "first boot + 8760h")
    assert apiserver["renewedBy"] == "k8sgen-cert-renewal.timer"


def test_a_stored_ca_of_another_lifetime_is_kept_with_a_warning(tmp_path: Path) -> None:
    spec = spec_with(tmp_path)
    assert run("secrets", str(spec)).exit_code == 0
    before = secrets.load(default_secrets_path(spec), "demo")
    longer = spec_with(tmp_path, caValidity="175200h")
    result = run("certs", str(longer))
    assert result.exit_code == 0
    assert "warning: the stored CA ca lives 87600h5m" in result.stderr
    assert "caValidity applies to new secrets only" in result.stderr
    out = tmp_path / "out"
    rendered = run("render", str(longer), "-o", str(out))
    assert rendered.exit_code == 0, rendered.output
    assert "warning: the stored CA etcdCA lives 87600h5m" in rendered.stderr
    # The CAs stay; render only adds the nodes' join certificates and its record of them.
    after = secrets.load(default_secrets_path(spec), "demo")
    assert (after.ca, after.front_proxy_ca, after.etcd_ca) == (
        before.ca,
        before.front_proxy_ca,
        before.etcd_ca,
    )


# --- the renewal timer ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    folder = tmp_path_factory.mktemp("ha")
    return render_spec(write_spec(folder, example("ha-vip")))


def test_only_control_planes_get_the_renewal_timer(ha: Rendered) -> None:
    for node in ha.cluster.nodes:
        written = files(ha, node.name)
        has = {p for p in (RENEWAL_SCRIPT, RENEWAL_SERVICE, RENEWAL_TIMER) if p in written}
        assert has == (
            {RENEWAL_SCRIPT, RENEWAL_SERVICE, RENEWAL_TIMER} if node.is_control_plane else set()
        )
        enable = ["systemctl", "enable", "--now", "k8sgen-cert-renewal.timer"]
        assert (enable in cloud_config(ha, node.name)["runcmd"]) == node.is_control_plane


def test_the_script_carries_the_threshold(tmp_path: Path) -> None:
    rendered = render_spec(spec_with(tmp_path, renewBefore="240h"))
    script = files(rendered, "master1")[RENEWAL_SCRIPT]
    assert script["permissions"] == "0755"
    assert f"readonly RENEW_BEFORE_SECONDS={240 * 3600}\n" in script["content"]


def test_renewal_units_pass_systemd_analyze_verify(ha: Rendered, tmp_path: Path) -> None:
    """systemd's own checker, with the rendered script in place (in a sandboxed /usr/local)."""
    tool = need("systemd-analyze")
    box = Sandbox(tmp_path, ha, "cp1")
    units = []
    for path in (RENEWAL_SERVICE, RENEWAL_TIMER):
        unit = tmp_path / Path(path).name
        unit.write_text(box.path(path).read_text())
        units.append(str(unit))
    result = subprocess.run(
        [
            box.bwrap,
            *("--bind", "/", "/", "--bind", str(box.root / "usr/local"), "/usr/local"),
            *("--dev", "/dev", "--proc", "/proc", "--unshare-net", "--die-with-parent"),
            *(tool, "verify", *units),
        ],
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_certificates_that_would_outlive_the_ca_are_warned_about(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, caValidity="8800h")
    assert run("secrets", str(spec)).exit_code == 0
    value = secrets.load(default_secrets_path(spec), "demo")
    cluster = render_spec(spec, value).cluster
    now = datetime.datetime.now(datetime.UTC)
    assert certs.lifetime_warnings(cluster, value, now) == []
    later = certs.lifetime_warnings(cluster, value, now + 2 * DAY)
    assert len(later) == 1
    assert later[0].startswith("certificates made from now on (validity 8760h) would end after")
