"""The `k8sgen` command: errors become one message and an exit code here, and only here."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from generator import __version__, model, status
from generator.app import (
    LoadedCluster,
    RenderReport,
    RenderRequest,
    SecretsNeed,
    load_cluster,
    render_cluster,
)
from generator.cli_offline import COMMANDS as OFFLINE_COMMANDS
from generator.cli_offline import echo_warning as _warn
from generator.cli_options import SPEC_ARGUMENT, format_option
from generator.cli_registry import COMMANDS as REGISTRY_COMMANDS
from generator.delivery import budget
from generator.delivery.write import CREATED, UNCHANGED, write_new_file
from generator.errors import K8sgenError, SpecError
from generator.render.yamlio import dump
from generator.secrets import certs, kubeconfig
from generator.starter import StarterOptions, starter_spec


class K8sgenGroup(click.Group):
    """Turns our own errors into exit 1 with a message; --debug keeps the traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except K8sgenError as exc:
            if ctx.params.get("debug"):
                traceback.print_exc()
            click.echo(str(exc) if isinstance(exc, SpecError) else f"error: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=K8sgenGroup)
@click.version_option(__version__, prog_name="k8sgen")
@click.option("--debug", is_flag=True, help="Show tracebacks of failures.")
def cli(debug: bool) -> None:
    """Render cloud-init user-data that turns fresh VMs into a kubeadm cluster."""


SECRETS_OPTION = click.option(
    "--secrets",
    "secrets_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Secrets file (default: SPEC with .secrets.yaml in place of .yaml).",
)


@cli.command("validate")
@SPEC_ARGUMENT
def validate_command(spec_path: Path) -> None:
    """Check SPEC; print every problem as FILE:LINE: field: message."""
    cluster = load_cluster(spec_path, warn=_warn).cluster
    click.echo(f"{spec_path}: valid ({len(cluster.nodes)} nodes, Kubernetes {cluster.version})")


@cli.command("secrets")
@SPEC_ARGUMENT
@SECRETS_OPTION
def secrets_command(spec_path: Path, secrets_path: Path | None) -> None:
    """Create the secrets file of SPEC (or check the existing one)."""
    loaded = load_cluster(spec_path, SecretsNeed.LOAD_OR_CREATE, secrets_path, _warn)
    stored = loaded.require_secrets()
    state = "created" if stored.created else "exists, valid"
    click.echo(f"{stored.path}: {state} (0600; keep it private)")
    click.echo(f"CA certificate hash: {stored.value.ca_cert_hash}")


@cli.command("certs")
@SPEC_ARGUMENT
@SECRETS_OPTION
@format_option(certs.FORMATS, "text", "text: a table; json: the same rows as data.")
def certs_command(spec_path: Path, secrets_path: Path | None, fmt: str) -> None:
    """Every certificate of SPEC's cluster: when it ends and what renews it (offline)."""
    loaded = load_cluster(
        spec_path,
        SecretsNeed.EXISTING,
        secrets_path,
        _warn,
        why="the table reads the certificates k8sgen minted there",
    )
    stored = loaded.require_secrets()
    for warning in certs.lifetime_warnings(loaded.cluster, stored.value):
        click.echo(f"warning: {warning}", err=True)
    rows = certs.certificate_rows(loaded.cluster, stored.path)
    click.echo(certs.render_table(loaded.cluster, rows, fmt), nl=False)


@cli.command("kubeconfig")
@SPEC_ARGUMENT
@click.option("--user", required=True, help="User name (the certificate's CN).")
@click.option(
    "--group", "groups", multiple=True, help="Group (an O of the certificate); repeat for several."
)
@click.option(
    "--ttl",
    default=kubeconfig.DEFAULT_TTL,
    show_default=True,
    help="Lifetime, such as 8h or 720h; the certificate cannot be revoked before it ends.",
)
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The kubeconfig to create (0600; an existing file is never replaced).",
)
@SECRETS_OPTION
@click.option(
    "--allow-system-masters",
    is_flag=True,
    help="Allow --group system:masters (bypasses RBAC; a break-glass credential).",
)
def kubeconfig_command(
    spec_path: Path,
    user: str,
    groups: tuple[str, ...],
    ttl: str,
    output: Path,
    secrets_path: Path | None,
    allow_system_masters: bool,
) -> None:
    """Mint a client kubeconfig for SPEC's cluster, signed by its CA, offline."""
    loaded = load_cluster(
        spec_path,
        SecretsNeed.EXISTING,
        secrets_path,
        _warn,
        why="the kubeconfig is signed by the cluster CA stored there",
    )
    minted = kubeconfig.mint(
        loaded.cluster,
        loaded.require_secrets().value,
        user,
        groups,
        kubeconfig.parse_ttl(ttl),
        allow_masters=allow_system_masters,
    )
    write_new_file(output, dump(minted.kubeconfig).encode(), 0o600)
    click.echo(
        f"{output}: user {user}, groups {', '.join(groups) or '(none)'}, "
        f"valid until {minted.not_after:%Y-%m-%d %H:%M:%S} UTC",
        err=True,
    )


