"""Comments stay in the sources and out of user-data: every byte of it counts against a limit.

Only whole-line comments go (and blank lines of shell, Python docstrings): a comment after code
on the same line, or a `#` inside a string, is left alone, so the program the interpreter
parses is unchanged.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

# What shellcheck reads from comments: kept, so the rendered script lints like its source.
SHELL_DIRECTIVE = re.compile(r"\s*#\s*shellcheck\s")
# The start of a here-document (not a here-string, <<<): its body is data, never comments.
HEREDOC = re.compile(r"(?<!<)<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")


def strip_shell_comments(script: str, directives: bool = True) -> str:
    """SCRIPT without whole-line comments and blank lines, the first line (the shebang) kept;
    shellcheck's directives too, unless DIRECTIVES is false."""
    lines = script.splitlines(keepends=True)
    kept = lines[:1]
    terminators: list[str] = []  # of here-documents still open, in order
    for line in lines[1:]:
        if terminators:
            kept.append(line)
            if line.strip("\t\n") == terminators[0]:
                terminators.pop(0)
            continue
        if not line.strip() or _is_shell_comment(line, directives):
            continue
        kept.append(line)
        terminators = [match[2] for match in HEREDOC.finditer(line)]
    return "".join(kept)


def _is_shell_comment(line: str, directives: bool) -> bool:
    return line.lstrip().startswith("#") and not (directives and SHELL_DIRECTIVE.match(line))


def strip_python_comments(source: str) -> str:
    """SOURCE without whole-line comments and docstrings; a shebang is kept."""
    dropped = _docstring_lines(source) | _comment_lines(source)
    if source.startswith("#!"):
        dropped.discard(1)
    lines = source.splitlines(keepends=True)
    return "".join(line for number, line in enumerate(lines, 1) if number not in dropped)


def _comment_lines(source: str) -> set[int]:
    """Line numbers that hold a comment and nothing else."""
    code_lines: set[int] = set()
    comment_lines: set[int] = set()
    ignored = (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comment_lines.add(token.start[0])
        elif token.type not in ignored:
            code_lines.update(range(token.start[0], token.end[0] + 1))
    return comment_lines - code_lines


def _docstring_lines(source: str) -> set[int]:
    """The lines of docstrings that stand on lines of their own, in bodies that keep a statement."""
    text = source.splitlines()
    lines: set[int] = set()
    scopes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, scopes) and len(node.body) > 1 and is_docstring(node.body[0]):
            first = node.body[0]
            assert first.end_lineno is not None and first.end_col_offset is not None
            starts_line = not text[first.lineno - 1][: first.col_offset].strip()
            ends_line = not text[first.end_lineno - 1][first.end_col_offset :].strip()
            if starts_line and ends_line and first.end_lineno < node.body[1].lineno:
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )
