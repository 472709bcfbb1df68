"""``portal audit ...``: verify the staff audit trail, sign a checkpoint, print its key."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from app.db import database
from app.i18n import today
from app.resources import audit_log_keys
from app.services import audit


@click.group("audit", help="The staff audit trail (a signed log of its own).")
def audit_group() -> None:
    pass


@audit_group.command("verify")
@click.option(
    "--checkpoint",
    "saved",
    multiple=True,
    type=click.File("r", encoding="utf-8"),
    help="A checkpoint saved earlier (downloaded from /audit/checkpoint); may be repeated.",
)
@with_appcontext
def audit_verify(saved: tuple) -> None:
    """Recompute every entry and check the chain, the roots and every checkpoint's signature.

    Exits 1 naming each entry changed, removed, inserted or reordered and each checkpoint
    forged or no longer matching, stored or saved.
    """
    keys = audit_log_keys()
    notes = [file.read() for file in saved]
    with database().session() as session:
        result = audit.verify(session, keys.verifier(), keys.origin, notes)
    if not result.ok:
        click.echo(f"Audit log verification FAILED ({len(result.problems)} problems):", err=True)
        for problem in result.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(1)
    click.echo(
        f"Audit log OK: {result.size} entries, {result.checkpoints} signed checkpoints verified."
    )


@audit_group.command("checkpoint")
@with_appcontext
def audit_checkpoint() -> None:
    """Sign a checkpoint covering the whole audit log (if needed) and print it."""
    keys = audit_log_keys()
    with database().session() as session:
        checkpoint = audit.sign_checkpoint(session, keys.signer, keys.origin, today())
        click.echo(checkpoint.note if checkpoint else "The audit log is empty.", nl=False)


@audit_group.command("key")
@with_appcontext
def audit_key() -> None:
    """Print the audit log's public verifier key (keep it where auditors can compare)."""
    click.echo(audit_log_keys().signer.verifier.vkey)
