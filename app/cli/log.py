"""``portal log ...``: verify the public disclosure log, sign a checkpoint, print its key."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from app.db import database
from app.resources import disclosure_log_keys
from app.services.disclosures import log as disclosure_log


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
