"""Certificates (issue 14): spec.certificates, `k8sgen certs`, the control planes' renewal timer.

The real kubeadm's side (the lifetimes it gives, the renewal script renewing real certificates
only inside its threshold) is tests/k8s/test_certs_real.py.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509

from generator import secrets
from generator.app import default_secrets_path
from generator.cli import cli
from generator.render import renewal
from generator.secrets import certs, pki

from .support.kubeadm import api_validator
from .support.nodedata import cloud_config, files, kubeadm_documents
from .support.sandbox import Sandbox
from .support.specs import Rendered, example, render_spec, write_spec
from .support.tools import need

RENEWAL_SCRIPT = "/usr/local/sbin/k8sgen-cert-renewal"
RENEWAL_SERVICE = "/etc/systemd/system/k8sgen-cert-renewal.service"
RENEWAL_TIMER = "/etc/systemd/system/k8sgen-cert-renewal.timer"
RESTORE_UNIT = "/etc/systemd/system/k8sgen-manifest-restore.service"
RENEWAL_CONFIG = "/etc/k8sgen/renewal-cluster.yaml"
RENEWAL_FILES = {RENEWAL_SCRIPT, RENEWAL_SERVICE, RENEWAL_TIMER, RESTORE_UNIT, RENEWAL_CONFIG}
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
        ({"renewBefore": "8760h"}, "renewBefore", "at most validity - 48h"),
        # a renewed certificate needs 48h outside the window: 8712h is the most for 8760h
        ({"renewBefore": "8713h"}, "renewBefore", "less than 48h between a renewal"),
        # one control plane: its window must be longer than one missed daily run (48h)
        ({"renewBefore": "48h"}, "renewBefore", "too short for 1 control plane(s)"),
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


def test_the_stagger_needs_48h_per_control_plane(tmp_path: Path) -> None:
    """ha-vip has three control planes: the third renews at renewBefore - 96h, which must
    leave more than 48h; the error names the line of renewBefore."""
    refused = run("validate", str(spec_with(tmp_path, "ha-vip", renewBefore="144h")))
    assert refused.exit_code == 1
    assert "too short for 3 control plane(s)" in refused.stderr
    assert "set renewBefore above 144h" in refused.stderr
    assert re.search(r"cluster\.yaml:\d+: spec\.certificates\.renewBefore", refused.stderr)
    accepted = run("validate", str(spec_with(tmp_path, "ha-vip", renewBefore="145h")))
    assert accepted.exit_code == 0, accepted.output


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
    ends = {
        "ca": value.ca.certificate.not_valid_after_utc,
        "etcd-ca": value.etcd_ca.certificate.not_valid_after_utc,
        "front-proxy-ca": value.front_proxy_ca.certificate.not_valid_after_utc,
    }
    for made in ("apiserver", "etcd-peer", "front-proxy-client", "scheduler.conf"):
        # kubeadm does not cap a leaf at its CA: whichever ends first
        cap = f"{ends[table[made][1]]:%Y-%m-%d %H:%M} UTC"
        assert table[made][2:] == [
            "master1",
            f"min(first boot + 4380h, {cap})",
            "k8sgen-cert-renewal.timer",
            "first boot + 4020h, then every 4020h",
        ], made
    assert table["super-admin.conf"][2] == "master1"
    # the init node's first kubelet client certificate is kubeadm's, for validity
    first = table["kubelet client (first)"]
    assert first[:4] == ["kubeadm", "ca", "master1", f"min(first boot + 4380h, {ca_end})"]
    assert table["kubelet client"][2:4] == ["every node", "first boot + 8760h"]
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
    assert apiserver["signedBy"] == "ca"
    assert apiserver["notAfter"].startswith("min(first boot + 8760h, ")
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
        has = {p for p in RENEWAL_FILES if p in written}
        assert has == (RENEWAL_FILES if node.is_control_plane else set())
        runcmd = cloud_config(ha, node.name)["runcmd"]
        enable = ["systemctl", "enable", "--now", "k8sgen-cert-renewal.timer"]
        assert (enable in runcmd) == node.is_control_plane
        restore = ["systemctl", "enable", "k8sgen-manifest-restore.service"]
        assert (restore in runcmd) == node.is_control_plane


def test_the_renewal_configuration_is_the_cluster_configuration_alone(ha: Rendered) -> None:
    """No InitConfiguration (node-specific, carries the token): the ClusterConfiguration of the
    init node's kubeadm.yaml, lifetimes included."""
    init = list(yaml.safe_load_all(files(ha, "cp1")["/etc/k8sgen/kubeadm.yaml"]["content"]))
    cluster_configuration = clustered(init)["ClusterConfiguration"]
    for node in ha.cluster.control_planes:
        entry = files(ha, node.name)[RENEWAL_CONFIG]
        assert entry["permissions"] == "0600"
        assert list(yaml.safe_load_all(entry["content"])) == [cluster_configuration]


