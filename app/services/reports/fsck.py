"""Checking the report store: blobs without rows, rows without blobs, files that do not open.

- an orphan blob (no row of any table points to it: reports' envelopes and disclosures'
  attachments alike) is left by an upload whose request failed, or a transaction rolled back
  after its blobs were written. It is deleted once it is ``min_age`` old, so a blob whose
  transaction is still running is never taken for one;
- an envelope whose blob is missing, or of another size than its row says, is reported;
- with identities (the recovery key of a test setup), every envelope whose header has a
  stanza for one of them is decrypted to its end, which authenticates every chunk;
- a report whose receipt version this server does not know is reported: its code opens
  nothing here (a newer server stored it, or the row was changed);
- a reader of a report that its reporter kept out is reported (only a changed database makes
  one): messages are never encrypted to them all the same;
- blobs kept in PostgreSQL (``BLOB_STORE = "postgresql"``) are each read to their end: a
  chunk missing or cut, bytes that do not hash to the row's SHA-256, chunks numbered past a
  blob's end and chunks without a ``blobs`` row are reported (``damaged_blobs``). Their rows
  have no age, and one not yet committed is seen by no other transaction: orphans there are
  taken whatever ``min_age``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.db import Base
from app.models import ReportEnvelope, ReportExclusion, ReportReader
from app.services.blobs import BlobError, BlobStore
from app.services.pg_blobs import PostgresBlobStore
from app.services.reports import places
from app.services.reports.envelopes import opened
from app.services.reports.places import Misplaced
from app.services.reports.receipt_versions import unknown_versions
from crypto.errors import CryptoError, NoIdentityMatch
from crypto.keys import Identity
from crypto.receipts import RECEIPT_VERSIONS, ReceiptVersions

DEFAULT_MIN_AGE = 2 * 24 * 3600  # blob times keep the day only: two days is one at least


@dataclass
class FsckResult:
    blobs: int = 0  # blobs on disk, old enough to judge
    orphans: list[str] = field(default_factory=list)  # deleted (or, dry run, to delete)
    missing: list[str] = field(default_factory=list)  # envelope ids without their blob
    missing_keys: list[str] = field(default_factory=list)  # their blob keys
    wrong_size: list[str] = field(default_factory=list)  # envelope ids
    opened: int = 0  # envelopes decrypted and authenticated to their end
    not_for_these_keys: int = 0  # envelopes with no stanza for the identities given
    damaged: list[tuple[str, str]] = field(default_factory=list)  # envelope id, error
    misplaced: list[Misplaced] = field(default_factory=list)  # where found, what it names
    # report id, stored receipt version that no entry of the server's versions matches
    unknown_receipt_versions: list[tuple[str, int]] = field(default_factory=list)
    excluded_readers: list[tuple[str, int]] = field(default_factory=list)  # report, staff id
    damaged_blobs: list[tuple[str, str]] = field(default_factory=list)  # blob key, what is wrong

    @property
    def ok(self) -> bool:
        """Nothing is missing, damaged or misplaced (orphans are tidied, not a fault)."""
        return not (
            self.missing
            or self.wrong_size
            or self.damaged
            or self.misplaced
            or self.unknown_receipt_versions
            or self.excluded_readers
            or self.damaged_blobs
        )


def referenced_blob_keys(session: Session) -> set[str]:
    """Every blob key any table holds: a column named ``blob_key`` in any model's table."""
    keys: set[str] = set()
    for table in Base.metadata.sorted_tables:
        column = table.columns.get("blob_key")
        if column is not None:
            keys.update(session.scalars(select(column)))
    return keys


def _blob_size(blobs: BlobStore, key: str) -> int:
    with blobs.open(key) as blob:
        return blob.seek(0, 2)


def _decrypts(blobs: BlobStore, envelope: ReportEnvelope, identities: Sequence[Identity]) -> None:
    with opened(blobs, envelope, identities) as plaintext:
        for _view in plaintext.views():
            pass


def fsck(
    session: Session,
    blobs: BlobStore,
    identities: Sequence[Identity] = (),
    *,
    delete_orphans: bool = True,
    min_age: float = DEFAULT_MIN_AGE,
    receipt_versions: ReceiptVersions = RECEIPT_VERSIONS,
) -> FsckResult:
    """Check the store; delete orphan blobs unless ``delete_orphans`` is False (a dry run)."""
    blobs = blobs.bound(session)
    result = FsckResult()
    result.unknown_receipt_versions = unknown_versions(session, receipt_versions)
    result.excluded_readers = [
        (report_id, staff_id)
        for report_id, staff_id in session.execute(
            select(ReportReader.report_id, ReportReader.staff_id)
            .join(
                ReportExclusion,
                (ReportExclusion.report_id == ReportReader.report_id)
                & (ReportExclusion.staff_id == ReportReader.staff_id),
            )
            .order_by(ReportReader.report_id, ReportReader.staff_id)
        )
    ]
    # Listed before the rows are read: a blob written after this is not looked at.
    on_disk = list(blobs.keys(min_age=min_age))
    result.blobs = len(on_disk)
    referenced = referenced_blob_keys(session)
    for key in on_disk:
        if key not in referenced:
            result.orphans.append(key)
            if delete_orphans:
                blobs.delete(key)
    if isinstance(blobs, PostgresBlobStore):
        orphans = set(result.orphans)
        result.damaged_blobs = [
            (check.key, check.problem)
            for check in blobs.check_all()
            if check.problem is not None and check.key not in orphans
        ]
    envelopes = session.scalars(
        select(ReportEnvelope)
        .options(selectinload(ReportEnvelope.message))
        .order_by(ReportEnvelope.id)
    )
    for envelope in envelopes:
        try:
            size = _blob_size(blobs, envelope.blob_key)
        except BlobError:
            result.missing.append(envelope.id)
            result.missing_keys.append(envelope.blob_key)
            continue
        if size != envelope.size:
            result.wrong_size.append(envelope.id)
            continue
        try:
            places.check(envelope)
        except Misplaced as misplaced:
            result.misplaced.append(misplaced)
            continue
        except CryptoError as exc:
            result.damaged.append((envelope.id, type(exc).__name__))
            continue
        if not identities:
            continue
        try:
            _decrypts(blobs, envelope, identities)
        except NoIdentityMatch:
            result.not_for_these_keys += 1
        except (CryptoError, BlobError) as exc:
            result.damaged.append((envelope.id, type(exc).__name__))
        else:
            result.opened += 1
    return result
