"""Every Python that runs on a node runs on the oldest node Python: 3.6 with PyYAML 3.12 (EL8)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from .support.nodedata import installed_files, node_names
from .support.repo import CALICO_FIXTURE_VERSIONS, REPO, calico_fixture, missing
from .support.specs import Rendered
from .support.tools import need

NODE_PYTHON = (3, 6)  # python3 of Rocky/Alma 8
# Fail on anything newer than 3.6, annotations and `X | Y` included; only the violations.
VERMIN_OPTIONS = ("-t=3.6-", "--violations", "--eval-annotations", "--feature", "union-types")
VERMIN_OPTIONS += ("--no-tips", "-q")
EL8_PYYAML = "PyYAML-3.12"  # python3-pyyaml of EL8; scripts/test downloads its source
# A command line that starts python3: `python3 -c '...'` or `python3 /path/script.py ...`.
PYTHON_COMMAND = re.compile(r"^\s*python3\s+(\S+)", re.MULTILINE)
INLINE = re.compile(r"^\s*python3 -c '([^']*)'", re.MULTILINE)


def node_python(rendered_examples: list[Rendered]) -> dict[str, str]:
    """Name -> source of each Python program or `python3 -c` snippet a rendered node runs."""
    sources: dict[str, str] = {}
    for rendered in rendered_examples:
        for node in node_names(rendered):
            entries = installed_files(rendered, node)
            for path, entry in entries.items():
                content = entry["content"]
                if path.endswith(".py") or content.startswith(
                    ("#!/usr/bin/env python", "#!/usr/bin/python")
                ):
                    sources[path] = content
                for argument in PYTHON_COMMAND.findall(content):
                    # Any other python3 command would escape this test: refuse it here.
                    assert argument == "-c" or argument in entries, f"{path}: python3 {argument}"
                for index, snippet in enumerate(INLINE.findall(content)):
                    sources[f"{path}-python3-c-{index}.py"] = snippet
    return sources


def test_every_node_python_is_valid_python_3_6(
    rendered_examples: list[Rendered], tmp_path: Path
) -> None:
    sources = node_python(rendered_examples)
    assert "/usr/local/lib/k8sgen/calico_patch.py" in sources
    assert any("-python3-c-" in name for name in sources), "bundle_field's python3 -c is gone?"
    paths = []
    for name, source in sources.items():
        ast.parse(source, name, feature_version=NODE_PYTHON)  # the 3.6 grammar
        path = tmp_path / name.strip("/").replace("/", "_")
        path.write_text(source)
        paths.append(str(path))
    # vermin (PyPI) knows which release added each syntax, module, function and argument.
    vermin = need("vermin")
    result = subprocess.run(
        [vermin, *VERMIN_OPTIONS, *paths],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def el8_pyyaml(tmp_path: Path) -> Path:
    """PyYAML 3.12's pure-Python library, unpacked from the sdist that scripts/test fetched."""
    archives = sorted((Path(sys.prefix) / "oracles").glob(f"{EL8_PYYAML}.*"))
    if not archives:
        missing(f"{EL8_PYYAML} source in {Path(sys.prefix) / 'oracles'} (scripts/test fetches it)")
    with zipfile.ZipFile(archives[0]) as archive:
        archive.extractall(tmp_path, [n for n in archive.namelist() if "/lib3/yaml/" in n])
    return tmp_path / EL8_PYYAML / "lib3"


# PyYAML 3.12 reads collections.Hashable, which Python 3.10 moved to collections.abc only.
RUN_UNDER_OLD_PYYAML = """
import collections, collections.abc, runpy, sys
collections.Hashable = collections.abc.Hashable
import yaml
assert yaml.__version__ == "3.12", yaml.__version__
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("version", CALICO_FIXTURE_VERSIONS)
def test_node_patch_runs_with_el8_pyyaml(version: str, tmp_path: Path) -> None:
    """The shipped patch under the real PyYAML 3.12 (no sort_keys; sorted dumps) gives the same
    manifest as under the PyYAML k8sgen renders with."""
    library = el8_pyyaml(tmp_path)
    source = calico_fixture(version)
    script = REPO / "generator" / "calico_patch.py"
    arguments = ["--pod-cidr", "10.9.0.0/16", "--image-repository", "harbor.example/calico"]
    outputs = []
    for name, prefix in (("old", ["-c", RUN_UNDER_OLD_PYYAML]), ("new", [])):
        target = tmp_path / f"{name}.yaml"
        result = subprocess.run(
            [sys.executable, *prefix, str(script), *arguments, str(source), str(target)],
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(library)} if prefix else {},
        )
        assert result.returncode == 0, result.stderr
        outputs.append(list(yaml.load_all(target.read_text(), Loader=yaml.CSafeLoader)))
    assert outputs[0] == outputs[1]
    keys = [list(d) for d in outputs[0] if d]
    assert keys[0][:2] == ["apiVersion", "kind"]  # the manifest's order, not sorted