@cli.command("render")
@SPEC_ARGUMENT
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("output"),
    show_default=True,
    help="Output folder.",
)
@SECRETS_OPTION
@click.option("--dry-run", is_flag=True, help="Say what would be written; write nothing.")
@click.option("--iso", is_flag=True, help="Also write a NoCloud seed ISO (cidata.iso) per node.")
@click.option("--gzip", "gzipped", is_flag=True, help="Write user-data gzip-compressed.")
@click.option(
    "--platform",
    type=click.Choice(sorted(budget.PLATFORMS)),
    help="Refuse to render user-data larger than this platform accepts.",
)
@click.option(
    "--renew-join-credential",
    "renew",
    multiple=True,
    metavar="NODE",
    help="Mint a new join certificate for NODE (one whose certificate expired before it "
    "joined); repeat for several. Changes NODE's user-data.",
)
def render_command(
    spec_path: Path,
    output: Path,
    secrets_path: Path | None,
    dry_run: bool,
    iso: bool,
    gzipped: bool,
    platform: str | None,
    renew: tuple[str, ...],
) -> None:
    """Validate SPEC and write per-node cloud-init data to OUTPUT/<cluster>/."""
    loaded = load_cluster(spec_path, SecretsNeed.LOAD_OR_NEW, secrets_path, _warn)
    request = RenderRequest(
        output, dry_run=dry_run, iso=iso, gzip=gzipped, platform=platform, renew=renew
    )
    report = render_cluster(loaded, request)
    _echo_secrets_file(loaded, report, dry_run)
    _summary(loaded.cluster, report, dry_run)
    for line in report.join_lines:
        click.echo(line, err=line.startswith("warning:"))
    for warning in certs.lifetime_warnings(loaded.cluster, report.secrets.value):
        click.echo(f"warning: {warning}", err=True)
    for line in report.token_lines:
        click.echo(line, err=line.startswith("warning:"))
    for line in budget.size_table(report.sizes):
        click.echo(line)
    for stale in report.stale:
        click.echo(f"{stale}: not produced by this render (left in place)", err=True)
    if report.egress is not None:
        click.echo(report.egress.summary())
    if loaded.cluster.offline.bundle:
        click.echo(
            f"bundle mode: attach bundle.iso (k8sgen bundle {spec_path} -o DIR) to every node"
        )


def _echo_secrets_file(loaded: LoadedCluster, report: RenderReport, dry_run: bool) -> None:
    """What the render did to the secrets file."""
    stored = report.secrets
    if stored.created and dry_run:
        click.echo(f"{stored.path}: would be created", err=True)
    elif stored.created:
        click.echo(
            f"{stored.path}: created the cluster secrets (0600; keep it private, back it up)"
        )
    elif stored.value != loaded.require_secrets().value and not dry_run:
        minted = ", ".join(report.joins.minted) or "none"
        click.echo(f"{stored.path}: updated (nodes recorded; join certificates minted: {minted})")


