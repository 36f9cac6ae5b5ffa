"""spec.proxy: what a node's programs read, checked with them (curl, apt-config, cloud-init)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator.errors import SpecError
from generator.layout import APT_PROXY_CONF, BOOTSTRAP_UNIT_FILE, CONTAINERD_PROXY_DROPIN, PROXY_ENV
from generator.offline import lint
from generator.render import render
from generator.spec.load import load_text
from generator.spec.validate import validate

from .support.calico_download import run_calico_download
from .support.http_proxy import forward_proxy
from .support.loopback import file_server, running_containerd
from .support.nodedata import files, scripts
from .support.repo import REPO, calico_fixture
from .support.specs import Rendered, example, render_spec, write_spec
from .support.tools import check_with_cloud_init, cloud_init_writes_yum_repos, need

SITE = REPO / "examples" / "private-site.yaml"
PROXY = "http://192.168.40.5:3128"
BOOTSTRAP = "/usr/local/sbin/k8sgen-bootstrap"
# Outside noProxy: the node asks the proxy for it, and never resolves the name itself.
MIRROR_HOST = "calico-mirror.example"
MANIFEST_PATH = "/gh/projectcalico/calico@v3.30.7/manifests/calico.yaml"


def environment(rendered: Rendered, node: str) -> dict[str, str]:
    """proxy.env as systemd's EnvironmentFile= reads it (NAME=value lines)."""
    text = files(rendered, node)[PROXY_ENV]["content"]
    return dict(line.split("=", 1) for line in text.splitlines())


def test_no_proxy_holds_the_cluster_and_the_operators_hosts(tmp_path: Path) -> None:
    rendered = render_spec(SITE)
    no_proxy = environment(rendered, "cp1")["no_proxy"].split(",")
    for entry in (
        "localhost",
        "127.0.0.1",
        "192.168.40.0/24",  # the node network
        "10.244.0.0/16",  # pods
        "10.96.0.0/12",  # services
        "192.168.40.10",  # the control-plane endpoint host
        "192.168.40.21",  # each node's address and name (curl before 7.86 ignores networks)
        "w1",
        ".svc",
        ".cluster.local",
        "harbor.site.example",  # the operator's noProxy, last
        "192.168.50.0/24",
    ):
        assert entry in no_proxy, entry
    assert no_proxy.index("192.168.40.10") < no_proxy.index("harbor.site.example")
    domain = render_spec(
        write_spec(tmp_path, example("private-site", spec__kubernetes__dnsDomain="k.lan"))
    )
    assert ".k.lan" in environment(domain, "cp1")["no_proxy"].split(",")


def test_every_program_gets_the_proxy_but_the_kubelet() -> None:
    rendered = render_spec(SITE)
    node = files(rendered, "w1")
    env = environment(rendered, "w1")
    # Once, in lower case: curl reads http_proxy only so, Go, dnf and Python either case.
    assert env == {"http_proxy": PROXY, "https_proxy": PROXY, "no_proxy": env["no_proxy"]}
    assert f"EnvironmentFile={PROXY_ENV}\n" in node[BOOTSTRAP_UNIT_FILE]["content"]
    # containerd reads the same file: the variables are written once.
    assert node[CONTAINERD_PROXY_DROPIN]["content"] == f"[Service]\nEnvironmentFile={PROXY_ENV}\n"
    assert not any("kubelet.service.d" in path for path in node)


def test_apt_reads_the_proxy_and_the_direct_hosts(tmp_path: Path) -> None:
    rendered = render_spec(SITE)
    conf = tmp_path / "proxy.conf"
    conf.write_text(files(rendered, "cp1")[APT_PROXY_CONF]["content"])
    dumped = subprocess.run(
        [need("apt-config"), "-c", str(conf), "dump"], capture_output=True, text=True, check=True
    ).stdout
    assert f'Acquire::http::Proxy "{PROXY}";' in dumped
    assert f'Acquire::https::Proxy "{PROXY}";' in dumped
    assert 'Acquire::https::Proxy::harbor.site.example "DIRECT";' in dumped
    assert "Proxy::w1 " not in dumped  # the cluster's own hosts serve no packages


