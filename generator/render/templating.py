"""Jinja2 for shell scripts, TOML and prose: strict about undefined names, quoting by filter."""

from __future__ import annotations

import json
import shlex
from functools import cache
from typing import Any

import jinja2

from generator import layout
from generator.render.node import NodeKind
from generator.render.strip import strip_shell_comments
from generator.resources import resource_dir


def hcl_string(value: str) -> str:
    """An HCL quoted string: JSON's escapes, and no template sequences (${ and %{ doubled)."""
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


def toml_string(value: str) -> str:
    """A TOML basic string; JSON's escapes are a subset TOML accepts."""
    return json.dumps(value)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["q"] = lambda value: shlex.quote(str(value))
    env.filters["toml"] = toml_string
    env.filters["hcl"] = hcl_string
    env.globals["layout"] = layout  # paths and unit names: layout.STATE_DIR
    env.globals["kind"] = NodeKind  # plan.kind == kind.INIT: no kind spelled out in a template
    return env


def render_template(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)


def render_script(name: str, **context: Any) -> str:
    """A shell script for a node: its comments stay in the template, out of the output."""
    return strip_shell_comments(render_template(name, **context))
