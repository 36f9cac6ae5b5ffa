"""`k8sgen images`, `k8sgen lint` and `k8sgen bundle`: the air-gapped commands.

Registered on the main command group in cli.py; errors are raised as K8sgenError and turned
into messages there.
"""

from __future__ import annotations

from pathlib import Path

import click

from generator import images, lint, model, secrets
from generator.load import load_spec
from generator.render import render
from generator.validate import validate

SPEC_ARGUMENT = click.argument(
    "spec_path", metavar="SPEC", type=click.Path(path_type=Path, dir_okay=False)
)


def load_cluster(spec_path: Path) -> model.Cluster:
    loaded = load_spec(spec_path)
    findings = validate(loaded)
    for warning in findings.warnings:
        click.echo(f"{warning.format(loaded.filename)} (warning)", err=True)
    return model.build(loaded.data, loaded.base_dir)


@click.command("images")
@SPEC_ARGUMENT
@click.option(
    "--format",
    "fmt",
    type=click.Choice(images.FORMATS),
    default="list",
    show_default=True,
    help="list: a table; skopeo-sync: a script copying upstream images to the mirror; json.",
)
def images_command(spec_path: Path, fmt: str) -> None:
    """Every image the cluster of SPEC pulls: as the nodes name it, upstream, pulled from."""
    cluster = load_cluster(spec_path)
    click.echo(images.render_images(cluster, images.cluster_images(cluster), fmt), nl=False)


@click.command("lint")
@SPEC_ARGUMENT
def lint_command(spec_path: Path) -> None:
    """Zero-egress check: every host a node of SPEC would reach must be allowed.

    Renders in memory (with throwaway secrets: hosts do not depend on them) and prints each
    reach outside the allowed set as NODE: FILE:LINE: HOST (what); exit 1 if there is any.
    """
    cluster = load_cluster(spec_path)
    report = lint.lint(cluster, render(cluster, secrets.generate(cluster.name)))
    for finding in report.findings:
        click.echo(finding.format())
    click.echo(report.summary(), err=not report.clean)
    if not cluster.offline.enabled:
        click.echo(f"{spec_path}: offline.enabled is false: render does not enforce this", err=True)
    if not report.clean:
        raise click.exceptions.Exit(1)


COMMANDS = (images_command, lint_command)
