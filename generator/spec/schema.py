"""JSON Schema validation with the meaning the schema's authors wrote, not Python's defaults.

- `pattern`: JSON Schema uses ECMA-262 regular expressions, where `$` matches only at the end
  of the string. Python's `re.search` also lets `$` match before a final newline, so
  "node1\\n" passed `^[a-z0-9]+$`. Here `$` becomes `\\Z`, and \\d, \\w, \\s are ASCII as in ECMA.
- `integer`: jsonschema accepts 8.0 as an integer; a value that reaches bash arithmetic must
  be a real int (and not a bool).
- Control characters: no string in a spec (key or value) may carry one; a newline in a name
  splits a shell line, an HCL string or a file path.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.protocols import Validator

from generator.spec.load import FieldPath

# C0, DEL and C1 (Cc), and the Unicode line and paragraph separators (YAML line breaks).
CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})
# A file's inline text (spec.nodes[].files[].content, spec.roles.<role>.files[].content) is
# written to a file, never into a script or a name: there lines and tabs are the point.
TEXT_CHARACTERS = frozenset("\n\t")


def is_file_text(path: FieldPath) -> bool:
    return len(path) >= 3 and path[-1] == "content" and path[-3] == "files"


@lru_cache(maxsize=256)
def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """The pattern compiled with ECMA-262's meaning of `$` (end of input only)."""
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        out.append(char)
    return re.compile("".join(out), re.ASCII)


def _pattern(
    validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not ecma_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _is_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


StrictValidator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    validators={"pattern": _pattern},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


def strict_validator(schema: dict[str, Any]) -> Validator:
    validator: Validator = StrictValidator(schema)
    return validator


def control_character(
    text: str,
    categories: frozenset[str] = CONTROL_CATEGORIES,
    allowed: frozenset[str] = frozenset(),
) -> str | None:
    """The first control character of text, named for a message (e.g. "U+000A"), or None."""
    for char in text:
        if char not in allowed and unicodedata.category(char) in categories:
            return f"U+{ord(char):04X}"
    return None


def control_characters(data: Any, path: FieldPath = ()) -> Iterator[tuple[FieldPath, str]]:
    """(path, message) for every string in data (keys too) that carries a control character."""
    if isinstance(data, dict):
        for key, value in data.items():
            found = control_character(key) if isinstance(key, str) else None
            if found:
                yield (*path, key), f"the key holds a control character ({found})"
            else:
                yield from control_characters(value, (*path, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from control_characters(item, (*path, index))
    elif isinstance(data, str):
        found = control_character(
            data, allowed=TEXT_CHARACTERS if is_file_text(path) else frozenset()
        )
        if found:
            yield (
                path,
                (
                    f"{data!r} holds a control character ({found}): newlines, tabs and terminal "
                    "codes are not allowed in a spec"
                ),
            )