def test_dnf_repositories_name_the_proxy(tmp_path: Path) -> None:
    data = example("rocky9", spec__proxy={"http": PROXY, "https": PROXY})
    rendered = render_spec(write_spec(tmp_path, data))
    config = yaml.safe_load(rendered.text(f"nodes/{rendered.cluster.init_node.name}/user-data"))
    written = cloud_init_writes_yum_repos(config["yum_repos"], tmp_path)
    assert written.returncode == 0, written.stderr
    for repo in tmp_path.glob("*.repo"):
        assert f"\nproxy = {PROXY}\n" in repo.read_text()
    assert len(list(tmp_path.glob("*.repo"))) == 2
    assert APT_PROXY_CONF not in files(rendered, rendered.cluster.init_node.name)


def test_the_user_data_of_a_proxied_site_is_valid_cloud_config(tmp_path: Path) -> None:
    rendered = render_spec(SITE)
    for node in ("cp1", "w1"):
        check_with_cloud_init(rendered, node, tmp_path)
    toml = files(rendered, "cp1")["/etc/containerd/certs.d/harbor.site.example/hosts.toml"]
    own = tomllib.loads(toml["content"])["host"]["https://harbor.site.example"]
    assert own["ca"].endswith("/harbor.site.example/ca.crt")


def test_the_bootstrap_downloads_through_the_proxy_and_the_cluster_direct(tmp_path: Path) -> None:
    """The rendered calico_download with the node's proxy.env (the proxy moved to loopback):
    a host outside NO_PROXY is asked of the proxy, 127.0.0.1 (in NO_PROXY) is reached direct."""
    manifest = calico_fixture("v3.30.7").read_bytes()
    served = tmp_path / "served"
    (served / MANIFEST_PATH.lstrip("/")).parent.mkdir(parents=True)
    (served / MANIFEST_PATH.lstrip("/")).write_bytes(manifest)
    with file_server(served) as origin:
        port = int(origin.rsplit(":", 1)[1])
        with forward_proxy({MIRROR_HOST: port}) as proxy:
            for first, via_proxy in ((f"http://{MIRROR_HOST}", True), (origin, False)):
                calico = {
                    "version": "v3.30.7",
                    "manifestMirrors": [first + MANIFEST_PATH],
                    "sha256": hashlib.sha256(manifest).hexdigest(),
                }
                data = example("private-site", spec__cni={"calico": calico})
                rendered = render_spec(write_spec(tmp_path, data))
                env = {
                    k: v.replace(PROXY, proxy.url) for k, v in environment(rendered, "cp1").items()
                }
                config = tmp_path / ("proxied" if via_proxy else "direct")
                (config / "calico").mkdir(parents=True)
                proxy.requested.clear()
                result = run_calico_download(scripts(rendered, "cp1")[BOOTSTRAP], config, env)
                assert result.returncode == 0, result.stderr
                assert (config / "calico" / "calico.yaml").read_bytes() == manifest
                expected = [f"http://{MIRROR_HOST}{MANIFEST_PATH}"] if via_proxy else []
                assert proxy.requested == expected


def test_curl_reads_the_lower_case_variables_and_no_proxy(tmp_path: Path) -> None:
    """curl with proxy.env only (moved to loopback): a host outside no_proxy is asked of the
    proxy; a name in no_proxy (the operator's .site.example) is not (curl then resolves it,
    here to loopback by --resolve)."""
    (tmp_path / "hello").write_text("hello\n")
    with file_server(tmp_path) as origin:
        port = int(origin.rsplit(":", 1)[1])
        with forward_proxy({MIRROR_HOST: port}) as proxy:
            env = {
                k: v.replace(PROXY, proxy.url)
                for k, v in environment(render_spec(SITE), "w1").items()
            }
            for host, via_proxy in ((MIRROR_HOST, True), ("mirror.site.example", False)):
                proxy.requested.clear()
                curl = [need("curl"), "-fsS", "--resolve", f"{host}:{port}:127.0.0.1"]
                got = subprocess.run(
                    [*curl, f"http://{host}:{port}/hello"],
                    capture_output=True,
                    text=True,
                    env={"PATH": "/usr/bin:/bin", **env},
                    timeout=60,
                )
                assert got.returncode == 0 and got.stdout == "hello\n", got.stderr
                assert proxy.requested == ([f"http://{host}:{port}/hello"] if via_proxy else [])


