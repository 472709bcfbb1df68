"""``portal log ...``: verify the public disclosure log, sign a checkpoint, print its key."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext

from app.db import database
from app.resources import disclosure_log_keys
from app.services.disclosures import log as disclosure_log
from crypto import tlog
from crypto.errors import ProofError


@click.group("log", help="The public disclosure log.")
def log_group() -> None:
    pass


@log_group.command("verify")
@click.option(
    "--proof",
    "proof_file",
    type=click.File("rb"),
    help="Check a saved inclusion proof (/log/proof/<id>) instead, without the database.",
)
@click.option(
    "--key",
    "key_file",
    type=click.File("rb"),
    help="The log's public key (/log/key) to check a proof with; default: this instance's.",
)
@with_appcontext
def log_verify(proof_file, key_file) -> None:
    """Recompute every leaf from the database and check roots and checkpoint signatures.

    With --proof, check one disclosure's saved inclusion proof: the checkpoint's signature,
    each record against its leaf hash, and each leaf's path to the checkpoint's root.
    """
    keys = disclosure_log_keys()
    if proof_file is not None:
        _verify_proof(proof_file, key_file)
        return
    with database().session() as session:
        result = disclosure_log.verify(session, keys.verifier(), keys.origin)
        latest = disclosure_log.latest_checkpoint(session)
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
    if latest is not None:
        root = disclosure_log.hash_text(latest.root_hash)
        click.echo(f"Latest checkpoint: {latest.size} entries, root hash {root}")


def _verify_proof(proof_file, key_file) -> None:
    try:
        if key_file is not None:
            verifier = tlog.Verifier.from_vkey(key_file.read().strip())
        else:
            verifier = disclosure_log_keys().verifier()
            if verifier is None:
                raise ProofError("no public key of the log: give one with --key")
        document = json.loads(proof_file.read())
        checked = disclosure_log.check_proof_document(document, verifier)
    except (ProofError, ValueError) as exc:
        click.echo(f"Inclusion proof FAILED: {exc}", err=True)
        sys.exit(1)
    entries = ", ".join(str(index) for index in checked.entries) or "none"
    click.echo(
        f"Inclusion proof OK: disclosure {checked.disclosure}, log entries {entries} "
        f"are included in the signed checkpoint of {checked.size} entries, "
        f"root hash {checked.root}"
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
