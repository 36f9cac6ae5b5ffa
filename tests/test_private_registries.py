"""spec.registries: a private registry's CA, login and skipVerify, pulled by the real containerd.

The loopback registry of the air-gap tests sits behind TLS (a CA made by openssl now) and
basic auth (tests/support/tls_registry.py); `ctr images pull --hosts-dir` reads the rendered
hosts.toml and CA, moved from /etc/containerd/certs.d to a temp folder.
"""

from __future__ import annotations

import re
import stat
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from generator import secrets
from generator.cli import cli
from generator.errors import SpecError
from generator.layout import CERTS_DIR
from generator.offline.bundle.access import pull_access
from generator.offline.bundle.archives import fetch_images
from generator.offline.bundle.tools import BundleError
from generator.offline.images import Image
from generator.registries import Credential, CredentialsMissing
from generator.spec.load import load_text
from generator.spec.validate import validate

from .support.loopback import Registry, running_containerd
from .support.nodedata import files
from .support.repo import REPO
from .support.specs import Rendered, example, render_spec, write_spec
from .support.tls_registry import Certificates, auth_front, make_certificates
from .support.tools import check_with_cloud_init, need

USER, PASSWORD = "robot", "pull-only-s3cret"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("pki"))


def private_spec(folder: Path, host: str, ca: Path, **settings: Any) -> Path:
    (folder / "registry-ca.pem").write_bytes(ca.read_bytes())
    registries = {host: {"ca": "registry-ca.pem", "auth": True, **settings}}
    return write_spec(folder, example("single", spec__registries=registries), "private.yaml")


def with_login(rendered_spec: Path, host: str) -> Rendered:
    value = secrets.generate("demo")
    value = secrets.with_registry_login(value, host, Credential(USER, PASSWORD))
    return render_spec(rendered_spec, value)


