"""``portal purge``: retention by crypto-shredding (app/services/reports/retention.py).

The periodic jobs run it daily too (``portal jobs run purge``, ``portal serve``)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from app.db import database
from app.i18n import today
from app.resources import blob_store
from app.services.reports import retention


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if count < 1024 or unit == "MiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return str(count)


def _describe(due: retention.DueCase) -> str:
    return (
        f"{due.report_id}  {due.category:<24} concluded {due.concluded_on.isoformat()}"
        f" (kept {due.years} years): {due.files} file(s), {due.messages} message(s),"
        f" {due.notes} note(s), {_size(due.payload_bytes)} of payloads"
    )


@click.command("purge")
@click.option(
    "--dry-run", is_flag=True, help="List the cases that would be purged today; change nothing."
)
@with_appcontext
def purge_command(dry_run: bool) -> None:
    """Purge the concluded cases whose retention period has run out.

    Every header, payload, message and note of such a case is deleted, so nothing can decrypt
    it any more; a statistics row (quarter, kind, category, outcome) and its audit entries
    stay. Each case and the run are recorded on the audit trail. The period is
    PORTAL_RETENTION_YEARS after the conclusion, or its category's own (console:
    /admin/retention). A second run at the same moment waits for the first.
    """
    day = today()
    default_years = current_app.config["RETENTION_YEARS"]
    with database().sessions() as session:
        if dry_run:
            due = retention.due_cases(session, day, default_years)
            for case in due:
                click.echo(_describe(case))
            click.echo(
                f"{len(due)} concluded case(s) would be purged on {day.isoformat()}"
                " (dry run: nothing was changed)"
            )
            return
        outcome = retention.purge(session, blob_store(), day, default_years, audit_empty_run=True)
    for case in outcome.purged:
        click.echo(f"purged {_describe(case)}")
    click.echo(outcome.line)
