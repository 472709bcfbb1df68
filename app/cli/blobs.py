"""``portal blobs migrate --to postgresql|filesystem``: move every blob to the other store."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from app.db import database
from app.resources import make_blob_store
from app.services import blob_migration

STORES = ("postgresql", "filesystem")


@click.group("blobs", help="The store of report files and attachments.")
def blobs_group() -> None:
    pass


@blobs_group.command("migrate")
@click.option("--to", "to", type=click.Choice(STORES), required=True, help="The store to fill.")
@with_appcontext
def migrate_command(to: str) -> None:
    """Move every blob from the other store to the one named by --to, checking each copy's
    size and SHA-256 (against the source and the database) before its source is deleted.

    Stop every server first. A run that is interrupted can simply be run again. Afterwards set
    PORTAL_BLOB_STORE to the new store on every server (docs/operations.md).
    """
    config = current_app.config
    if to == "postgresql" and not str(config["DATABASE_URL"]).startswith("postgresql"):
        raise click.ClickException("the database is not PostgreSQL: blobs cannot move into it")
    if not str(config["DATABASE_URL"]).startswith("postgresql"):
        raise click.ClickException(
            "the database is not PostgreSQL: its blobs are in the filesystem already"
        )
    source_kind = "filesystem" if to == "postgresql" else "postgresql"
    source = make_blob_store(current_app, source_kind)
    target = make_blob_store(current_app, to)
    target.prepare()  # type: ignore[attr-defined]

    def progress(number: int, total: int, key: str, said: str) -> None:
        click.echo(f"[{number}/{total}] {key}: {said}")

    try:
        with blob_migration.one_run_at_a_time(database().engine):
            with database().session() as session:
                expected = blob_migration.expected_blobs(session)
            outcome = blob_migration.migrate_blobs(source, target, expected, progress)
    except blob_migration.MigrationRunning:
        raise click.ClickException(
            "another `portal blobs migrate` is moving the blobs of this database: let it "
            "finish, then run this again if it did not end with every blob moved"
        ) from None
    click.echo(
        f"{outcome.moved} blobs moved to the {to} store, {outcome.already} were there already; "
        f"{len(outcome.missing)} missing, {len(outcome.failed)} failed."
    )
    for key in outcome.missing:
        click.echo(f"MISSING blob {key}: in neither store", err=True)
    for key, why in outcome.failed:
        click.echo(f"FAILED blob {key}: {why}", err=True)
    if config["BLOB_STORE"] != to:
        click.echo(
            f"This server still uses the {config['BLOB_STORE']} store: set "
            f"PORTAL_BLOB_STORE={to} on every server and start them again."
        )
    if not outcome.ok:
        sys.exit(1)