def _summary(cluster: model.Cluster, report: RenderReport, dry_run: bool) -> None:
    verb = "would write" if dry_run else "wrote"
    results = report.results
    counts = {s: sum(1 for r in results if r.status == s) for s in (CREATED, "changed", UNCHANGED)}
    click.echo(
        f"{report.root}: {verb} {len(results)} files "
        f"({counts[CREATED]} created, {counts['changed']} changed, {counts[UNCHANGED]} unchanged)"
    )
    click.echo(f"cluster {cluster.name}: Kubernetes {cluster.version}, endpoint {cluster.endpoint}")
    for node in cluster.nodes:
        first = " (runs kubeadm init)" if node == cluster.init_node else ""
        click.echo(f"  {node.name:<20} {node.role:<14} {node.ip or 'dhcp'}{first}")
    click.echo(f"CA certificate hash: {report.secrets.value.ca_cert_hash}")


@cli.command("explain-status")
@click.argument(
    "files", metavar="FILE...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
def explain_status_command(files: tuple[Path, ...]) -> None:
    """Explain /var/lib/k8sgen/status.json files fetched from nodes: what failed, what to do."""
    texts, bad = [], []
    for path in files:  # one unreadable file must not hide the report on the others
        try:
            texts.append(status.explain(status.load_status(path)))
        except status.StatusError as exc:
            bad.append(exc)
    click.echo("\n".join(texts), nl=False)
    if bad:
        raise K8sgenError("\nerror: ".join(str(exc) for exc in bad))  # one line per file


@cli.command("init")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the starter spec here instead of standard output.",
)
@click.option("--force", is_flag=True, help="Replace an existing --output file.")
@click.option("--name", default="demo", show_default=True, help="Cluster name.")
@click.option(
    "--kubernetes-version",
    default=StarterOptions.kubernetes_version,
    show_default=True,
    help="Exact Kubernetes version.",
)
@click.option(
    "--os",
    "os_name",
    default="ubuntu:24.04",
    show_default=True,
    help="FAMILY:VERSION of the node images.",
)
@click.option(
    "--arch",
    default=StarterOptions.arch,
    show_default=True,
    help="CPU architecture of the nodes (amd64 or arm64).",
)
@click.option(
    "--control-plane",
    "control_planes",
    multiple=True,
    metavar="ADDRESS/PREFIX",
    help="Static address of a control plane (repeat for several).",
)
@click.option(
    "--worker",
    "workers",
    multiple=True,
    metavar="ADDRESS/PREFIX",
    help="Static address of a worker (repeat for several).",
)
@click.option("--gateway", help="Default gateway of the static addresses.")
@click.option(
    "--interface",
    metavar="NAME",
    help="NIC of the static addresses (spec.network.interface); default: the OS's "
    "(eth0 on rocky and almalinux), else ens3 (enp1s0 on arm64).",
)
@click.option("--endpoint", help="API endpoint HOST:PORT (required with several control planes).")
def init_command(
    output: Path | None,
    force: bool,
    name: str,
    kubernetes_version: str,
    os_name: str,
    arch: str,
    control_planes: tuple[str, ...],
    workers: tuple[str, ...],
    gateway: str | None,
    interface: str | None,
    endpoint: str | None,
) -> None:
    """Write a commented starter spec that validates as written."""
    family, _, os_version = os_name.partition(":")
    options = StarterOptions(
        name=name,
        kubernetes_version=kubernetes_version,
        os_family=family,
        os_version=os_version,
        arch=arch,
        control_planes=control_planes or StarterOptions.control_planes,
        workers=workers or (() if control_planes else StarterOptions.workers),
        gateway=gateway,
        endpoint=endpoint,
        interface=interface,
    )
    text = starter_spec(options)
    if output is None:
        click.echo(text, nl=False)
        return
    _write_starter(output, text, force)
    click.echo(f"{output}: written; next: k8sgen render {output}", err=True)


def _write_starter(output: Path, text: str, force: bool) -> None:
    refusal = "use --force to replace it"
    write_new_file(output, text.encode(), 0o644, replace=force, refusal=refusal)


for _command in (*OFFLINE_COMMANDS, *REGISTRY_COMMANDS):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else sys.argv[1:], prog_name="k8sgen")
