"""Registry mirrors with a path, pulled by the real containerd through the rendered hosts.toml.

A Harbor proxy project answers at https://harbor/v2/<project>/<repository>/...: here a small
reverse proxy on 127.0.0.1 serves the loopback registry's /v2/... under /v2/dockerhub/...
"""

from __future__ import annotations

import http.server
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from generator.errors import SpecError
from generator.spec.load import load_text
from generator.spec.validate import validate

from .support.loopback import Registry, running_containerd
from .support.nodedata import files
from .support.readyz_servers import closed_port
from .support.servers import RegistryRelay, serving
from .support.specs import example, render_spec, write_spec
from .support.tools import need

PROJECT = "/v2/dockerhub"
IMAGE = "docker.io/library/hello:1"
HOSTS = "/etc/containerd/certs.d/docker.io/hosts.toml"


class ProjectProxy(http.server.ThreadingHTTPServer):
    """PROJECT/<rest> -> the registry's /v2/<rest>; /v2/ (the API check) as is; else 404."""

    def __init__(self, registry: Registry) -> None:
        super().__init__(("127.0.0.1", 0), ProjectHandler)
        self.registry = registry
        self.paths: list[str] = []


class ProjectHandler(RegistryRelay):
    server: ProjectProxy

    def forward(self, method: str) -> None:
        self.server.paths.append(urlsplit(self.path).path)  # without containerd's ?ns=
        if self.path.startswith(PROJECT + "/"):
            upstream = "/v2/" + self.path.removeprefix(PROJECT + "/")
        elif self.path == "/v2/":
            upstream = self.path
        else:
            self.send_error(404)
            return
        self.pass_back(method, *self.ask(method, self.server.registry.host, upstream))


def rendered_hosts_toml(tmp_path: Path, mirror: str) -> str:
    data = example("single", spec__mirrors__registries={"docker.io": [mirror]})
    rendered = render_spec(write_spec(tmp_path, data, "mirror.yaml"))
    content: str = files(rendered, "node1")[HOSTS]["content"]
    return content


def pull(tmp_path: Path, hosts_toml: str) -> subprocess.CompletedProcess[str]:
    """ctr images pull with the hosts.toml a node gets, its upstream server moved to a closed
    loopback port (the pull must come from the mirror; nothing leaves the machine)."""
    server = f'server = "http://127.0.0.1:{closed_port()}"'
    hosts_toml = re.sub(r'^server = ".*"$', server, hosts_toml, count=1, flags=re.MULTILINE)
    folder = tmp_path / "certs.d" / "docker.io"
    folder.mkdir(parents=True)
    (folder / "hosts.toml").write_text(hosts_toml)
    options = ["--snapshotter", "native", "--hosts-dir", str(tmp_path / "certs.d")]
    with running_containerd() as socket:
        return subprocess.run(
            [need("ctr"), "--address", socket, "images", "pull", *options, IMAGE],
            capture_output=True,
            text=True,
            timeout=120,
        )


def test_harbor_style_project_path_is_pulled_through(
    tmp_path: Path, hello_registry: Registry
) -> None:
    with serving(ProjectProxy(hello_registry)) as proxy:
        mirror = f"http://127.0.0.1:{proxy.server_address[1]}{PROJECT}"
        hosts_toml = rendered_hosts_toml(tmp_path, mirror)
        assert (
            f'[host."{mirror}"]\n  capabilities = ["pull", "resolve"]\n  override_path = true\n'
            in hosts_toml
        )
        result = pull(tmp_path / "with", hosts_toml)
        assert result.returncode == 0, result.stderr
        assert f"{PROJECT}/library/hello/manifests/1" in proxy.paths
        # The fact behind override_path: without it containerd appends /v2 and every pull fails.
        proxy.paths.clear()
        without = pull(tmp_path / "without", hosts_toml.replace("  override_path = true\n", ""))
        assert without.returncode != 0
        assert f"{PROJECT}/v2/library/hello/manifests/1" in proxy.paths


def test_a_plain_mirror_gets_no_override_path(tmp_path: Path) -> None:
    hosts_toml = rendered_hosts_toml(tmp_path, "https://docker.m.daocloud.io")
    assert "override_path" not in hosts_toml


def mirror_findings(url: str) -> tuple[list[str], list[str]]:
    data = example("single", spec__mirrors={"registries": {"docker.io": [url]}})
    spec = load_text(yaml.safe_dump(data), "spec.yaml")
    try:
        findings = validate(spec)
    except SpecError as error:
        return [p.message for p in error.problems], []
    return [], [w.message for w in findings.warnings]


def test_paths_that_cannot_be_an_api_root_are_named() -> None:
    errors, _ = mirror_findings("https://harbor.example/v2/dockerhub/v2")
    assert errors and errors[0].startswith("the path names /v2 twice")
    errors, warnings = mirror_findings("https://mirror.example/docker")
    assert not errors
    assert any("pulls from https://mirror.example/docker/v2/<repository>" in w for w in warnings)
    for fine in (
        "https://harbor.example/v2/dockerhub",
        "https://mirror.example",
        "https://m.example/v2",
    ):
        assert mirror_findings(fine) == ([], []), fine
