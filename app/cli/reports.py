"""``portal reports ...`` commands: checks of the encrypted report store, receipt versions."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from app.db import database
from app.models import RECEIPT_VERSION_UNRECORDED
from app.resources import blob_store, blob_store_hint, receipt_versions
from app.services.reports import fsck as report_fsck
from app.services.reports import receipt_versions as versions_service
from crypto.errors import CryptoError
from crypto.keys import X25519Identity, parse_identities_file


@click.group("reports", help="Anonymous reports: storage checks, receipt versions.")
def reports_group() -> None:
    pass


def _identities(files: tuple[str, ...]) -> list[X25519Identity]:
    identities: list[X25519Identity] = []
    for name in files:
        try:
            identities += parse_identities_file(Path(name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, CryptoError, ValueError) as exc:
            raise click.ClickException(f"{name}: not an age identity file ({exc})") from None
    return identities


@reports_group.command("fsck")
@click.option(
    "--identity",
    "identity_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="An age identity file (a recovery key of a test setup): decrypt every report it opens.",
)
@click.option("--dry-run", is_flag=True, help="List orphan blobs; delete nothing.")
@click.option(
    "--min-age-days",
    type=click.IntRange(0, 365),
    default=2,
    show_default=True,
    help="Leave orphan blobs younger than this (their upload may still be running).",
)
@with_appcontext
def fsck_command(identity_files: tuple[str, ...], dry_run: bool, min_age_days: int) -> None:
    """Find orphan blobs (deleted), missing blobs, files not at the place they name, and with
    --identity files that do not open."""
    identities = _identities(identity_files)
    with database().session() as session:
        result = report_fsck.fsck(
            session,
            blob_store().bound(session),
            identities,
            delete_orphans=not dry_run,
            min_age=min_age_days * 86400,
            receipt_versions=receipt_versions(),
        )
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{result.blobs} blobs checked; {verb} {len(result.orphans)} orphan blobs.")
    for key in result.orphans:
        click.echo(f"  orphan {key}")
    for envelope_id in result.missing:
        click.echo(f"MISSING blob of envelope {envelope_id}", err=True)
    for envelope_id in result.wrong_size:
        click.echo(f"WRONG SIZE of the blob of envelope {envelope_id}", err=True)
    for key, problem in result.damaged_blobs:
        click.echo(f"DAMAGED blob {key}: {problem}", err=True)
    if result.missing_keys:
        hint = blob_store_hint(result.missing_keys)
        if hint:
            click.echo(hint, err=True)
    for envelope_id, error in result.damaged:
        click.echo(f"DAMAGED envelope {envelope_id}: {error}", err=True)
    for misplaced in result.misplaced:
        click.echo(f"MISPLACED {misplaced}", err=True)
    for report_id, staff_id in result.excluded_readers:
        click.echo(
            f"EXCLUDED READER staff {staff_id} of report {report_id}: the reporter kept them "
            "out; messages are not encrypted to them",
            err=True,
        )
    for report_id, version in result.unknown_receipt_versions:
        click.echo(
            f"UNKNOWN RECEIPT VERSION {version} of report {report_id}: this server cannot "
            "derive it, so the report's code opens nothing here",
            err=True,
        )
    if identities:
        click.echo(
            f"{result.opened} files decrypted and authenticated; "
            f"{result.not_for_these_keys} not for these keys."
        )
    if not result.ok:
        click.echo("Report store check FAILED.", err=True)
        sys.exit(1)
    click.echo("Report store OK.")


def _memory(kib: int) -> str:
    return f"{kib // 1024} MiB" if kib % 1024 == 0 else f"{kib} KiB"


@reports_group.command("receipt-versions")
@with_appcontext
def receipt_versions_command() -> None:
    """How many reports each receipt version has, and which versions a code entered costs."""
    versions = receipt_versions()
    with database().session() as session:
        counts = versions_service.reports_by_version(session)
        in_use = versions_service.versions_in_use(session, versions)
    for version in versions:
        params = versions[version]
        current = " (current)" if version == versions.current else ""
        derived = "derived for every code entered" if version in in_use else "not derived"
        click.echo(
            f"version {version}{current}: Argon2id {_memory(params.memory_cost_kib)}, "
            f"{params.iterations} passes, {params.lanes} lane(s); "
            f"{counts.pop(version, 0)} reports; {derived}"
        )
    unrecorded = counts.pop(RECEIPT_VERSION_UNRECORDED, 0)
    if unrecorded:
        may_be = " or ".join(str(v) for v in versions_service.UNRECORDED_MAY_BE)
        click.echo(f"stored before versions were (migration 0009), version {may_be}: {unrecorded}")
    for version, count in counts.items():
        click.echo(f"version {version}: UNKNOWN to this server; {count} reports (see fsck)")
    click.echo(f"A code entered at /report/follow-up costs {len(in_use)} derivation(s).")
