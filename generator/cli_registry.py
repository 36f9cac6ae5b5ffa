"""`k8sgen registry-login`: a private registry's login, kept in the secrets file only.

The password is read from standard input (never an argument: argv is visible to every user
of the machine), stored in the 0600 secrets file, and never printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from generator import app, secrets
from generator.cli_offline import echo_warning
from generator.cli_options import SPEC_ARGUMENT
from generator.errors import K8sgenError
from generator.registries import Credential

MAX_PASSWORD_BYTES = 4096


def read_password() -> str:
    """The first line of standard input, without its line end."""
    data = sys.stdin.read(MAX_PASSWORD_BYTES + 1)
    password = data.splitlines()[0] if data else ""
    if not password or len(data) > MAX_PASSWORD_BYTES:
        raise K8sgenError(
            "registry-login: give the password on standard input (one line, at most "
            f"{MAX_PASSWORD_BYTES} bytes), e.g. `k8sgen registry-login ... --password-stdin "
            "< password-file`"
        )
    return password


@click.command("registry-login")
@SPEC_ARGUMENT
@click.argument("host", metavar="HOST[:PORT]")
@click.option("--username", required=True, help="User name at the registry.")
@click.option(
    "--password-stdin",
    is_flag=True,
    required=True,
    help="Read the password from standard input (the only way: never an argument).",
)
@click.option(
    "--secrets",
    "secrets_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Secrets file (default: SPEC with .secrets.yaml in place of .yaml).",
)
def registry_login_command(
    spec_path: Path, host: str, username: str, password_stdin: bool, secrets_path: Path | None
) -> None:
    """Store the login to HOST (spec.registries.HOST with auth: true) in SPEC's secrets file."""
    loaded = app.load_cluster(spec_path, app.SecretsNeed.NONE, secrets_path, echo_warning)
    cluster = loaded.cluster
    if not any(r.host == host and r.auth for r in cluster.registries):
        raise K8sgenError(
            f"{spec_path}: spec.registries has no {host} with auth: true; add it first, so that "
            "the nodes send the login to that host"
        )
    if ":" in username or not username.isprintable():
        raise K8sgenError("registry-login: a user name has no ':' and no control characters")
    login = Credential(username, read_password())
    path = secrets_path or app.default_secrets_path(spec_path)
    value, created = secrets.load_or_create(path, cluster.name)
    secrets.replace_file(path, secrets.with_registry_login(value, host, login))
    verb = "created with" if created else "now holds"
    click.echo(f"{path}: {verb} the login of {username} to {host} (0600; keep it private)")


COMMANDS = (registry_login_command,)
