"""Comments stay in the sources and out of user-data; the programs the nodes parse stay the same.

The oracle for shell is bash itself: `declare -f` prints a function as bash parsed it, without
comments, so a script and its stripped form wrapped in a function must print the same."""

from __future__ import annotations

import ast
import subprocess
from importlib import resources

from generator.layout import BOOTSTRAP_SCRIPT
from generator.render.bootstrap import (
    BOOTSTRAP_TEMPLATE,
    bootstrap_context,
    bootstrap_script,
)
from generator.render.node import plan
from generator.render.strip import is_docstring, strip_python_comments, strip_shell_comments
from generator.render.templating import render_template

from .support.nodedata import files
from .support.specs import Rendered

HEREDOC_SCRIPT = """#!/bin/bash
# a comment

f() {
  # an indented comment
  echo "a # b" # a trailing comment stays
  cat <<'EOF'
# data, not a comment

EOF
  cat <<-END
\t# data too
\tEND
  # shellcheck disable=SC2034
  unused=1
}
"""


def bash_parse(script: str) -> str:
    """The program bash reads from SCRIPT, printed back by bash (comments are not part of it)."""
    wrapped = "__k8sgen_parsed() {\n" + script + "\n}\ndeclare -f __k8sgen_parsed\n"
    result = subprocess.run(["bash", "-c", wrapped], capture_output=True, text=True, check=True)
    return result.stdout


def test_shell_comments_go_and_here_documents_and_directives_stay() -> None:
    stripped = strip_shell_comments(HEREDOC_SCRIPT)
    assert stripped.splitlines() == [
        "#!/bin/bash",
        "f() {",
        '  echo "a # b" # a trailing comment stays',
        "  cat <<'EOF'",
        "# data, not a comment",
        "",
        "EOF",
        "  cat <<-END",
        "\t# data too",
        "\tEND",
        "  # shellcheck disable=SC2034",
        "  unused=1",
        "}",
    ]
    assert bash_parse(stripped) == bash_parse(HEREDOC_SCRIPT)
    without_directives = strip_shell_comments(HEREDOC_SCRIPT, directives=False)
    assert without_directives == stripped.replace("  # shellcheck disable=SC2034\n", "")


def test_every_bootstrap_script_parses_as_its_template_renders_it(
    rendered_examples: list[Rendered],
) -> None:
    """The stripped script shipped in user-data is, to bash, the template's full rendering."""
    checked = 0
    for rendered in rendered_examples:
        cluster = rendered.cluster
        for node in cluster.nodes:
            shipped = files(rendered, node.name)[BOOTSTRAP_SCRIPT]
            assert shipped["encoding"] == "gz+b64"
            node_plan = plan(cluster, node)
            full = render_template(
                BOOTSTRAP_TEMPLATE,
                **bootstrap_context(cluster, node, node_plan, rendered.secrets),
            )
            assert shipped["content"] == bootstrap_script(
                cluster, node, node_plan, rendered.secrets
            )
            assert len(shipped["content"]) < len(full)
            assert not [
                line
                for line in shipped["content"].splitlines()[1:]
                if line.lstrip().startswith("#") and "shellcheck" not in line
            ]
            assert bash_parse(shipped["content"]) == bash_parse(full)
            checked += 1
    assert checked > 0


def without_docstrings(tree: ast.AST) -> str:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and len(body) > 1 and is_docstring(body[0]):
            del body[0]
    return ast.dump(tree)


def test_python_comments_and_docstrings_go_and_the_code_stays() -> None:
    source = resources.files("generator").joinpath("calico_patch.py").read_text("utf-8")
    stripped = strip_python_comments(source)
    assert len(stripped) < len(source) * 0.9
    assert '"""' not in stripped
    assert not [line for line in stripped.splitlines() if line.lstrip().startswith("#")]
    assert without_docstrings(ast.parse(stripped)) == without_docstrings(ast.parse(source))


def test_python_keeps_a_docstring_that_is_the_whole_body_and_strings_with_hashes() -> None:
    source = (
        '#!/usr/bin/env python3\n"""Module."""\n# comment\n'
        'def f():\n    """Only this."""\n\n\ndef g():\n    """Doc."""\n'
        '    return "# not a comment"  # trailing\n'
    )
    assert strip_python_comments(source) == (
        '#!/usr/bin/env python3\ndef f():\n    """Only this."""\n\n\ndef g():\n'
        '    return "# not a comment"  # trailing\n'
    )
