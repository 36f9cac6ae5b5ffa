"""`k8sgen images`, `k8sgen lint` and `k8sgen bundle`: the air-gapped commands.

Registered on the main command group in cli.py; errors are raised as K8sgenError and turned
into messages there.
"""

from __future__ import annotations

from pathlib import Path

import click

from generator import app, model, secrets
from generator.cli_options import SPEC_ARGUMENT, format_option
from generator.offline import images
from generator.offline.bundle import make_bundle
from generator.registries import Credential, credentials_for


def echo_warning(line: str) -> None:
    """Validation warnings go to standard error (for every command, cli.py's too)."""
    click.echo(line, err=True)


def load_cluster(spec_path: Path) -> model.Cluster:
    return app.load_cluster(spec_path, warn=echo_warning).cluster


@click.command("images")
@SPEC_ARGUMENT
@format_option(
    images.FORMATS,
    "list",
    "list: a table; skopeo-sync: a script copying upstream images to the mirror; json.",
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
    report = app.lint_cluster(cluster)
    for finding in report.findings:
        click.echo(finding.format())
    click.echo(report.summary(), err=not report.clean)
    if not cluster.offline.enabled:
        click.echo(f"{spec_path}: offline.enabled is false: render does not enforce this", err=True)
    if not report.clean:
        raise click.exceptions.Exit(1)


@click.command("bundle")
@SPEC_ARGUMENT
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder to create (must not exist): the bundle's files and bundle.iso.",
)
@click.option(
    "--insecure-registry",
    "insecure",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Pull from this registry over plain HTTP or without TLS verification (repeatable).",
)
@click.option(
    "--secrets",
    "secrets_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Secrets file with the logins of spec.registries (default: SPEC with .secrets.yaml "
    "in place of .yaml); read only when a registry has auth: true.",
)
def bundle_command(
    spec_path: Path, output: Path, insecure: tuple[str, ...], secrets_path: Path | None
) -> None:
    """Collect every package and image the cluster of SPEC installs into OUTPUT/.

    Run on a connected machine with apt-get, dpkg-deb and skopeo. Writes the packages,
    one OCI archive per image, the Calico manifest, index.json and SHA256SUMS, and all of
    them again as OUTPUT/bundle.iso (volume label K8SBUNDLE) for the nodes' second CD-ROM.
    """
    cluster = load_cluster(spec_path)
    if not cluster.offline.bundle:
        click.echo(
            f"{spec_path}: offline.bundle is false: its nodes pull instead of using a bundle",
            err=True,
        )
    logins = registry_logins(cluster, spec_path, secrets_path)
    result = make_bundle(cluster, output, insecure, lambda text: click.echo(text, err=True), logins)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    iso = result.root / "bundle.iso"
    click.echo(
        f"{result.root}: {result.files} files, {result.size / 1e6:.1f} MB: "
        f"{len(result.packages.packages)} packages, {len(result.images)} images; "
        f"{iso} ({iso.stat().st_size / 1e6:.1f} MB)"
    )
    if result.packages.os_dependencies:
        click.echo("the nodes' OS must already have: " + ", ".join(result.packages.os_dependencies))


def registry_logins(
    cluster: model.Cluster, spec_path: Path, secrets_path: Path | None
) -> dict[str, Credential]:
    """The logins of spec.registries with auth, from the secrets file (only read then)."""
    if not any(r.auth for r in cluster.registries):
        return {}
    path = secrets_path or app.default_secrets_path(spec_path)
    return credentials_for(cluster.registries, secrets.load(path, cluster.name).registry_logins)


COMMANDS = (images_command, lint_command, bundle_command)
