"""Retention by crypto-shredding: concluded cases are purged some whole years after conclusion.

A report's files can be read only through their headers (the recipient stanzas, in the
database) and payloads (in the blob store). Purging a case deletes every header, payload,
message, note, decision, label, view, reader, exclusion, recusal, transfer and inbox row of
it, so nothing, not even the office's recovery key, can decrypt any of it any more.

What stays:

- one statistics row (``PurgedReportStat``: quarter received, kind, category, subsidiary,
  office, concluded, acknowledged and answered in time, disposal; no id, no day), so the
  public statistics (stats.py) count the report as before;
- the audit entries that name the case: they hold its id as text and no content, and read
  the same without the case (the auditor's case history is a filter on that id). No tombstone
  row is kept: the audit trail is the record that the case existed and was purged;
- nothing that ties a receipt code to the purged report: the reporter's code then opens
  nothing, and gets the same answer as a code that never existed (which says that reports are
  deleted under the retention rules). A distinct answer would tell whoever holds a reporter's
  code (a colleague who found it, an employer who seized it) that a report was made.

The period of a category is its ``RetentionPeriod`` row, else the configured default
(``RETENTION_YEARS``). A case is due on the anniversary of its conclusion that many years on.

Each case is purged in a transaction of its own: its statistics row, the deletions and its
audit entry commit together (nothing is purged half), then its payloads are deleted from the
blob store (a crash between leaves payloads no header opens, which ``portal reports fsck``
finds). Payloads kept in PostgreSQL (``BLOB_STORE = "postgresql"``) are deleted in the case's
own transaction, with its rows. One run at a time: a second one waits for the first (a lock of
the database: an advisory lock on PostgreSQL, a lock file beside the SQLite file) and then
finds nothing left to do; each case is read again under its own lock, so none is purged twice.
After a run that purged something the database is rid of the deleted bytes: SQLite deletes with
``secure_delete`` (freed space overwritten with zeros), then ``VACUUM`` and an emptied write-
ahead log; PostgreSQL rewrites the tables (``VACUUM FULL``) and switches its write-ahead log
where the role may.
"""

from __future__ import annotations

import fcntl
import os
import threading
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import and_, delete, false, func, or_, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.db import sqlite_file
from app.models import (
    Case,
    CaseDecision,
    CaseDecisionMember,
    CaseLabel,
    CaseNote,
    CaseRecusal,
    CaseTransfer,
    CaseView,
    InboxEntry,
    PurgedReportStat,
    Report,
    ReportEnvelope,
    ReportExclusion,
    ReportMessage,
    ReportReader,
    RetentionPeriod,
    Unit,
)
from app.services import audit
from app.services.blobs import BlobError, BlobStore
from app.services.cases.deadlines import DONE
from app.services.reports import categories, day_reset, stats

MIN_YEARS = 1
MAX_YEARS = 100
LOCK_SPACE = 0x7075_7267  # "purg": PostgreSQL advisory locks of the purge
RUN_LOCK = 0  # the key of the run's lock in that space; a case's is from its id
# The tables a purge deletes from (children first), and the one it adds to.
TABLES = (
    "case_decision_members",
    "case_decisions",
    "case_notes",
    "case_labels",
    "case_views",
    "case_recusals",
    "case_transfers",
    "inbox_entries",
    "report_envelopes",
    "report_messages",
    "report_readers",
    "report_exclusions",
    "cases",
    "reports",
    "purged_report_stats",
    # Payloads kept in PostgreSQL (BLOB_STORE = "postgresql"); empty otherwise.
    "blobs",
    "blob_chunks",
)


class RetentionError(ValueError):
    """A retention period that cannot be; ``message_key`` names why (the view phrases it)."""

    def __init__(self, message_key: str) -> None:
        super().__init__(message_key)
        self.message_key = message_key


def category_codes(session: Session) -> list[str]:
    """The codes of the report categories, retired ones included, in their order."""
    return categories.codes(session)


def parse_years(typed: object) -> int:
    """A period as typed: whole years from MIN_YEARS to MAX_YEARS (full-width digits too).

    RetentionError("years_missing"), ("years_not_whole") or ("years_out_of_range").
    """
    value = unicodedata.normalize("NFKC", str(typed if typed is not None else "")).strip()
    if not value:
        raise RetentionError("years_missing")
    if len(value) > 20 or not value.isascii() or not value.isdigit():
        # Past 20 digits no number is in range; checked before int() reads a huge one.
        raise RetentionError("years_out_of_range" if value.isdecimal() else "years_not_whole")
    years = int(value)
    if not MIN_YEARS <= years <= MAX_YEARS:
        raise RetentionError("years_out_of_range")
    return years


