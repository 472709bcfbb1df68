"""Receipt versions: which derivations the stored reports need, and a report found by its code.

Each report keeps the version of the derivation that made its lookup id from its receipt code
(``Report.receipt_version``, an entry of ``crypto.receipts.RECEIPT_VERSIONS``). A code is
derived under every version in use: the current one, and each older one that a stored report
still has. So a code costs the same derivations whether it is wrong or right and whichever
version its report has, and a version that no report has any more costs nothing: it is
retired when its last report is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from app.models import RECEIPT_VERSION_UNRECORDED, Report
from app.services.reports.errors import ReportError
from crypto.keys import X25519Identity
from crypto.receipts import RECEIPT_VERSIONS, ReceiptVersions, derive_receipts

# Rows stored before their version was (migration 0009) were made by one of these.
UNRECORDED_MAY_BE = (1, 2)


class ReceiptVersionRefused(ReportError):
    """A code matched a report whose stored receipt version is not the one that matched (or
    one this server does not know): the report is not opened, and ``portal reports fsck``
    names it."""

    message_key = "receipt_version_refused"

    def __init__(self, stored: int) -> None:
        super().__init__(f"{self.message_key} (stored version {stored})")
        self.stored = stored


@dataclass(frozen=True)
class Found:
    report: Report
    identity: X25519Identity  # the reporter's key, derived from the code
    version: int  # the receipt version that matched


def _stored(session: Session, version: int) -> bool:
    # An index lookup (ix_reports_receipt_version), whatever the number of reports.
    return bool(session.scalar(select(exists().where(Report.receipt_version == version))))


def versions_in_use(
    session: Session, versions: ReceiptVersions = RECEIPT_VERSIONS
) -> tuple[int, ...]:
    """The versions every lookup derives a code under, in ascending order: the current one,
    and every other known one that a stored report has (or may have, for rows older than
    their version)."""
    in_use = {versions.current}
    in_use.update(v for v in versions if v != versions.current and _stored(session, v))
    if _stored(session, RECEIPT_VERSION_UNRECORDED):
        in_use.update(v for v in UNRECORDED_MAY_BE if v in versions)
    return tuple(sorted(in_use))


def reports_by_version(session: Session) -> dict[int, int]:
    """How many reports each stored receipt version has (0: stored before versions were)."""
    counted = session.execute(
        select(Report.receipt_version, func.count()).group_by(Report.receipt_version)
    )
    return dict(sorted(counted, key=_version_order))


def _version_order(row: Any) -> tuple[int, int, str]:
    """Versions in order; after them anything else a changed row may hold (SQLite keeps a
    text in an integer column), never a comparison of a number with a text."""
    version = row[0]
    if isinstance(version, int):
        return (0, version, "")
    return (1, 0, str(version))


def unknown_versions(
    session: Session, versions: ReceiptVersions = RECEIPT_VERSIONS
) -> list[tuple[str, int]]:
    """Reports whose stored version this server cannot derive: (report id, version)."""
    known = [RECEIPT_VERSION_UNRECORDED, *versions]
    rows = session.execute(
        select(Report.id, Report.receipt_version)
        .where(Report.receipt_version.not_in(known))
        .order_by(Report.id)
    )
    return [(report_id, version) for report_id, version in rows]


def _matches(stored: int, derived: int) -> bool:
    if stored == RECEIPT_VERSION_UNRECORDED:
        return derived in UNRECORDED_MAY_BE
    return stored == derived


def find_by_code(
    session: Session, pepper: bytes, code: str, versions: ReceiptVersions = RECEIPT_VERSIONS
) -> Found | None:
    """The report a receipt code opens, or None; ReceiptCodeError for a malformed code.

    The code is derived under every version in use, then every lookup id is looked for in one
    query on the unique index: no derivation is skipped, whether a report is found or not.
    A found report whose stored version is not the one that matched raises
    ReceiptVersionRefused.
    """
    in_use = versions_in_use(session, versions)
    receipts = derive_receipts(code, pepper, [versions[v] for v in in_use])
    by_lookup = {r.lookup_hex: (v, r) for v, r in zip(in_use, receipts, strict=True)}
    rows = session.scalars(select(Report).where(Report.lookup_id.in_(list(by_lookup)))).all()
    # Two rows only if a code was drawn again under another version (about 10^-20 a report):
    # the newer version's report opens.
    for row in sorted(rows, key=lambda r: by_lookup[r.lookup_id][0], reverse=True):
        version, receipt = by_lookup[row.lookup_id]
        if not _matches(row.receipt_version, version):
            raise ReceiptVersionRefused(row.receipt_version)
        if row.reporter_recipient == str(receipt.identity.recipient):
            return Found(row, receipt.identity, version)
    return None