def pull(
    folder: Path, rendered: Rendered, host: str, edit: str = ""
) -> subprocess.CompletedProcess[str]:
    """ctr images pull HOST/library/hello:1 with the node's certs.d/HOST, moved to FOLDER;
    EDIT names a line of hosts.toml to leave out (ca or the header)."""
    node = files(rendered, "master1")
    hosts_dir = folder / "certs.d"
    (hosts_dir / host).mkdir(parents=True)
    for name in ("hosts.toml", "ca.crt"):
        text = node[f"{CERTS_DIR}/{host}/{name}"]["content"].replace(CERTS_DIR, str(hosts_dir))
        if edit:
            text = "".join(
                line for line in text.splitlines(True) if not line.lstrip().startswith(edit)
            )
        (hosts_dir / host / name).write_text(text)
    options = ["--snapshotter", "native", "--hosts-dir", str(hosts_dir)]
    with running_containerd() as socket:
        return subprocess.run(
            [
                need("ctr"),
                "--address",
                socket,
                "images",
                "pull",
                *options,
                f"{host}/library/hello:1",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )


def test_containerd_pulls_with_the_rendered_ca_and_login(
    tmp_path: Path, hello_registry: Registry, certificates: Certificates
) -> None:
    with auth_front(hello_registry, certificates, f"{USER}:{PASSWORD}") as front:
        rendered = with_login(private_spec(tmp_path, front.host, certificates.ca), front.host)
        node = files(rendered, "master1")
        hosts = node[f"{CERTS_DIR}/{front.host}/hosts.toml"]
        assert hosts["permissions"] == "0600"  # it holds the password
        assert node[f"{CERTS_DIR}/{front.host}/ca.crt"]["content"] == certificates.ca.read_text()
        parsed = tomllib.loads(hosts["content"])
        assert parsed["server"] == f"https://{front.host}"
        own = parsed["host"][f"https://{front.host}"]  # containerd 1.6 needs a [host] table
        assert own["ca"] == f"{CERTS_DIR}/{front.host}/ca.crt"
        assert own["header"]["authorization"] == front.expected

        result = pull(tmp_path / "ok", rendered, front.host)
        assert result.returncode == 0, result.stderr
        assert ("/v2/library/hello/manifests/1", 200) in front.answers

        front.answers.clear()
        no_login = pull(tmp_path / "no-login", rendered, front.host, edit="authorization")
        assert no_login.returncode != 0
        assert ("/v2/library/hello/manifests/1", 401) in front.answers
        assert "401" in no_login.stderr or "unauthorized" in no_login.stderr.lower()

        front.answers.clear()
        no_ca = pull(tmp_path / "no-ca", rendered, front.host, edit="ca =")
        assert no_ca.returncode != 0
        assert "x509" in no_ca.stderr or "certificate" in no_ca.stderr
        assert not front.answers  # refused at the TLS handshake: no request got through


def test_the_bundle_copies_with_the_same_ca_and_login(
    tmp_path: Path, hello_registry: Registry, certificates: Certificates
) -> None:
    """k8sgen bundle's skopeo, given the spec's CA and the stored login (an auth file)."""
    with auth_front(hello_registry, certificates, f"{USER}:{PASSWORD}") as front:
        rendered = with_login(private_spec(tmp_path, front.host, certificates.ca), front.host)
        reference = f"{front.host}/library/hello:1"
        image = Image("hello", "test", reference, reference, (front.host,), None)
        logins = rendered.secrets.registry_logins
        for name, given in (("with", logins), ("without", {})):
            work = tmp_path / f"work-{name}"
            work.mkdir()
            access = pull_access(rendered.cluster, work, (), given)
            root = tmp_path / f"bundle-{name}"
            root.mkdir()
            if not given:
                with pytest.raises(BundleError, match="cannot copy"):
                    fetch_images([image], root, "amd64", access, lambda _: None)
                continue
            assert access.auth_file and stat.S_IMODE(access.auth_file.stat().st_mode) == 0o600
            assert PASSWORD not in " ".join(access.options(front.host))
            archives = fetch_images([image], root, "amd64", access, lambda _: None)
            assert (root / archives[0].file).is_file()
        assert ("/v2/library/hello/manifests/1", 401) in front.answers  # the run without


def test_a_mirror_on_the_private_registry_gets_its_ca_and_login(
    tmp_path: Path, certificates: Certificates
) -> None:
    host = "harbor.site.example"
    data = example(
        "single",
        spec__mirrors__registries={"docker.io": [f"https://{host}/v2/dockerhub"]},
        spec__registries={host: {"ca": "ca.pem", "auth": True}},
    )
    (tmp_path / "ca.pem").write_bytes(certificates.ca.read_bytes())
    rendered = with_login(write_spec(tmp_path, data), host)
    node = files(rendered, "master1")
    docker = node[f"{CERTS_DIR}/docker.io/hosts.toml"]
    mirror = tomllib.loads(docker["content"])["host"][f"https://{host}/v2/dockerhub"]
    assert mirror["ca"] == f"{CERTS_DIR}/{host}/ca.crt"
    assert mirror["header"]["authorization"].startswith("Basic ")
    assert mirror["override_path"] is True
    assert docker["permissions"] == "0600"
    check_with_cloud_init(rendered, "master1", tmp_path)


def test_without_a_stored_login_the_render_names_the_command(
    tmp_path: Path, certificates: Certificates
) -> None:
    spec = private_spec(tmp_path, "harbor.site.example", certificates.ca)
    with pytest.raises(
        CredentialsMissing, match=re.escape("k8sgen registry-login SPEC harbor.site.example")
    ):
        render_spec(spec)


def test_registry_login_keeps_the_password_in_the_secrets_file_only(
    tmp_path: Path, certificates: Certificates
) -> None:
    spec = private_spec(tmp_path, "harbor.site.example", certificates.ca)
    runner = CliRunner()
    login = ["registry-login", str(spec), "harbor.site.example", "--username", USER]
    result = runner.invoke(cli, [*login, "--password-stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    stored = tmp_path / "private.secrets.yaml"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    logins = secrets.load(stored, "demo").registry_logins
    assert logins == {"harbor.site.example": Credential(USER, PASSWORD)}
    assert PASSWORD not in spec.read_text()
    rendered = runner.invoke(cli, ["render", str(spec), "-o", str(tmp_path / "out")])
    assert rendered.exit_code == 0, rendered.output
    assert PASSWORD not in rendered.output
    # A second login replaces the first; the cluster's keys stay as they were.
    before = secrets.load(stored, "demo")
    again = runner.invoke(cli, [*login, "--password-stdin"], input="rotated\n")
    assert again.exit_code == 0, again.output
    after = secrets.load(stored, "demo")
    assert after.registry_logins["harbor.site.example"].password == "rotated"
    assert (after.ca, after.bootstrap_token) == (before.ca, before.bootstrap_token)
    unknown = runner.invoke(
        cli,
        ["registry-login", str(spec), "other.example", "--username", "u", "--password-stdin"],
        input="p\n",
    )
    assert unknown.exit_code == 1 and "has no other.example with auth: true" in unknown.output


def problems(data: dict[str, Any], folder: Path) -> tuple[list[str], list[str]]:
    spec = load_text(yaml.safe_dump(data, sort_keys=False), "spec.yaml", folder)
    try:
        found = validate(spec)
    except SpecError as error:
        return [p.format("spec.yaml") for p in error.problems], []
    return [], [w.format("spec.yaml") for w in found.warnings]


def test_ca_and_skip_verify_are_checked_at_their_line(
    tmp_path: Path, certificates: Certificates
) -> None:
    def registries(**settings: Any) -> dict[str, Any]:
        return example("single", spec__registries={"harbor.site.example": settings})

    errors, _ = problems(registries(ca="missing.pem"), tmp_path)
    assert len(errors) == 1 and "spec.registries.harbor.site.example.ca: " in errors[0]
    assert "missing.pem: cannot read the registry CA certificate" in errors[0]
    errors, _ = problems(registries(ca=str(certificates.key)), tmp_path)
    assert len(errors) == 1 and "not a PEM certificate" in errors[0], errors
    errors, _ = problems(registries(ca=str(certificates.ca), skipVerify=True), tmp_path)
    assert any("ca and skipVerify exclude each other" in e for e in errors)
    errors, warnings = problems(registries(skipVerify=True), tmp_path)
    assert not errors
    assert any(
        w.startswith("spec.yaml:") and "skipVerify: containerd will not check" in w
        for w in warnings
    )
    errors, _ = problems(registries(password="x"), tmp_path)
    assert errors  # credentials have no place in the spec
    baked = registries(auth=True)
    baked["spec"]["bootstrap"]["baked"] = True
    errors, _ = problems(baked, tmp_path)
    assert any("harbor.site.example.auth: not with bootstrap.baked" in e for e in errors)


def test_the_example_site_renders_its_ca(tmp_path: Path) -> None:
    rendered = render_spec(REPO / "examples" / "private-site.yaml")
    node = files(rendered, "w1")
    assert (
        node[f"{CERTS_DIR}/harbor.site.example/ca.crt"]["content"]
        == (REPO / "examples" / "private-site-ca.pem").read_text()
    )
    lab = tomllib.loads(node[f"{CERTS_DIR}/lab-registry.site.example:5000/hosts.toml"]["content"])
    server = "https://lab-registry.site.example:5000"
    own = {"capabilities": ["pull", "resolve"], "skip_verify": True}
    assert lab == {"server": server, "host": {server: own}}
