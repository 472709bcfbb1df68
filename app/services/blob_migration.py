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

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.models import CaseNote, DisclosureAttachment, ReportEnvelope
from app.services.blobs import CHUNK, BlobError, BlobStore, hash_stream
from app.services.reports.fsck import referenced_blob_keys

NO_LIMIT = 2**62
# PostgreSQL's advisory lock of a run: this number and the schema's (installations may share
# one database in schemas of their own).
_RUN_LOCK = 0x626C6F62  # "blob"
_LOCK_ARGS = "CAST(:number AS integer), hashtext(current_schema())"


ROW_DIFFERS = "its bytes do not hash to the SHA-256 its blobs row holds"


class MigrationRunning(Exception):
    """Another run is moving the blobs of this database."""


@contextmanager
def one_run_at_a_time(engine: Engine) -> Iterator[None]:
    """Held for a whole run; MigrationRunning when another run holds it.

    Two runs at once each copied and deleted the blobs the other was moving: one stopped on
    the other's rows (a duplicate key), and each deleted copies the other was still making or
    checking as unfinished. A run killed lets the lock go with its connection.
    """
    with engine.connect() as connection:
        taken = connection.scalar(
            text(f"SELECT pg_try_advisory_lock({_LOCK_ARGS})"), {"number": _RUN_LOCK}
        )
        connection.commit()  # a lock of the connection: it outlives the transaction
        if not taken:
            raise MigrationRunning()
        try:
            yield
        finally:
            connection.execute(
                text(f"SELECT pg_advisory_unlock({_LOCK_ARGS})"), {"number": _RUN_LOCK}
            )
            connection.commit()


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
    return _read(blobs, key)[0]


def _read(blobs: BlobStore, key: str) -> tuple[tuple[int, str] | None, str | None]:
    """The size and SHA-256 of a blob read to its end, or None and why it could not be read
    (or why it is not what its store's own row says)."""
    try:
        with blobs.open(key) as blob:
            found = hash_stream(blob, CHUNK)
    except BlobError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, f"unreadable: {exc.strerror or type(exc).__name__}"
    row = _recorded(blobs, key)
    if row is not None and row != found:
        return None, ROW_DIFFERS
    return found, None


def _recorded(blobs: BlobStore, key: str) -> tuple[int, str] | None:
    """The size and SHA-256 a store keeps beside a blob's bytes (PostgreSQL's ``blobs`` row);
    None where it keeps none (files) or has no row."""
    stat = getattr(blobs, "stat", None)
    return stat(key) if stat is not None else None


def _problem(
    found: tuple[int, str] | None,
    wanted: Expected,
    source: tuple[int, str] | None,
    row: tuple[int, str] | None = None,
):
    if found is None:
        return "no readable copy"
    size, sha256 = found
    if wanted.size is not None and size != wanted.size:
        return f"{size} bytes where the database says {wanted.size}"
    if wanted.sha256 is not None and sha256 != wanted.sha256:
        return "SHA-256 differs from the database's"
    if row is not None and found != row:
        return ROW_DIFFERS
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
    listed = set(source.keys())
    in_target = set(target.keys())
    keys = sorted(set(expected) | listed)
    for number, key in enumerate(keys, start=1):
        wanted = expected.get(key, Expected())
        said = _move(source, target, key, wanted, (key in listed, key in in_target), outcome)
        if on_blob is not None:
            on_blob(number, len(keys), key, said)
    return outcome


def _move(
    source: BlobStore,
    target: BlobStore,
    key: str,
    wanted: Expected,
    listed: tuple[bool, bool],
    outcome: MigrationOutcome,
) -> str:
    """Move one blob; ``listed``: whether each store lists its key (some of it is there,
    readable or not)."""
    in_source, in_target = listed
    # What a store itself says of the blob (PostgreSQL's row: the SHA-256 of the bytes it
    # was given) is checked too (``_read``): a chunk changed since would otherwise be copied
    # as it is now, and the only record of the blob's right bytes deleted with the source.
    # A copy from an earlier run is held to the source's row as well.
    row = _recorded(source, key)
    original, unreadable = _read(source, key)
    there, broken = _read(target, key)
    if there is not None and _problem(there, wanted, original, row) is None:
        if original is not None:
            source.delete(key)
        outcome.already += 1
        return "already moved" + (": source deleted" if original is not None else "")
    if original is None and in_source:  # there, but not whole: a chunk missing or cut, no row
        outcome.failed.append((key, f"source: {unreadable}"))
        return f"FAILED: the source does not check out ({unreadable}): left where it is"
    if original is None:
        if there is not None:  # a copy that does not check out, and nothing to copy again
            outcome.failed.append((key, f"copy kept as it is: {_problem(there, wanted, None)}"))
            return "FAILED: the copy does not check out and the source is gone"
        if in_target:  # moved by an earlier run, and damaged since
            outcome.failed.append((key, f"copy kept as it is: {broken}"))
            return f"FAILED: the copy does not check out ({broken}) and the source is gone"
        outcome.missing.append(key)
        return "MISSING from both stores"
    problem = _problem(original, wanted, None, row)
    if problem is not None:
        outcome.failed.append((key, f"source: {problem}"))
        return f"FAILED: the source does not check out ({problem}): left where it is"
    if there is not None or in_target:
        target.delete(key)  # an unfinished copy of an interrupted run, or what is left of one
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
