"""Property-based: mutated example specs never crash k8sgen, and what it writes is sound.

Every run mutates one to three places of an example (strings, numbers, lists, keys, shared
values that YAML writes as aliases, a local Calico manifest), runs `k8sgen render` in-process
and checks: exit 0, 1 or 2 only; no traceback; exit 1 or 2 writes nothing; exit 0 writes only
under OUT, every script passes `bash -n`, every structured file parses, every file with a
private key or the token is 0600; shellcheck and `cloud-init schema` on a sample of runs.

K8SGEN_HYPOTHESIS_EXAMPLES sets the number of runs (default 25: a few seconds).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from generator import secrets
from generator.cli import cli

from .support.nodedata import decoded
from .support.repo import EXAMPLES, calico_fixture
from .support.specs import example, write_spec
from .support.tools import need

MAX_EXAMPLES = int(os.environ.get("K8SGEN_HYPOTHESIS_EXAMPLES", "25"))
ORACLE_SAMPLE = 2  # runs whose output also goes through shellcheck and cloud-init schema
CALICO_RELEASE = "v3.30.7"  # the real manifest some cases embed
Path_ = tuple[str | int, ...]

HOSTILE_STRINGS = [
    "",
    " ",
    "\n",
    "a\nb",
    "\t",
    "\x1b[2J",
    "\x00",
    "\u2028",
    "\u202e",
    "\ufeff",
    "$(reboot)",
    "`id`",
    "'; rm -rf / #",
    '"',
    "\\",
    "a" * 3000,
    "../../etc/passwd",
    "-rf",
    "*",
    "${IFS}",
    "%s%n",
    "0",
    "null",
    "1e9999",
    "名字",
    "é",
]
NUMBERS: list[Any] = [0, -1, 1, 2**31, 2**63, 10**30, 1.5, 8.0, -0.0, float("inf"), float("nan")]
OTHER_VALUES: list[Any] = [None, True, False, [], {}, "8", ["x"], {"a": 1}]
BOMB = "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" if i else "l0: &l0 [lol]\n" for i in range(9)
)
MANIFESTS = {
    "release": None,  # the real release manifest
    "bomb": "---\n" + BOMB,
    "garbage": "kind: DaemonSet\nmetadata: {name: calico-node}\nspec: {}\n",
    "env": "kind: DaemonSet\nmetadata: {name: calico-node}\n"
    "spec: {template: {spec: {containers: [{name: calico-node, env: [hello]}]}}}\n",
    "deep": "[" * 500 + "]" * 500 + "\n",
}
_example_secrets: dict[str, Path] = {}
_oracle_runs: list[int] = [0]


def places(data: Any, path: Path_ = ()) -> Iterator[Path_]:
    """Every value's path (containers too), the document root excluded."""
    if path:
        yield path
    if isinstance(data, dict):
        for key, value in data.items():
            yield from places(value, (*path, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from places(item, (*path, index))


def get(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


def replacement(draw: st.DrawFn, current: Any) -> Any:
    kind = draw(st.sampled_from(["benign", "hostile", "text", "number", "other", "grow"]))
    if kind == "benign":
        return benign(draw, current)
    if kind == "hostile" and isinstance(current, str):
        return current + draw(st.sampled_from(HOSTILE_STRINGS))
    if kind == "hostile":
        return draw(st.sampled_from(HOSTILE_STRINGS))
    if kind == "text":
        return draw(st.text(max_size=30))
    if kind == "number":
        return draw(st.sampled_from(NUMBERS) | st.integers(-(2**70), 2**70))
    if kind == "grow" and isinstance(current, list) and current:
        return current * draw(st.integers(2, 40))
    return draw(st.sampled_from(OTHER_VALUES))


def benign(draw: st.DrawFn, current: Any) -> Any:
    """A plausible edit of the same type: another name, another count, one item fewer."""
    if isinstance(current, bool):
        return not current
    if isinstance(current, int):
        low = max(0, current // 4)  # an earlier edit may have made it negative
        return draw(st.integers(low, max(low, current * 4 + 1)))
    if isinstance(current, str) and current.isascii() and current.replace("-", "").isalnum():
        return draw(st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True))
    if isinstance(current, list) and current:
        drop = draw(st.integers(0, len(current) - 1))
        return current[:drop] + current[drop + 1 :]
    return current


def share(draw: st.DrawFn, data: Any) -> None:
    """One object in two unrelated places: yaml.safe_dump writes an anchor and an alias."""
    paths = list(places(data))
    source, target = draw(st.sampled_from(paths)), draw(st.sampled_from(paths))
    if source[: len(target)] == target or target[: len(source)] == source:
        return  # one inside the other would make a cycle
    get(data, target[:-1])[target[-1]] = get(data, source)


@st.composite
def mutated_specs(draw: st.DrawFn) -> tuple[Path, dict[str, Any], str | None]:
    source = draw(st.sampled_from(EXAMPLES))
    data = example(source.stem)
    # Half the cases make one plausible edit, so that many render and their output is checked.
    gentle = draw(st.booleans())
    for _ in range(1 if gentle else draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(places(data))))
        parent, last = get(data, path[:-1]), path[-1]
        if gentle:
            parent[last] = benign(draw, parent[last])
        elif isinstance(last, str) and draw(st.booleans()) and draw(st.booleans()):
            new_key = draw(st.sampled_from(HOSTILE_STRINGS) | st.text(max_size=10))
            parent[new_key] = parent.pop(last)  # a renamed key
        else:
            parent[last] = replacement(draw, parent[last])
    if not gentle and draw(st.integers(0, 2)) == 0:
        share(draw, data)
    manifest = None
    if draw(st.integers(0, 4)) == 0:  # now and then a local manifest, sound or hostile
        manifest = draw(st.sampled_from(sorted(MANIFESTS)))
        spec = data.get("spec")
        if isinstance(spec, dict):
            spec["cni"] = {"calico": {"manifest": "calico.yaml"}}
    return source, data, manifest


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(folder.rglob("*"))
    }


def secrets_for(source: Path, folder: Path) -> None:
    """Reuse one secrets file per example: RSA keys would cost most of each run."""
    name = example(source.stem)["metadata"]["name"]
    if name not in _example_secrets:
        cached = Path(tempfile.mkdtemp(prefix="k8sgen-props-")) / f"{name}.secrets.yaml"
        secrets.write_new(cached, secrets.generate(name))
        _example_secrets[name] = cached
    target = folder / "cluster.secrets.yaml"
    target.write_bytes(_example_secrets[name].read_bytes())
    target.chmod(0o600)


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,  # derandomized: the same cases every run, nothing to remember
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_specs())
def test_mutated_specs_never_crash_and_write_sound_output(
    case: tuple[Path, dict[str, Any], str | None],
) -> None:
    source, data, manifest = case
    with tempfile.TemporaryDirectory(prefix="k8sgen-prop-") as tmp:
        folder = Path(tmp)
        spec = folder / "cluster.yaml"
        spec.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        if manifest is not None:
            text = MANIFESTS[manifest]
            if text is None:
                text = calico_fixture(CALICO_RELEASE).read_text()
            (folder / "calico.yaml").write_text(text)
        secrets_for(source, folder)
        before = snapshot(folder)
        result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(folder / "out")])
        assert result.exit_code in (0, 1, 2), result.output
        event(f"exit {result.exit_code}")  # pytest --hypothesis-show-statistics
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # a traceback: shown with its cause
        assert "Traceback" not in result.output
        if result.exit_code != 0:
            assert snapshot(folder) == before, result.output
            return
        check_output_tree(folder, before)


