"""``portal disclosures ...``: scheduled publication, categories, the search index, and the
bulk JSON Lines files (export, import)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import force_locale

from app.db import database
from app.i18n import today
from app.resources import blob_store, disclosure_log_keys
from app.services.disclosures import bulk_export, bulk_import, categories
from app.services.search import index as search_index
from app.web import runtime


@click.group(
    "disclosures",
    help="Disclosures: scheduled publication, categories, export and import, the search index.",
)
def disclosures_group() -> None:
    pass


@disclosures_group.command("publish-due")
@with_appcontext
def publish_due() -> None:
    """Publish approved items whose scheduled time has come (run it from a timer)."""
    with database().sessions() as session:
        count = runtime.publish_due(session)
    click.echo(f"Published {count} scheduled disclosures.")


@disclosures_group.command("seed-categories")
@with_appcontext
def seed_categories() -> None:
    """Add the standard factory-affairs and party-affairs categories that are missing."""
    with database().session() as session:
        added = categories.ensure_categories(session)
    click.echo(f"Added {added} categories.")


def prepare_disclosures() -> None:
    """Seed missing standard categories and sign a checkpoint covering the log, so the
    public site has all it serves (the log key and its public ``.vkey`` came with the app)."""
    with database().session() as session:
        categories.ensure_categories(session)
    with database().sessions() as session:
        runtime.refresh_checkpoint(session)


@disclosures_group.command("reindex")
@with_appcontext
def reindex_command() -> None:
    """Rebuild the search index from the published disclosures."""
    with database().session() as session:
        count = search_index.reindex(session)
    click.echo(f"Search index rebuilt: {count} disclosures.")


@disclosures_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--batch-size",
    default=500,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Lines checked, written and committed together.",
)
@click.option(
    "--jobs",
    default=None,
    type=click.IntRange(1, 64),
    help="Worker processes that make the search text of large batches (default: one per "
    "processor this command may use).",
)
@with_appcontext
def import_command(file: Path, batch_size: int, jobs: int | None) -> None:
    """Import published disclosures from a JSON Lines FILE (see README).

    A bad line is reported with its number and reason and nothing of it is kept; the
    other lines are imported. The exit status is 1 if any line failed.
    """
    config = current_app.config
    log_keys = disclosure_log_keys()
    total_bytes = file.stat().st_size
    show_progress = sys.stdout.isatty()
    errors_seen = 0

    def report(number: int, error: str | None) -> None:
        nonlocal errors_seen
        if error is not None:
            errors_seen += 1
            click.echo(f"line {number}: {error}", err=True)

    bar_context = (
        click.progressbar(length=total_bytes, label="Importing", file=sys.stdout)
        if show_progress
        else contextlib.nullcontext()
    )
    with file.open("rb") as fh, bar_context as bar, force_locale("en"):

        def lines():
            for raw in fh:
                if bar is not None:
                    bar.update(len(raw))
                yield raw

        session = database().sessions()
        try:
            result = bulk_import.import_lines(
                session,
                lines(),
                file.parent,
                blob_store().bound(session),
                zone=runtime.local_zone(),
                today=today(),
                max_bytes=config["ATTACHMENT_MAX_BYTES"],
                signer=log_keys.signer,
                origin=log_keys.origin,
                batch_size=batch_size,
                jobs=jobs or len(os.sched_getaffinity(0)),
                on_line=report,
            )
        finally:
            session.close()
    click.echo(f"Imported {result.imported} disclosures; {len(result.errors)} lines failed.")
    if result.errors:
        sys.exit(1)


@disclosures_group.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--attachments",
    "attachments_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for attachment files (default: FILE's name + '.attachments' next to it, "
    "or ./attachments when writing to standard output).",
)
@with_appcontext
def export_command(file: Path | None, attachments_dir: Path | None) -> None:
    """Export every published disclosure with its revisions as JSON Lines (to FILE or stdout).

    The output imports again with ``portal disclosures import``.
    """
    base_dir = file.parent if file else Path.cwd()
    if not base_dir.is_dir():
        raise click.ClickException(f"no folder {str(base_dir)!r} to write {file.name!r} in")
    if attachments_dir is None:
        attachments_dir = (
            file.with_name(file.name + ".attachments") if file else Path("attachments")
        )
    with database().session() as session:
        items = bulk_export.export_items(
            session,
            blob_store(),
            attachments_dir.resolve(),
            base_dir.resolve(),
            runtime.local_zone(),
        )
        if file is None:
            count = bulk_export.write_jsonl(items, sys.stdout.buffer)
            sys.stdout.flush()
        else:
            with file.open("wb") as out:
                count = bulk_export.write_jsonl(items, out)
    click.echo(f"Exported {count} disclosures.", err=True)
