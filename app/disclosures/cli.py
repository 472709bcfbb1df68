"""``portal log ...`` and ``portal disclosures ...`` commands."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import with_appcontext

from app.db import database
from app.disclosures import bulk_cli
from app.resources import disclosure_log_keys
from app.services.disclosures import categories
from app.services.disclosures import log as disclosure_log
from app.web import runtime


def init_app(app: Flask) -> None:
    app.cli.add_command(log_group)
    app.cli.add_command(disclosures_group)
    bulk_cli.register(disclosures_group)


@click.group("log", help="The public disclosure log.")
def log_group() -> None:
    pass


@log_group.command("verify")
@with_appcontext
def log_verify() -> None:
    """Recompute every leaf from the database and check roots and checkpoint signatures."""
    keys = disclosure_log_keys()
    with database().session() as session:
        result = disclosure_log.verify(session, keys.verifier(), keys.origin)
    if not result.ok:
        click.echo(
            f"Disclosure log verification FAILED ({len(result.problems)} problems):", err=True
        )
        for problem in result.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(1)
    click.echo(
        f"Disclosure log OK: {result.size} entries, "
        f"{result.checkpoints} signed checkpoints verified."
    )


@log_group.command("checkpoint")
@with_appcontext
def log_checkpoint() -> None:
    """Sign a checkpoint covering the whole log (if needed) and print it."""
    keys = disclosure_log_keys()
    with database().session() as session:
        checkpoint = disclosure_log.sign_checkpoint(session, keys.signer, keys.origin)
        click.echo(checkpoint.note if checkpoint else "The log is empty.", nl=False)


@log_group.command("key")
@with_appcontext
def log_key() -> None:
    """Print the log's public verifier key (publish it where readers can compare)."""
    click.echo(disclosure_log_keys().signer.verifier.vkey)


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