def check_output_tree(folder: Path, before: dict[str, bytes]) -> None:
    after = snapshot(folder)
    new = [name for name in after if name not in before]
    assert all(name == "out" or name.startswith("out/") for name in new), new
    token = yaml.safe_load((folder / "cluster.secrets.yaml").read_text())["bootstrapToken"]
    scripts: list[str] = []
    for path in sorted(p for p in (folder / "out").rglob("*") if p.is_file()):
        content = path.read_bytes()
        if b"PRIVATE KEY" in content or token.encode() in content:
            assert path.stat().st_mode & 0o077 == 0, f"{path} holds secrets and is not 0600"
        scripts += check_file(path, content.decode())
    for script in scripts:
        bash_n(script)
    if _oracle_runs[0] < ORACLE_SAMPLE:
        shellcheck(scripts, folder)
        cloud_init_schema(next((folder / "out").rglob("user-data")))
        _oracle_runs[0] += 1  # after success: a failing case replays with the oracles again


def check_file(path: Path, text: str) -> list[str]:
    """Parse the file by its kind; return the shell scripts it is or carries."""
    name = path.name
    if name.endswith(".json"):
        json.loads(text)
    elif name.endswith(".toml"):
        tomllib.loads(text)
    elif name.endswith(".hcl"):
        hcl2.loads(text)
    elif name.endswith(".sh") or text.startswith("#!"):
        return [text]
    elif name == "user-data":
        assert text.startswith("#cloud-config\n")
        return user_data_scripts(yaml.safe_load(text))
    elif name in ("meta-data", "network-config", "admin.conf") or name.endswith(".yaml"):
        list(yaml.safe_load_all(text))
    return []


def user_data_scripts(cloud_config: dict[str, Any]) -> list[str]:
    scripts = []
    for entry in cloud_config.get("write_files", []):
        content, target = decoded(entry), entry["path"]
        secret = "PRIVATE KEY" in content or target.endswith("kubeadm.yaml")
        if secret:
            assert entry["permissions"] == "0600", target
        if content.startswith("#!/bin/bash") or target.endswith(".sh"):
            scripts.append(content)
        elif target.endswith(".toml"):
            tomllib.loads(content)
        elif target.endswith((".yaml", ".yml")):
            list(yaml.safe_load_all(content))
    # Every node runs its bootstrap script: a check that found none checked nothing.
    assert any(s.startswith("#!/bin/bash") for s in scripts), "no bootstrap script in user-data"
    scripts += [c for c in cloud_config.get("runcmd", []) if isinstance(c, str)]
    return scripts


def bash_n(script: str) -> None:
    result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def shellcheck(scripts: list[str], folder: Path) -> None:
    paths = []
    for index, script in enumerate(s for s in scripts if s.startswith("#!")):
        path = folder / f"script-{index}.sh"
        path.write_text(script)
        paths.append(str(path))
    if paths:
        result = subprocess.run(
            [need("shellcheck"), "--severity=style", *paths], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout


def cloud_init_schema(user_data: Path) -> None:
    result = subprocess.run(
        [need("cloud-init"), "schema", "--config-file", str(user_data)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("source", EXAMPLES, ids=lambda p: p.stem)
def test_unmutated_examples_pass_the_same_checks(source: Path, tmp_path: Path) -> None:
    """The property's checks hold for the examples themselves (they are not vacuous)."""
    secrets_for(source, tmp_path)
    spec = write_spec(tmp_path, example(source.stem))
    before = snapshot(tmp_path)
    result = CliRunner().invoke(cli, ["render", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    check_output_tree(tmp_path, before)