def test_the_script_carries_the_threshold(tmp_path: Path) -> None:
    rendered = render_spec(spec_with(tmp_path, renewBefore="240h"))
    script = files(rendered, "master1")[RENEWAL_SCRIPT]
    assert script["permissions"] == "0755"
    assert f"readonly RENEW_AFTER_SECONDS={240 * 3600}\n" in script["content"]


def test_control_planes_renew_two_days_apart_and_check_every_etcd_member(
    tmp_path: Path,
) -> None:
    rendered = render_spec(spec_with(tmp_path, "ha-vip", renewBefore="240h"))
    members = [f"https://{n.ip}:2379/health" for n in rendered.cluster.control_planes]
    assert len(members) == 3
    for index, node in enumerate(rendered.cluster.control_planes):
        script = files(rendered, node.name)[RENEWAL_SCRIPT]["content"]
        assert f"readonly RENEW_AFTER_SECONDS={(240 - index * 48) * 3600}\n" in script
        assert f"readonly ETCD_HEALTH_URLS=({' '.join(members)})\n" in script


def test_the_restore_unit_runs_before_the_kubelet(ha: Rendered) -> None:
    """Manifests parked by a run that died go back before the kubelet reads the folder, on
    every boot the kubelet starts, without the expiry check (`restore`)."""
    lines = files(ha, "cp2")[RESTORE_UNIT]["content"].splitlines()
    assert "Before=kubelet.service" in lines
    assert "Type=oneshot" in lines
    assert f"ExecStart={RENEWAL_SCRIPT} restore" in lines
    wanted_by = next(line for line in lines if line.startswith("WantedBy="))
    assert "kubelet.service" in wanted_by.removeprefix("WantedBy=").split()


def test_renewal_units_pass_systemd_analyze_verify(ha: Rendered, tmp_path: Path) -> None:
    """systemd's own checker, with the rendered script in place (in a sandboxed /usr/local)."""
    tool = need("systemd-analyze")
    box = Sandbox(tmp_path, ha, "cp1")
    units = []
    for path in (RENEWAL_SERVICE, RENEWAL_TIMER, RESTORE_UNIT):
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


def test_an_ipv6_control_plane_checks_etcd_at_urls_curl_accepts(tmp_path: Path) -> None:
    """IPv6 addresses in brackets (curl refuses https://fd00::11:2379/), and etcd's plain-http
    /health where kubeadm puts it for an IPv6 advertise address: http://[::1]:2381."""
    rendered = render_spec(write_spec(tmp_path, example("ipv6")))
    cluster = rendered.cluster
    node = cluster.init_node
    script = renewal.renewal_script(cluster, node)
    urls = re.search(r"ETCD_HEALTH_URLS=\((.*)\)", script)
    assert urls
    for url in urls.group(1).replace("'", "").split():
        split = urlsplit(url)
        assert ipaddress.ip_address(split.hostname or "").version == 6, url
        assert split.port == renewal.ETCD_CLIENT_PORT, url
    assert f"http://[::1]:{renewal.ETCD_METRICS_PORT}/health" in script
    (tmp_path / "v4").mkdir()
    single = render_spec(write_spec(tmp_path / "v4", example("single")))
    v4_script = renewal.renewal_script(single.cluster, single.cluster.init_node)
    assert f"http://127.0.0.1:{renewal.ETCD_METRICS_PORT}/health" in v4_script
