"""spec.certificates and the control planes' renewal, proved with the real kubeadm (issue 14).

- kubeadm accepts the rendered lifetimes (`kubeadm config validate`) and its certificate and
  kubeconfig phases give every leaf certificate `certificates.validity` (read back by openssl),
  signed by k8sgen's CAs, which it keeps.
- The rendered renewal script, run in the bubblewrap sandbox of tests/support/sandbox with
  this kubeadm on PATH, on a control plane's /etc/kubernetes made by that kubeadm: outside
  renewBefore it renews nothing (every not-after unchanged); inside it renews them all (every
  not-after moves) and restarts the static pods by parking their manifests; manifests parked
  by an interrupted or stopped run go back.
- kubeadm v1beta3 (1.30) refuses certificateValidityPeriod, as `k8sgen validate` does.
kubeadm runs outside the sandbox in namespaces of its own (tests/k8s/netns.py), inside it in
the sandbox's own empty network namespace.
"""

from __future__ import annotations

import base64
import datetime
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from generator import versions
from generator.cli import cli
from generator.layout import PKI_STASH

from ..support.nodedata import files
from ..support.sandbox import Run, Sandbox
from ..support.specs import Rendered, example, render_spec, write_spec
from ..support.tools import need
from .binaries import FULL_RELEASE, kubeadm, kubeadm_releases
from .netns import isolated

INIT = "master1"
KUBEADM_CONFIG = "/etc/k8sgen/kubeadm.yaml"
RENEWAL_SCRIPT = "/usr/local/sbin/k8sgen-cert-renewal"
RENEWAL_CONFIG = "/etc/k8sgen/renewal-cluster.yaml"
KUBERNETES_DIR = "/etc/kubernetes"
# What kubeadm's phases make on an init node, relative to /etc/kubernetes.
LEAVES = (
    "pki/apiserver.crt",
    "pki/apiserver-kubelet-client.crt",
    "pki/apiserver-etcd-client.crt",
    "pki/front-proxy-client.crt",
    "pki/etcd/server.crt",
    "pki/etcd/peer.crt",
    "pki/etcd/healthcheck-client.crt",
)
KUBECONFIGS = ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf")
STATIC_PODS = ("etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml")
MINUTE = datetime.timedelta(minutes=1)


def rendered_with(folder: Path, **certificates: str) -> Rendered:
    data = example(
        "single", spec__kubernetes__version=FULL_RELEASE, spec__certificates=certificates
    )
    folder.mkdir(exist_ok=True)
    return render_spec(write_spec(folder, data))