def periods(session: Session, default_years: int) -> dict[str, int]:
    """Each category's period in years: its own, else ``default_years``."""
    own = dict(session.execute(select(RetentionPeriod.category, RetentionPeriod.years)).all())
    return {code: int(own.get(code, default_years)) for code in category_codes(session)}


def own_periods(session: Session) -> dict[str, int]:
    """The categories that have a period of their own (not the default)."""
    return dict(session.execute(select(RetentionPeriod.category, RetentionPeriod.years)).all())


def set_period(session: Session, category: str, years: int | None) -> bool:
    """Give ``category`` a period of its own (None: back to the default). True if it changed.

    The caller records the change on the audit trail, in the same transaction.
    """
    if category not in category_codes(session):
        raise RetentionError("no_such_category")
    if years is not None and not MIN_YEARS <= years <= MAX_YEARS:
        raise RetentionError("years_out_of_range")
    row = session.get(RetentionPeriod, category)
    if years is None:
        if row is None:
            return False
        session.delete(row)
        session.flush()
        return True
    if row is not None and row.years == years:
        return False
    if row is None:
        session.add(RetentionPeriod(category=category, years=years))
    else:
        row.years = years
    session.flush()
    return True


def add_years(day: date, years: int) -> date:
    """The same day ``years`` on (29 February: 1 March in a common year)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def _concluded(session: Session):
    return (
        select(Report.id, Report.category, Case.concluded_on)
        .join(Case, Case.report_id == Report.id)
        .where(Report.status.in_(DONE), Case.concluded_on.is_not(None))
    )


def due_counts(session: Session, today: date, default_years: int, within_years: int = 1) -> dict:
    """Per category: the concluded cases purged by ``within_years`` from ``today`` (the ones
    due already included), under the periods of now."""
    kept = periods(session, default_years)
    until = add_years(today, within_years)
    counts: Counter[str] = Counter()
    query = (
        select(Report.category, Case.concluded_on, func.count())
        .join(Case, Case.report_id == Report.id)
        .where(Report.status.in_(DONE), Case.concluded_on.is_not(None))
        .group_by(Report.category, Case.concluded_on)
    )
    for category, concluded_on, count in session.execute(query):
        code = category
        if add_years(concluded_on, kept.get(code, default_years)) <= until:
            counts[code] += count
    return {code: counts.get(code, 0) for code in category_codes(session)}


@dataclass(frozen=True)
class DueCase:
    """A concluded case whose period has run out, and what its purge deletes."""

    report_id: str
    category: str
    concluded_on: date
    years: int
    files: int  # headers of the report's and its messages' files (each with a payload)
    messages: int
    notes: int
    payload_bytes: int


def due_cases(session: Session, today: date, default_years: int) -> list[DueCase]:
    """The cases to purge on ``today``, in the order of their (random) ids."""
    kept = periods(session, default_years)
    # Each category up to its own cutoff, so that a run with nothing due (every round of the
    # jobs but one a day) reads no case; the exact anniversary is checked below.
    due_by = [
        and_(Report.category == code, Case.concluded_on <= add_years(today, -years))
        for code, years in kept.items()
    ]
    found = []
    rows = session.execute(_concluded(session).where(or_(*due_by)))
    for report_id, category, concluded_on in rows:
        code = category
        years = kept.get(code, default_years)
        if add_years(concluded_on, years) <= today:
            found.append((report_id, code, concluded_on, years))
    found.sort()
    return [_described(session, *row) for row in found]


def _described(
    session: Session, report_id: str, category: str, concluded_on: date, years: int
) -> DueCase:
    files, file_bytes = session.execute(
        select(func.count(), func.coalesce(func.sum(ReportEnvelope.size), 0)).where(
            ReportEnvelope.report_id == report_id
        )
    ).one()
    notes, note_bytes = session.execute(
        select(func.count(), func.coalesce(func.sum(CaseNote.size), 0)).where(
            CaseNote.report_id == report_id
        )
    ).one()
    messages = session.scalar(
        select(func.count()).select_from(ReportMessage).where(ReportMessage.report_id == report_id)
    )
    return DueCase(
        report_id,
        category,
        concluded_on,
        years,
        files=int(files),
        messages=int(messages or 0),
        notes=int(notes),
        payload_bytes=int(file_bytes) + int(note_bytes),
    )


@dataclass
class PurgeOutcome:
    """What a run did."""

    purged: list[DueCase]
    blobs_deleted: int
    database: str

    @property
    def line(self) -> str:
        if not self.purged:
            return "no concluded case was due"
        return (
            f"purged {len(self.purged)} concluded case(s) under the retention rules, deleted"
            f" {self.blobs_deleted} payload(s); {self.database}"
        )


def purge(
    session: Session,
    blobs: BlobStore,
    today: date,
    default_years: int,
    *,
    audit_empty_run: bool = False,
) -> PurgeOutcome:
    """Purge every case due on ``today`` (see the module's doc); what it did.

    ``session`` must be in no transaction of the caller's: each case commits on its own.
    The run is recorded on the audit trail when it purged something (and when
    ``audit_empty_run``: a purge asked for by hand), each case as well.
    """
    session.commit()
    blobs = blobs.bound(session)
    engine = session.get_bind()
    with _run_lock(engine):
        to_subsidiary, _named = stats.rollup(session.scalars(select(Unit)))
        session.commit()
        purged: list[DueCase] = []
        deleted = 0
        for due in due_cases(session, today, default_years):
            session.rollback()  # read the case again under its lock, below
            try:
                keys = _purge_case(session, blobs, due, today, default_years, to_subsidiary)
            except BaseException:
                session.rollback()
                raise
            if keys is None:
                continue
            purged.append(due)
            if blobs.transactional:  # deleted with the case's rows, in its transaction
                deleted += len(keys)
            else:
                deleted += _delete_payloads(blobs, keys)
        if purged or audit_empty_run:
            audit.record(
                session,
                audit.AuditAction.purge,
                actor=None,
                detail=f"retention purge: {len(purged)} case(s) purged",
                on=today,
            )
        session.commit()
        database = "database left as it is"
        if purged:
            database = _settle(engine)
            # Its files (SQLite) and their folder carry the day again, not the run's second.
            day_reset.date_database_files(engine, blobs.day_start(today))
    return PurgeOutcome(purged, deleted, database)


def _purge_case(
    session: Session,
    blobs: BlobStore,
    due: DueCase,
    today: date,
    default_years: int,
    to_subsidiary: dict[int, int],
) -> list[str] | None:
    """Purge one case in one transaction; its payloads' keys (None: no longer due)."""
    _lock_case(session, due.report_id)
    found = session.execute(_concluded(session).where(Report.id == due.report_id)).first()
    if found is None:  # another run purged it meanwhile
        session.rollback()
        return None
    _report_id, category, concluded_on = found
    years = periods(session, default_years).get(category, default_years)
    if add_years(concluded_on, years) > today:  # its period was lengthened meanwhile
        session.rollback()
        return None
    report_id = due.report_id
    office_id = session.scalar(select(Report.office_id).where(Report.id == report_id))
    row = stats.row_of_report(session, report_id, today, to_subsidiary)
    keys = list(
        session.scalars(
            select(ReportEnvelope.blob_key).where(ReportEnvelope.report_id == report_id)
        )
    )
    keys += session.scalars(select(CaseNote.blob_key).where(CaseNote.report_id == report_id))
    decisions = select(CaseDecision.id).where(CaseDecision.report_id == report_id)
    statements = [
        delete(CaseDecisionMember).where(CaseDecisionMember.decision_id.in_(decisions)),
        delete(CaseDecision).where(CaseDecision.report_id == report_id),
        delete(CaseNote).where(CaseNote.report_id == report_id),
        delete(CaseLabel).where(CaseLabel.report_id == report_id),
        delete(CaseView).where(CaseView.report_id == report_id),
        delete(CaseRecusal).where(CaseRecusal.report_id == report_id),
        delete(CaseTransfer).where(CaseTransfer.report_id == report_id),
        delete(InboxEntry).where(InboxEntry.report_id == report_id),
        delete(ReportEnvelope).where(ReportEnvelope.report_id == report_id),
        delete(ReportMessage).where(ReportMessage.report_id == report_id),
        delete(ReportReader).where(ReportReader.report_id == report_id),
        delete(ReportExclusion).where(ReportExclusion.report_id == report_id),
        delete(Case).where(Case.report_id == report_id),
        delete(Report).where(Report.id == report_id),
    ]
    for statement in statements:
        session.execute(statement, execution_options={"synchronize_session": False})
    if blobs.transactional:
        for key in keys:
            blobs.delete(key)
    session.add(
        PurgedReportStat(
            year=row.quarter.year,
            quarter=row.quarter.number,
            kind=row.kind,
            category=row.category,
            subsidiary_id=row.subsidiary_id,
            office_id=office_id,
            concluded=row.concluded,
            acknowledged_in_time=row.acknowledged_in_time,
            answered_in_time=row.answered_in_time,
            disposal=row.disposal,
        )
    )
    audit.record(
        session,
        audit.AuditAction.purge,
        actor=None,
        case_id=report_id,
        detail=f"purged under the retention rules ({years} years after conclusion)",
        on=today,
    )
    session.commit()
    session.expunge_all()  # no object of the purged case stays in the identity map
    return keys


def _lock_case(session: Session, report_id: str) -> None:
    """Hold the case (and, on SQLite, the database's one writer) until the transaction ends;
    on SQLite also overwrite what is deleted with zeros (``secure_delete``)."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("PRAGMA secure_delete = ON")
    hold_case(session, report_id)


def hold_case(session: Session, report_id: str) -> None:
    """Hold the case against the purge until the transaction ends (PostgreSQL: the purge's
    lock of the case; SQLite: the database's one writer). A case action takes it before it
    loads the case: a case purged meanwhile is then found gone, never half written to."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        key = zlib.crc32(report_id.encode("utf-8", "surrogatepass")) - 2**31
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": LOCK_SPACE, "key": key}
        )
    elif dialect == "sqlite":
        session.execute(  # a write that changes nothing takes the writer's lock
            update(PurgedReportStat).where(false()).values(year=PurgedReportStat.year),
            execution_options={"synchronize_session": False},
        )


def _delete_payloads(blobs: BlobStore, keys: Sequence[str]) -> int:
    deleted = 0
    for key in keys:
        try:
            blobs.delete(key)
        except (BlobError, OSError):
            continue  # left for ``portal reports fsck``: no header opens it any more
        deleted += 1
    return deleted


_memory_lock = threading.Lock()


@contextmanager
def _run_lock(engine: Engine) -> Iterator[None]:
    """One run at a time, across processes and machines: the others wait."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(
                text("SELECT pg_advisory_lock(:space, :key)"),
                {"space": LOCK_SPACE, "key": RUN_LOCK},
            )
            connection.commit()
            try:
                yield
            finally:
                connection.execute(
                    text("SELECT pg_advisory_unlock(:space, :key)"),
                    {"space": LOCK_SPACE, "key": RUN_LOCK},
                )
                connection.commit()
        return
    path = sqlite_file(engine.url) if engine.dialect.name == "sqlite" else None
    if path is None:
        with _memory_lock:
            yield
        return
    fd = os.open(Path(f"{path}.purge-lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits for the run that holds it
        yield
    finally:
        os.close(fd)  # and the lock with it


def _settle(engine: Engine) -> str:
    """Leave none of the deleted bytes in the database's files (see the module's doc)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if connection.dialect.name == "sqlite":
            return _settle_sqlite(connection)
        if connection.dialect.name == "postgresql":
            return _settle_postgresql(connection)
    return "database left as it is"


def _settle_sqlite(connection: Connection) -> str:
    said = []
    try:
        connection.exec_driver_sql("VACUUM")
        said.append("database rebuilt (VACUUM)")
    except DBAPIError:  # busy: secure_delete has zeroed the freed space already
        said.append("database busy: VACUUM left to the next run")
    busy, _frames, _done = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    said.append("write-ahead log emptied" if not busy else "write-ahead log busy: emptied later")
    return ", ".join(said)


def _settle_postgresql(connection: Connection) -> str:
    said = []
    connection.exec_driver_sql("SET lock_timeout = '10s'")
    try:
        for table in TABLES:
            connection.exec_driver_sql(f"VACUUM FULL {table}")
        said.append("tables rewritten (VACUUM FULL)")
    except DBAPIError:
        said.append("tables busy: rewritten by the next run")
    try:
        connection.exec_driver_sql("SELECT pg_switch_wal()")
        connection.exec_driver_sql("CHECKPOINT")
        said.append("write-ahead log switched")
    except DBAPIError:  # the role may not: the server's own checkpoints recycle it later
        said.append("write-ahead log left to the server's checkpoints")
    return ", ".join(said)
