"""The inbox's own copy of what it lists: one row per case and reader who may see it.

The inbox filters, counts and sorts an office's cases (50,000 and more) on every request;
joining each reader's rows to the report, its case and what the reader last saw costs a
lookup per case. ``InboxEntry`` holds those columns side by side under the reader's id, so
a page and its counts read one table by index.

The rows are derived, never written by hand: whenever a flush touches a report, its case,
its readers, its exclusions or a reader's view (or ``mark_stale`` names a report changed in
SQL), the rows of those reports are rebuilt from the source tables before the transaction
commits, and before the inbox reads (``settle``). A row exists while the staff member is a
reader of the report and the reporter did not keep them out; the inbox still checks the
office, so someone moved to another office sees none of the old one's cases.

Like every table tied to a report it has no rowid and keeps dates, never times: its order on
disk is the reader's id and the report's random id.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from datetime import date

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    String,
    and_,
    delete,
    event,
    exists,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.db import Base
from app.models.cases import Case, CaseView
from app.models.reports import (
    CATEGORY_CODE_LENGTH,
    NO_ROWID,
    Report,
    ReportExclusion,
    ReportKind,
    ReportReader,
    ReportStatus,
    _enum,
)

NO_DEADLINE = date(9999, 12, 31)  # ``due_order`` of a case that owes nothing: sorts last
STALE = "portal.inbox_stale"  # session.info: ids of reports whose rows are to be rebuilt
BATCH = 500  # report ids per rebuild statement (bound parameters)
LOCKS = 0x696E_6278  # "inbx": the space of PostgreSQL's advisory locks of rebuilds, one per report
FILTERED = (  # the columns the inbox filters on or shows, besides its orders
    "office_id",
    "status",
    "kind",
    "category",
    "unit_id",
    "assignee_id",
    "version",
    "seen_version",
    "reporter_version",
    "real_name",
)


class InboxEntry(Base):
    """One case as one reader's inbox shows it (see the module's docstring)."""

    __tablename__ = "inbox_entries"
    # Each index holds every column the inbox filters on, after the order it lists in, so a
    # page or its counts read one index whatever the filters (no lookup per case).
    __table_args__ = (
        # The whole inbox by deadline (the default order), and what falls due soon.
        Index("ix_inbox_entries_due", "staff_id", "due_order", "received_on", *FILTERED),
        # A status's page by deadline, and the counts per status.
        Index(
            "ix_inbox_entries_status",
            "staff_id",
            "status",
            "due_order",
            "received_on",
            *(c for c in FILTERED if c != "status"),
        ),
        # Newest first, and date ranges.
        Index("ix_inbox_entries_received", "staff_id", "received_on", "due_order", *FILTERED),
        NO_ROWID,
    )

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), primary_key=True)
    report_id: Mapped[str] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    office_id: Mapped[int]
    status: Mapped[ReportStatus] = mapped_column(_enum(ReportStatus))
    kind: Mapped[ReportKind] = mapped_column(_enum(ReportKind))
    category: Mapped[str] = mapped_column(String(CATEGORY_CODE_LENGTH))
    unit_id: Mapped[int]
    received_on: Mapped[date] = mapped_column(Date)
    real_name: Mapped[bool]
    # Case.next_due, or NO_DEADLINE when nothing is owed: a date in every row, to sort by.
    due_order: Mapped[date] = mapped_column(Date)
    assignee_id: Mapped[int | None]
    version: Mapped[int]  # Case.version
    reporter_version: Mapped[int]  # Case.reporter_version
    seen_version: Mapped[int]  # CaseView.seen_version of this reader; 0: never opened


_COLUMNS = (
    "staff_id",
    "report_id",
    "office_id",
    "status",
    "kind",
    "category",
    "unit_id",
    "received_on",
    "real_name",
    "due_order",
    "assignee_id",
    "version",
    "reporter_version",
    "seen_version",
)


def _source(report_ids: list[str] | None):
    """The rows as the source tables give them (all reports, or only ``report_ids``)."""
    kept_out = exists().where(
        ReportExclusion.report_id == ReportReader.report_id,
        ReportExclusion.staff_id == ReportReader.staff_id,
    )
    query = (
        select(
            ReportReader.staff_id,
            Report.id,
            Report.office_id,
            Report.status,
            Report.kind,
            Report.category,
            Report.unit_id,
            Report.received_on,
            Report.real_name,
            func.coalesce(Case.next_due, literal(NO_DEADLINE, Date)),
            Case.assignee_id,
            Case.version,
            Case.reporter_version,
            func.coalesce(CaseView.seen_version, 0),
        )
        .select_from(ReportReader)
        .join(Report, Report.id == ReportReader.report_id)
        .join(Case, Case.report_id == Report.id)
        .outerjoin(
            CaseView,
            and_(CaseView.report_id == Report.id, CaseView.staff_id == ReportReader.staff_id),
        )
        .where(~kept_out)
    )
    if report_ids is not None:
        query = query.where(ReportReader.report_id.in_(report_ids))
    return query


def rebuild(session: Session, report_ids: Iterable[str] | None = None) -> None:
    """Make the rows of ``report_ids`` (None: of every report) what the source tables say."""
    session.flush()
    if report_ids is None:
        session.execute(delete(InboxEntry))
        session.execute(insert(InboxEntry).from_select(_COLUMNS, _source(None)))
        return
    ids = sorted(set(report_ids))
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        _lock(session, chunk)
        session.execute(delete(InboxEntry).where(InboxEntry.report_id.in_(chunk)))
        session.execute(insert(InboxEntry).from_select(_COLUMNS, _source(chunk)))


def _lock(session: Session, report_ids: list[str]) -> None:
    """One rebuild of a report at a time, each reading what the one before committed: on
    PostgreSQL two at once would each read the tables before the other's commit (a row then
    inserted twice, or one written from older data). A lock of the transaction per report,
    of its own (not the report's row, which changes take before the audit log's lock while
    a case's opening takes the audit log's first: taken at the end, after both, it closes no
    circle), in one order so that two rebuilds of several reports never wait for each other.
    SQLite has one writer at a time."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({zlib.crc32(report_id.encode()) - 2**31 for report_id in report_ids})
    for key in keys:
        session.execute(
            text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": LOCKS, "key": key}
        )


def mark_stale(session: Session, report_id: str) -> None:
    """A change made in SQL (not through the session's objects) to this report's case."""
    session.info.setdefault(STALE, set()).add(report_id)


def settle(session: Session) -> None:
    """Rebuild the rows of every report changed in this transaction so far."""
    for _round in range(10):  # a rebuild's flush can name more (it never does twice)
        session.flush()
        stale = session.info.pop(STALE, None)
        if not stale:
            return
        rebuild(session, stale)


def drift(session: Session) -> list[tuple]:
    """Rows that differ from what the source tables say (empty when all is well)."""
    settle(session)
    columns = [getattr(InboxEntry, name) for name in _COLUMNS]
    kept = {tuple(row) for row in session.execute(select(*columns))}
    derived = {tuple(row) for row in session.execute(_source(None))}
    return sorted(kept ^ derived, key=repr)


_SOURCES = {Report: "id", Case: "report_id", CaseView: "report_id"}
_SOURCES.update({ReportReader: "report_id", ReportExclusion: "report_id"})


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context) -> None:
    """Note the reports whose rows this flush changed (their ids are assigned by now)."""
    for instance in (*session.new, *session.dirty, *session.deleted):
        attribute = _SOURCES.get(type(instance))
        if attribute is not None:
            report_id = getattr(instance, attribute, None)
            if report_id is not None:
                mark_stale(session, report_id)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    settle(session)