def run_kubeadm(*args: str, minor: int = versions.minor_of(FULL_RELEASE)) -> str:
    program = kubeadm(minor)
    result = subprocess.run(
        isolated([str(program), *args]), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"kubeadm {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def make_control_plane(rendered: Rendered, kubernetes: Path, validity: str = "") -> None:
    """KUBERNETES (a control plane's /etc/kubernetes) as `kubeadm init` leaves it: k8sgen's
    CA material, then kubeadm's certificates and kubeconfigs, made by the real kubeadm (for
    VALIDITY, when given, instead of the spec's)."""
    for path, entry in files(rendered, INIT).items():
        if path.startswith(PKI_STASH + "/"):
            target = kubernetes / "pki" / Path(path).relative_to(PKI_STASH)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(entry["content"])
    documents: list[dict[str, Any]] = list(
        yaml.safe_load_all(files(rendered, INIT)[KUBEADM_CONFIG]["content"])
    )
    for document in documents:
        if document["kind"] == "ClusterConfiguration":
            document["certificatesDir"] = str(kubernetes / "pki")  # not this machine's
            if validity:
                document["certificateValidityPeriod"] = validity
    config = kubernetes.parent / "kubeadm-test.yaml"
    config.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    minor = rendered.cluster.kubernetes.minor
    run_kubeadm("init", "phase", "certs", "all", "--config", str(config), minor=minor)
    run_kubeadm(
        "init", "phase", "kubeconfig", "all", "--config", str(config),
        "--kubeconfig-dir", str(kubernetes), minor=minor,
    )  # fmt: skip


def openssl_not_after(pem: bytes) -> datetime.datetime:
    """The not-after date as openssl reads it (`openssl x509 -enddate`)."""
    result = subprocess.run(
        [need("openssl"), "x509", "-noout", "-enddate", "-dateopt", "iso_8601"],
        input=pem,
        capture_output=True,
        check=True,
    )
    text = result.stdout.decode().strip().removeprefix("notAfter=")
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%SZ").replace(tzinfo=datetime.UTC)


def client_certificate(kubeconfig: Path) -> bytes:
    data = yaml.safe_load(kubeconfig.read_text())
    return base64.b64decode(data["users"][0]["user"]["client-certificate-data"])


def not_afters(kubernetes: Path) -> dict[str, datetime.datetime]:
    """Every kubeadm-made certificate's not-after, by its path under /etc/kubernetes."""
    dates = {leaf: openssl_not_after((kubernetes / leaf).read_bytes()) for leaf in LEAVES}
    for name in KUBECONFIGS:
        dates[name] = openssl_not_after(client_certificate(kubernetes / name))
    return dates


def test_kubeadm_gives_its_certificates_the_configured_validity(tmp_path: Path) -> None:
    rendered = rendered_with(tmp_path, validity="100h", caValidity="43800h", renewBefore="50h")
    config = tmp_path / "init.yaml"
    config.write_text(files(rendered, INIT)[KUBEADM_CONFIG]["content"])
    result = subprocess.run(
        isolated(
            [str(kubeadm(versions.minor_of(FULL_RELEASE))), "config", "validate", "--config",
             str(config)]
        ),
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert (result.returncode, result.stdout.strip(), result.stderr) == (0, "ok", "")
    kubernetes = tmp_path / "etc-kubernetes"
    before = datetime.datetime.now(datetime.UTC)
    make_control_plane(rendered, kubernetes)
    after = datetime.datetime.now(datetime.UTC)
    validity = datetime.timedelta(hours=100)
    dates = not_afters(kubernetes)
    assert set(dates) == {*LEAVES, *KUBECONFIGS}
    for name, date in dates.items():
        # openssl prints whole seconds
        assert before + validity - MINUTE <= date <= after + validity + MINUTE, name
    ca = openssl_not_after((kubernetes / "pki/ca.crt").read_bytes())
    assert ca == rendered.secrets.ca.certificate.not_valid_after_utc  # kept, not re-made
    assert abs(ca - (before + datetime.timedelta(hours=43800))) < 10 * MINUTE


# The spec of the renewal runs: one control plane, so the window is renewBefore itself.
VALIDITY = datetime.timedelta(hours=240)
RENEWAL_SPEC = {"validity": "240h", "renewBefore": "72h"}


def renewal_box(tmp_path: Path, validity: str = "", minor: int = 0) -> Sandbox:
    """A control plane in the sandbox with the rendered renewal script of RENEWAL_SPEC (for
    Kubernetes MINOR's latest cached release, FULL_RELEASE's by default) and that minor's real
    kubeadm; its kubeadm certificates made for VALIDITY (the spec's when empty)."""
    release = kubeadm_releases()[minor] if minor else FULL_RELEASE
    settings = (
        RENEWAL_SPEC if versions.KUBERNETES[versions.minor_of(release)].has_validity_periods else {}
    )
    data = example("single", spec__kubernetes__version=release, spec__certificates=settings)
    (tmp_path / "spec").mkdir()
    rendered = render_spec(write_spec(tmp_path / "spec", data))
    box = Sandbox(tmp_path / "box", rendered, INIT)
    make_control_plane(rendered, box.path(KUBERNETES_DIR), validity)
    for manifest in STATIC_PODS:
        box.write(f"{KUBERNETES_DIR}/manifests/{manifest}", f"# {manifest}\n", 0o600)
    # The sandbox has its own /root: kubeadm goes where it can see it.
    shutil.copy(kubeadm(versions.minor_of(release)), box.fake / "kubeadm-program")
    box.use_program("kubeadm", "/fake/kubeadm-program")
    return box


@pytest.fixture
def far_from_expiry(tmp_path: Path) -> Sandbox:
    return renewal_box(tmp_path)


@pytest.fixture
def near_expiry(tmp_path: Path) -> Sandbox:
    """Certificates with 48 hours left: inside renewBefore (72h)."""
    return renewal_box(tmp_path, validity="48h")


def record_static_pods_during_sleep(box: Sandbox) -> None:
    """While the script sleeps, what the kubelet would see: the static-pod folder."""
    probe = box.fake / "sleep-probe"
    probe.write_text(
        "#!/bin/bash\n"
        'printf \'%q \' sleep "$@" >>"$FAKE/calls.log"; printf \'\\n\' >>"$FAKE/calls.log"\n'
        'ls -A /etc/kubernetes/manifests >>"$FAKE/during-sleep"\n'
    )
    probe.chmod(0o755)
    (box.root / "usr/local/bin/sleep").unlink()
    (box.root / "usr/local/bin/sleep").symlink_to("/fake/sleep-probe")


def kubeadm_verbs(run: Run) -> list[list[str]]:
    return [c[1:3] for c in run.named("kubeadm")]


@pytest.mark.parametrize("minor", sorted(kubeadm_releases()))
def test_renewal_outside_the_threshold_renews_nothing(tmp_path: Path, minor: int) -> None:
    """Each minor's kubeadm takes the rendered renewal-cluster.yaml (v1beta3 on 1.30) and its
    `check-expiration -o jsonpath` listing reads as the script expects."""
    box = renewal_box(tmp_path, minor=minor)
    kubernetes = box.path(KUBERNETES_DIR)
    before = not_afters(kubernetes)
    run = box.run(script=RENEWAL_SCRIPT)
    assert run.returncode == 0, run.output
    # kubeadm listed the 11 certificates of an init node (super-admin.conf included)
    assert "checked 11 certificates" in run.output
    assert "nothing to renew" in run.output
    assert kubeadm_verbs(run) == [["certs", "check-expiration"]]
    assert run.named("kubeadm")[0][3:5] == ["--config", RENEWAL_CONFIG]
    assert run.named("sleep") == [] and run.named("curl") == []
    assert not_afters(kubernetes) == before
    assert sorted(p.name for p in (kubernetes / "manifests").iterdir()) == sorted(STATIC_PODS)


def test_renewal_inside_the_threshold_renews_for_validity_and_restarts_static_pods(
    near_expiry: Sandbox,
) -> None:
    """No API server answers in the sandbox: kubeadm takes validity (240h) from
    renewal-cluster.yaml, not its default year."""
    box = near_expiry
    kubernetes = box.path(KUBERNETES_DIR)
    record_static_pods_during_sleep(box)
    renewing = datetime.datetime.now(datetime.UTC)
    run = box.run(script=RENEWAL_SCRIPT)
    assert run.returncode == 0, run.output
    assert kubeadm_verbs(run) == [
        ["certs", "check-expiration"],
        ["certs", "renew"],
        ["certs", "check-expiration"],
    ], run.output
    for name, date in not_afters(kubernetes).items():
        assert renewing + VALIDITY - MINUTE <= date <= renewing + VALIDITY + 5 * MINUTE, name
    assert run.named("kubeadm")[1][3:6] == ["all", "--config", RENEWAL_CONFIG]
    assert run.named("sleep") == [["sleep", "30"]]
    assert (box.fake / "during-sleep").read_text() == ""  # every manifest parked
    assert sorted(p.name for p in (kubernetes / "manifests").iterdir()) == sorted(STATIC_PODS)
    assert sorted(p.name for p in kubernetes.iterdir() if "k8sgen-renewal" in p.name) == []
    assert "static pods starting again" in run.output
    urls = [c[-1] for c in run.named("curl")]
    # every etcd member before parking; then this node's etcd and API server
    assert urls == [
        f"https://{box.rendered.cluster.init_node.ip}:2379/health",
        "http://127.0.0.1:2381/health",
        "https://127.0.0.1:6443/livez",
    ], run.output
    assert "--cert" in run.named("curl")[0]


def test_a_join_like_control_plane_without_super_admin_renews_too(near_expiry: Sandbox) -> None:
    """A joined control plane has no super-admin.conf: kubeadm lists it missing, the script
    skips it and renews the other ten."""
    box = near_expiry
    kubernetes = box.path(KUBERNETES_DIR)
    (kubernetes / "super-admin.conf").unlink()
    renewing = datetime.datetime.now(datetime.UTC)
    run = box.run(script=RENEWAL_SCRIPT)
    assert run.returncode == 0, run.output
    assert "checked 10 certificates" in run.output
    assert not (kubernetes / "super-admin.conf").exists()
    for leaf in LEAVES:
        date = openssl_not_after((kubernetes / leaf).read_bytes())
        assert renewing + VALIDITY - MINUTE <= date <= renewing + VALIDITY + 5 * MINUTE, leaf


def test_renewal_waits_for_a_healthy_etcd_before_restarting(near_expiry: Sandbox) -> None:
    """A member that does not answer healthy: nothing renewed, nothing parked, exit 1 (the
    timer tries again the next day)."""
    box = near_expiry
    kubernetes = box.path(KUBERNETES_DIR)
    before = not_afters(kubernetes)
    box.rule("curl", ":2379/health", -1, "fail", 22, "curl: (22) The requested URL returned 503")
    run = box.run(script=RENEWAL_SCRIPT)
    assert run.returncode == 1, run.output
    assert "etcd member not healthy, no restart now" in run.output
    assert kubeadm_verbs(run) == [["certs", "check-expiration"]]
    assert run.named("sleep") == []
    assert not_afters(kubernetes) == before


def test_renewal_fails_loudly_when_the_api_server_does_not_come_back(
    near_expiry: Sandbox,
) -> None:
    box = near_expiry
    box.rule("curl", "6443/livez", -1, "fail", 7, "curl: (7) Failed to connect")
    run = box.run(script=RENEWAL_SCRIPT)
    assert run.returncode == 1, run.output
    assert "https://127.0.0.1:6443/livez does not answer after 180s" in run.output
    assert run.sleeps() == [30] + [5] * 36  # bounded
    manifests = box.path(f"{KUBERNETES_DIR}/manifests")
    assert sorted(p.name for p in manifests.iterdir()) == sorted(STATIC_PODS)


def test_renewal_puts_back_manifests_an_interrupted_run_parked(
    far_from_expiry: Sandbox,
) -> None:
    box = far_from_expiry
    manifests = box.path(f"{KUBERNETES_DIR}/manifests")
    parked = box.path(f"{KUBERNETES_DIR}/manifests.k8sgen-renewal.AbC123")
    parked.mkdir()
    (manifests / "kube-apiserver.yaml").rename(parked / "kube-apiserver.yaml")
    run = box.run(script=RENEWAL_SCRIPT)
    assert run.returncode == 0, run.output
    assert "putting back /etc/kubernetes/manifests.k8sgen-renewal.AbC123" in run.output
    assert sorted(p.name for p in manifests.iterdir()) == sorted(STATIC_PODS)
    assert not parked.exists()


def test_boot_restore_keeps_the_live_manifest_on_a_name_clash(far_from_expiry: Sandbox) -> None:
    """`restore` (the boot unit, before the kubelet): parked manifests back, a live one of the
    same name kept (the parked one set aside as .stale), no certificate checked."""
    box = far_from_expiry
    manifests = box.path(f"{KUBERNETES_DIR}/manifests")
    parked = box.path(f"{KUBERNETES_DIR}/manifests.k8sgen-renewal.XyZ789")
    parked.mkdir()
    (manifests / "etcd.yaml").rename(parked / "etcd.yaml")
    (parked / "kube-apiserver.yaml").write_text("# parked, older\n")
    run = box.run(script=RENEWAL_SCRIPT, args=("restore",))
    assert run.returncode == 0, run.output
    assert run.named("kubeadm") == []
    assert sorted(p.name for p in manifests.iterdir()) == sorted(STATIC_PODS)
    assert (manifests / "kube-apiserver.yaml").read_text() == "# kube-apiserver.yaml\n"
    stale = box.path(f"{KUBERNETES_DIR}/manifests.k8sgen-stale/kube-apiserver.yaml.stale")
    assert stale.read_text() == "# parked, older\n"
    assert not parked.exists()


def test_a_failed_restore_does_not_block_the_expiry_check(near_expiry: Sandbox) -> None:
    """A parked folder that cannot be emptied (a file the script does not move): logged, and
    the certificates are checked and renewed all the same."""
    box = near_expiry
    parked = box.path(f"{KUBERNETES_DIR}/manifests.k8sgen-renewal.Stuck1")
    parked.mkdir()
    (parked / ".hidden").write_text("")
    run = box.run(script=RENEWAL_SCRIPT)
    assert run.returncode == 0, run.output
    assert "restore failed" in run.output
    assert kubeadm_verbs(run)[:2] == [["certs", "check-expiration"], ["certs", "renew"]]


def test_renewal_stopped_while_parked_puts_the_manifests_back(near_expiry: Sandbox) -> None:
    """systemctl stop (SIGTERM to the service) during the wait: the static pods come back."""
    box = near_expiry
    box.rule("sleep", "30", 1, "term")
    run = box.run(script=RENEWAL_SCRIPT)
    assert run.returncode != 0, run.output
    manifests = box.path(f"{KUBERNETES_DIR}/manifests")
    assert sorted(p.name for p in manifests.iterdir()) == sorted(STATIC_PODS)
    assert [p for p in box.path(KUBERNETES_DIR).iterdir() if "k8sgen-renewal" in p.name] == []


def test_kubeadm_v1beta3_has_no_validity_field_as_validate_says(tmp_path: Path) -> None:
    """k8sgen refuses certificates.validity where kubeadm's API is v1beta3; kubeadm of that
    minor refuses the field too (and takes the v1beta4 rendering of a later minor)."""
    data = example("debian12-k8s130", spec__certificates={"validity": "48h"})
    refused = CliRunner().invoke(cli, ["validate", str(write_spec(tmp_path, data))])
    assert refused.exit_code == 1
    assert "v1beta3, which has no certificateValidityPeriod" in refused.stderr
    rendered = render_spec(write_spec(tmp_path, example("debian12-k8s130")))
    node = rendered.cluster.init_node.name
    documents = list(yaml.safe_load_all(files(rendered, node)[KUBEADM_CONFIG]["content"]))
    for document in documents:
        if document["kind"] == "ClusterConfiguration":
            assert document["apiVersion"] == versions.V1BETA3
            document["certificateValidityPeriod"] = "48h"
    config = tmp_path / "v1beta3.yaml"
    config.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    program = kubeadm(rendered.cluster.kubernetes.minor)
    result = subprocess.run(
        isolated([str(program), "config", "validate", "--config", str(config)]),
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert 'unknown field "certificateValidityPeriod"' in result.stderr
