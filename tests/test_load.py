from pathlib import Path

import pytest

from generator.errors import K8sgenError, SpecError
from generator.spec.load import MAX_SPEC_BYTES, format_path, load_spec, load_text


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_text(text, "spec.yaml")
    return str(caught.value).splitlines()


def test_marks_record_the_line_of_every_field() -> None:
    loaded = load_text("a: 1\nb:\n  - x: y\n    z: [1, 2]\n", "spec.yaml")
    assert loaded.data == {"a": 1, "b": [{"x": "y", "z": [1, 2]}]}
    assert loaded.marks[("b", 0, "z")] == 4
    assert loaded.line_of(("b", 0, "missing")) == 3


def test_format_path_reads_like_the_spec() -> None:
    assert format_path(("spec", "nodes", 2, "role")) == "spec.nodes[2].role"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [\n", "spec.yaml:2: YAML syntax error, column 1: expected the node content"),
        ("a: &x [1]\nb: *x\n", "spec.yaml:2: YAML aliases are not supported (column 4)"),
        ("a: 1\na: 2\n", "spec.yaml:2: a: duplicate key"),
        ("1: x\n", "spec.yaml:1: key '1' must be a string (quote it)"),
        ("a: 1\n---\nb: 2\n", "spec.yaml:1: expected one YAML document, found 2"),
        ("", "spec.yaml:1: expected one YAML document, found 0"),
        ("a: !!python/object:os.system x\n", "spec.yaml:1: a: unsupported value"),
    ],
)
def test_yaml_surprises_are_problems_with_lines(text: str, expected: str) -> None:
    assert problems(text)[0].startswith(expected)


def test_huge_and_binary_files_are_refused(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"#" * (MAX_SPEC_BYTES + 1))
    with pytest.raises(K8sgenError, match="too large for a cluster spec"):
        load_spec(huge)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(K8sgenError, match="not UTF-8"):
        load_spec(binary)
    with pytest.raises(K8sgenError, match="cannot read the cluster spec"):
        load_spec(tmp_path / "missing.yaml")
