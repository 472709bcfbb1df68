"""The inbox: the cases of the office that one account may see, filtered, counted and paged.

Metadata only (statuses, dates, kinds, units, labels, who is assigned): nothing is decrypted
to list. The query starts from the account's rows in ``report_readers`` (indexed by staff) and
joins the report and its case by primary key; counts per status use the same conditions less
the status filter, so the tabs say how many each would show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from app.models import (
    Case,
    CaseLabel,
    CaseView,
    Report,
    ReportCategory,
    ReportExclusion,
    ReportKind,
    ReportReader,
    ReportStatus,
    StaffUser,
)

UNASSIGNED = 0  # the assignee filter's value for "nobody"


@dataclass(frozen=True)
class InboxFilters:
    status: ReportStatus | None = None
    kind: ReportKind | None = None
    category: ReportCategory | None = None
    unit_ids: tuple[int, ...] | None = None  # the unit and those below it
    assignee_id: int | None = None  # UNASSIGNED: cases nobody is assigned
    label: str | None = None
    received_from: date | None = None
    received_to: date | None = None
    overdue: bool = False
    changed: bool = False  # new or changed since this account last looked
    sort: str = "due"  # "due": next deadline first; "received": newest first


@dataclass(frozen=True)
class InboxRow:
    report_id: str
    kind: ReportKind
    category: ReportCategory
    unit_id: int
    status: ReportStatus
    received_on: date
    next_due: date | None
    overdue: bool
    changed: bool
    new_reply: bool
    real_name: bool
    assignee: str | None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    total: int  # cases matching every filter
    counts: dict[ReportStatus, int] = field(default_factory=dict)  # by status, other filters
    page: int = 1
    pages: int = 1


def _base(staff: StaffUser, today: date, filters: InboxFilters, *, rows: bool = False) -> Select:
    """The account's cases under ``filters``, joined to the case and to what the account saw
    of it only where a filter or (``rows``) the listing needs them: counting the statuses of
    a whole office's inbox then reads ``report_readers`` and ``reports`` alone."""
    kept_out = exists().where(
        ReportExclusion.report_id == Report.id, ReportExclusion.staff_id == staff.id
    )
    query = (
        select()
        .select_from(ReportReader)
        .join(Report, Report.id == ReportReader.report_id)
        .where(ReportReader.staff_id == staff.id, Report.office_id == staff.office_id, ~kept_out)
    )
    needs_case = rows or filters.overdue or filters.changed or filters.assignee_id is not None
    if needs_case:
        query = query.join(Case, Case.report_id == Report.id)
    if rows or filters.changed:
        query = query.outerjoin(
            CaseView, and_(CaseView.report_id == Report.id, CaseView.staff_id == staff.id)
        )
    if filters.kind is not None:
        query = query.where(Report.kind == filters.kind)
    if filters.category is not None:
        query = query.where(Report.category == filters.category)
    if filters.unit_ids is not None:
        query = query.where(Report.unit_id.in_(filters.unit_ids))
    if filters.assignee_id == UNASSIGNED:
        query = query.where(Case.assignee_id.is_(None))
    elif filters.assignee_id is not None:
        query = query.where(Case.assignee_id == filters.assignee_id)
    if filters.label:
        query = query.where(
            exists().where(CaseLabel.report_id == Report.id, CaseLabel.name == filters.label)
        )
    if filters.received_from is not None:
        query = query.where(Report.received_on >= filters.received_from)
    if filters.received_to is not None:
        query = query.where(Report.received_on <= filters.received_to)
    if filters.overdue:
        query = query.where(Case.next_due < today)
    if filters.changed:
        query = query.where(_changed())
    return query


def _changed():
    return or_(CaseView.seen_version.is_(None), Case.version > CaseView.seen_version)


def list_cases(
    session: Session,
    staff: StaffUser,
    filters: InboxFilters,
    today: date,
    page: int = 1,
    per_page: int = 20,
) -> InboxPage:
    """One page of the account's inbox, with the counts per status."""
    base = _base(staff, today, filters)
    counts = {
        ReportStatus(status): n
        for status, n in session.execute(
            base.add_columns(Report.status, func.count()).group_by(Report.status)
        )
    }
    listed = _base(staff, today, filters, rows=True)
    if filters.status is not None:
        total = counts.get(filters.status, 0)
        listed = listed.where(Report.status == filters.status)
    else:
        total = sum(counts.values())
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    if filters.sort == "received":
        order = (Report.received_on.desc(), Report.id)
    else:
        order = (Case.next_due.asc().nulls_last(), Report.received_on, Report.id)
    query = (
        listed.add_columns(
            Report.id,
            Report.kind,
            Report.category,
            Report.unit_id,
            Report.status,
            Report.received_on,
            Report.real_name,
            Case.next_due,
            Case.assignee_id,
            _changed().label("changed"),
            (Case.reporter_version > func.coalesce(CaseView.seen_version, 0)).label("new_reply"),
        )
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    found = list(session.execute(query))
    ids = [row.id for row in found]
    labels: dict[str, list[str]] = {}
    if ids:
        for report_id, name in session.execute(
            select(CaseLabel.report_id, CaseLabel.name)
            .where(CaseLabel.report_id.in_(ids))
            .order_by(CaseLabel.name)
        ):
            labels.setdefault(report_id, []).append(name)
    assignee_ids = {row.assignee_id for row in found if row.assignee_id is not None}
    names = dict(
        session.execute(
            select(StaffUser.id, StaffUser.display_name).where(StaffUser.id.in_(assignee_ids))
        ).all()
        if assignee_ids
        else []
    )
    rows = [
        InboxRow(
            report_id=row.id,
            kind=row.kind,
            category=row.category,
            unit_id=row.unit_id,
            status=row.status,
            received_on=row.received_on,
            next_due=row.next_due,
            overdue=row.next_due is not None and row.next_due < today,
            changed=bool(row.changed),
            new_reply=bool(row.new_reply),
            real_name=row.real_name,
            assignee=names.get(row.assignee_id),
            labels=tuple(labels.get(row.id, ())),
        )
        for row in found
    ]
    return InboxPage(rows, total, counts, page, pages)


@dataclass(frozen=True)
class DueCase:
    report_id: str
    status: ReportStatus
    next_due: date
    overdue: bool


def due_soon(
    session: Session, staff: StaffUser, today: date, within_days: int, limit: int = 20
) -> list[DueCase]:
    """The account's cases whose next step is overdue or due within ``within_days`` days, the
    ones assigned to it or to nobody, soonest first."""
    from datetime import timedelta

    query = (
        _base(staff, today, InboxFilters(), rows=True)
        .add_columns(Report.id, Report.status, Case.next_due)
        .where(
            Case.next_due.is_not(None),
            Case.next_due <= today + timedelta(days=within_days),
            or_(Case.assignee_id.is_(None), Case.assignee_id == staff.id),
        )
        .order_by(Case.next_due, Report.id)
        .limit(limit)
    )
    return [
        DueCase(row.id, row.status, row.next_due, row.next_due < today)
        for row in session.execute(query)
    ]


def new_replies(session: Session, staff: StaffUser, today: date, limit: int = 20) -> list[str]:
    """The account's cases where the reporter wrote since it last looked."""
    query = (
        _base(staff, today, InboxFilters(), rows=True)
        .add_columns(Report.id)
        .where(Case.reporter_version > func.coalesce(CaseView.seen_version, 0))
        .order_by(Case.next_due.asc().nulls_last(), Report.id)
        .limit(limit)
    )
    return list(session.scalars(query))
