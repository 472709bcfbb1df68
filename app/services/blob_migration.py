"""Moving every blob from one store to the other (``portal blobs migrate``), one at a time.

For each blob: copy it under the same key, read the copy back to its end and check its size
and SHA-256 against the bytes read from the source and against what the database says of it
(the size of a report's file or note, the size and SHA-256 of a disclosure's attachment); only
then delete the source. A copy is durable before it is checked (a file fsynced with its
folder; a PostgreSQL transaction committed), so at every moment each blob has one whole copy
at least: a run killed anywhere and run again finds the blobs already moved (their copy checks
out: the source left behind is deleted), the copy it was making (incomplete: deleted and made
again) and the rest, and ends with every blob in the new store, once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import CaseNote, DisclosureAttachment, ReportEnvelope
from app.services.blobs import CHUNK, BlobError, BlobStore, hash_stream
from app.services.reports.fsck import referenced_blob_keys

NO_LIMIT = 2**62


@dataclass(frozen=True)
class Expected:
    """What the database says of a blob: its size and SHA-256, where a row keeps them."""

    size: int | None = None
    sha256: str | None = None


@dataclass
class MigrationOutcome:
    moved: int = 0  # copied, checked, source deleted
    already: int = 0  # a whole copy was there from an earlier run: source deleted if left
    missing: list[str] = field(default_factory=list)  # in neither store: lost before the run
    failed: list[tuple[str, str]] = field(default_factory=list)  # key, why (source kept)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.failed)


def expected_blobs(session: Session) -> dict[str, Expected]:
    """Every blob key the database holds, with the size (and SHA-256) its row says."""
    expected = {key: Expected() for key in referenced_blob_keys(session)}
    for key, size in session.execute(select(ReportEnvelope.blob_key, ReportEnvelope.size)):
        expected[key] = Expected(size)
    for key, size in session.execute(select(CaseNote.blob_key, CaseNote.size)):
        expected[key] = Expected(size)
    attachment = DisclosureAttachment
    for key, size, sha256 in session.execute(
        select(attachment.blob_key, attachment.size, attachment.sha256)
    ):
        expected[key] = Expected(size, sha256)
    return expected


def digest_of(blobs: BlobStore, key: str) -> tuple[int, str] | None:
    """The size and SHA-256 of a blob read to its end; None when it is missing or unreadable."""
    try:
        with blobs.open(key) as blob:
            return hash_stream(blob, CHUNK)
    except (BlobError, OSError):
        return None


def _problem(found: tuple[int, str] | None, wanted: Expected, source: tuple[int, str] | None):
    if found is None:
        return "no readable copy"
    size, sha256 = found
    if wanted.size is not None and size != wanted.size:
        return f"{size} bytes where the database says {wanted.size}"
    if wanted.sha256 is not None and sha256 != wanted.sha256:
        return "SHA-256 differs from the database's"
    if source is not None and found != source:
        return "differs from the source"
    return None


def migrate_blobs(
    source: BlobStore,
    target: BlobStore,
    expected: dict[str, Expected],
    on_blob: Callable[[int, int, str, str], None] | None = None,
) -> MigrationOutcome:
    """Move every blob of ``source`` (and every one the database names) to ``target``.

    ``on_blob(number, total, key, what happened)`` is told of each. Idempotent: see the
    module's doc.
    """
    outcome = MigrationOutcome()
    keys = sorted(set(expected) | set(source.keys()))
    for number, key in enumerate(keys, start=1):
        said = _move(source, target, key, expected.get(key, Expected()), outcome)
        if on_blob is not None:
            on_blob(number, len(keys), key, said)
    return outcome


def _move(
    source: BlobStore, target: BlobStore, key: str, wanted: Expected, outcome: MigrationOutcome
) -> str:
    original = digest_of(source, key)
    there = digest_of(target, key)
    if there is not None and _problem(there, wanted, original) is None:
        if original is not None:
            source.delete(key)
        outcome.already += 1
        return "already moved" + (": source deleted" if original is not None else "")
    if original is None:
        if there is not None:  # a copy that does not check out, and nothing to copy again
            outcome.failed.append((key, f"copy kept as it is: {_problem(there, wanted, None)}"))
            return "FAILED: the copy does not check out and the source is gone"
        outcome.missing.append(key)
        return "MISSING from both stores"
    problem = _problem(original, wanted, None)
    if problem is not None:
        outcome.failed.append((key, f"source: {problem}"))
        return f"FAILED: the source does not check out ({problem}): left where it is"
    if there is not None:
        target.delete(key)  # an unfinished copy of an interrupted run
    with source.open(key) as stream:
        target.put(stream, NO_LIMIT, key=key)
    copied = digest_of(target, key)
    problem = _problem(copied, wanted, original)
    if problem is not None:
        target.delete(key)
        outcome.failed.append((key, f"copy: {problem}"))
        return f"FAILED: the copy does not check out ({problem}): source kept"
    source.delete(key)
    outcome.moved += 1
    return f"moved ({original[0]} bytes, SHA-256 checked)"