def test_containerd_reads_the_lower_case_variables(tmp_path: Path) -> None:
    """ctr (containerd's Go resolver, http.ProxyFromEnvironment like the daemon's CRI pulls)
    with proxy.env only: it asks the proxy for the image. Its no_proxy is read by the same
    x/net/http/httpproxy FromEnvironment (NO_PROXY, else no_proxy); a direct pull would need
    a name lookup outside loopback, so it is not run here."""
    with forward_proxy({}) as proxy:
        env = {
            k: v.replace(PROXY, proxy.url) for k, v in environment(render_spec(SITE), "w1").items()
        }
        with running_containerd() as socket:
            pulled = subprocess.run(
                [
                    need("ctr"),
                    "--address",
                    socket,
                    "images",
                    "pull",
                    "--plain-http",
                    f"{MIRROR_HOST}/library/hello:1",
                ],
                capture_output=True,
                text=True,
                env={"PATH": "/usr/bin:/bin", **env},
                timeout=120,
            )
    assert pulled.returncode != 0  # the proxy has no route to it: 502
    assert f"http://{MIRROR_HOST}/v2/library/hello/manifests/1" in proxy.requested, pulled.stderr


def test_the_containerd_drop_in_is_a_valid_unit(tmp_path: Path) -> None:
    node = files(render_spec(SITE), "w1")
    units = tmp_path / "units"
    (units / "containerd.service.d").mkdir(parents=True)
    (units / "containerd.service").write_text("[Service]\nExecStart=/bin/true\n")
    (units / "containerd.service.d" / "k8sgen-proxy.conf").write_text(
        node[CONTAINERD_PROXY_DROPIN]["content"].replace(PROXY_ENV, str(tmp_path / "proxy.env"))
    )
    (tmp_path / "proxy.env").write_text(node[PROXY_ENV]["content"])
    shown = subprocess.run(
        [need("systemd-analyze"), "verify", str(units / "containerd.service")],
        capture_output=True,
        text=True,
        env={"SYSTEMD_UNIT_PATH": f"{units}:"},
        timeout=60,
    )
    assert shown.returncode == 0 and "k8sgen-proxy" not in shown.stderr, shown.stderr


def findings(data: dict[str, Any]) -> tuple[list[str], list[str]]:
    spec = load_text(yaml.safe_dump(data, sort_keys=False), "spec.yaml", REPO / "examples")
    try:
        found = validate(spec)
    except SpecError as error:
        return [p.format("spec.yaml") for p in error.problems], []
    return [], [w.format("spec.yaml") for w in found.warnings]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://user:pw@192.168.40.5:3128", "must not carry credentials"),
        ("http://192.168.40.5", "name the port"),
        ("http://192.168.40.5:3128/squid", "a proxy URL has no path"),
        ("socks5://192.168.40.5:1080", "expected http://HOST:PORT"),
    ],
)
def test_a_bad_proxy_url_is_refused_at_its_line(url: str, says: str) -> None:
    errors, _ = findings(example("private-site", spec__proxy__https=url))
    assert len(errors) == 1, errors
    assert re.match(r"spec\.yaml:\d+: spec\.proxy\.https: ", errors[0]), errors[0]
    assert says in errors[0]
    assert "user:pw" not in errors[0]  # a refused secret is not echoed


def test_no_proxy_networks_and_a_missing_https_are_named() -> None:
    errors, _ = findings(example("private-site", spec__proxy__noProxy=["10.0.0.0/99"]))
    assert any("spec.proxy.noProxy[0]: 10.0.0.0/99: not an IPv4 network" in e for e in errors)
    data = example("private-site")
    del data["spec"]["proxy"]["https"]
    errors, warnings = findings(data)
    assert not errors
    assert any("spec.proxy: https is not set" in w for w in warnings)


def test_lint_sees_the_proxy_as_the_one_egress(tmp_path: Path) -> None:
    rendered = render_spec(SITE)
    report = lint.lint(rendered.cluster, rendered.artifacts.values())
    assert report.clean
    assert "192.168.40.5" in report.hosts and "pkgs.k8s.io" not in report.hosts
    assert "pkgs.k8s.io" in report.proxied and report.proxies == ("192.168.40.5",)
    assert "the nodes' egress is the proxy 192.168.40.5" in report.summary()
    # Offline, what the proxy would fetch for a node is egress all the same.
    offline = render_spec(
        write_spec(tmp_path, example("private-site", spec__offline={"enabled": True}))
    )
    report = lint.lint(offline.cluster, render(offline.cluster, offline.secrets))
    assert not report.clean
    assert {f.host for f in report.findings} >= {"pkgs.k8s.io", "download.docker.com"}
    assert all(f.via == "192.168.40.5" for f in report.findings)
    assert "through the proxy 192.168.40.5" in report.findings[0].format()
