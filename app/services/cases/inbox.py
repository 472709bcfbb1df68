"""The inbox: the cases of the office that one account may see, filtered, counted and paged.

Metadata only (statuses, dates, kinds, units, labels, who is assigned): nothing is decrypted
to list. Every query reads the account's rows of ``inbox_entries`` (app/models/inbox.py: one
per case it may see, the report's, the case's and its own view's columns side by side, kept
from those tables), by the indexes that start with the account's id; counts per status use
the same conditions less the status filter, so the tabs say how many each would show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from app.models import CaseLabel, InboxEntry, ReportKind, ReportStatus, StaffUser
from app.models.inbox import NO_DEADLINE, settle

UNASSIGNED = 0  # the assignee filter's value for "nobody"


@dataclass(frozen=True)
class InboxFilters:
    status: ReportStatus | None = None
    kind: ReportKind | None = None
    category: str | None = None  # a category's code
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
    category: str
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


def _base(staff: StaffUser, today: date, filters: InboxFilters) -> Select:
    """The account's entries under ``filters`` (every one but the status)."""
    query = (
        select()
        .select_from(InboxEntry)
        .where(InboxEntry.staff_id == staff.id, InboxEntry.office_id == staff.office_id)
    )
    if filters.kind is not None:
        query = query.where(InboxEntry.kind == filters.kind)
    if filters.category is not None:
        query = query.where(InboxEntry.category == filters.category)
    if filters.unit_ids is not None:
        query = query.where(InboxEntry.unit_id.in_(filters.unit_ids))
    if filters.assignee_id == UNASSIGNED:
        query = query.where(InboxEntry.assignee_id.is_(None))
    elif filters.assignee_id is not None:
        query = query.where(InboxEntry.assignee_id == filters.assignee_id)
    if filters.label:
        labelled = select(CaseLabel.report_id).where(CaseLabel.name == filters.label)
        query = query.where(InboxEntry.report_id.in_(labelled))
    if filters.received_from is not None:
        query = query.where(InboxEntry.received_on >= filters.received_from)
    if filters.received_to is not None:
        query = query.where(InboxEntry.received_on <= filters.received_to)
    if filters.overdue:
        query = query.where(InboxEntry.due_order < today)
    if filters.changed:
        query = query.where(_changed())
    return query


def _due(due_order: date) -> date | None:
    return None if due_order == NO_DEADLINE else due_order


def _changed():
    return InboxEntry.version > InboxEntry.seen_version


def list_cases(
    session: Session,
    staff: StaffUser,
    filters: InboxFilters,
    today: date,
    page: int = 1,
    per_page: int = 20,
) -> InboxPage:
    """One page of the account's inbox, with the counts per status."""
    settle(session)
    base = _base(staff, today, filters)
    counts = {
        ReportStatus(status): n
        for status, n in session.execute(
            base.add_columns(InboxEntry.status, func.count()).group_by(InboxEntry.status)
        )
    }
    listed = base
    if filters.status is not None:
        total = counts.get(filters.status, 0)
        listed = listed.where(InboxEntry.status == filters.status)
    else:
        total = sum(counts.values())
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    if filters.sort == "received":
        order = (InboxEntry.received_on.desc(), InboxEntry.report_id)
    else:
        order = (InboxEntry.due_order, InboxEntry.received_on, InboxEntry.report_id)
    query = (
        listed.add_columns(
            InboxEntry.report_id,
            InboxEntry.kind,
            InboxEntry.category,
            InboxEntry.unit_id,
            InboxEntry.status,
            InboxEntry.received_on,
            InboxEntry.real_name,
            InboxEntry.due_order,
            InboxEntry.assignee_id,
            _changed().label("changed"),
            (InboxEntry.reporter_version > InboxEntry.seen_version).label("new_reply"),
        )
        .order_by(*order)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    found = list(session.execute(query))
    ids = [row.report_id for row in found]
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
            report_id=row.report_id,
            kind=row.kind,
            category=row.category,
            unit_id=row.unit_id,
            status=row.status,
            received_on=row.received_on,
            next_due=_due(row.due_order),
            overdue=row.due_order < today,
            changed=bool(row.changed),
            new_reply=bool(row.new_reply),
            real_name=row.real_name,
            assignee=names.get(row.assignee_id),
            labels=tuple(labels.get(row.report_id, ())),
        )
        for row in found
    ]
    return InboxPage(rows, total, counts, page, pages)


def readable_labels(session: Session, staff: StaffUser) -> list[str]:
    """The labels in use on the cases ``staff`` may see, for the inbox's filter: never one that
    is only on a case kept from them (a label says what a case is about). Each name in use is
    looked up in the account's entries until one case has it."""
    settle(session)
    names = select(CaseLabel.name).distinct().subquery()
    on_a_readable_case = (
        select(CaseLabel.report_id)
        .join(
            InboxEntry,
            and_(
                InboxEntry.report_id == CaseLabel.report_id,
                InboxEntry.staff_id == staff.id,
                InboxEntry.office_id == staff.office_id,
            ),
        )
        .where(CaseLabel.name == names.c.name)
        .exists()
    )
    return list(
        session.scalars(select(names.c.name).where(on_a_readable_case).order_by(names.c.name))
    )


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
    settle(session)
    query = (
        _base(staff, today, InboxFilters())
        .add_columns(InboxEntry.report_id, InboxEntry.status, InboxEntry.due_order)
        .where(
            InboxEntry.due_order <= today + timedelta(days=within_days),
            or_(InboxEntry.assignee_id.is_(None), InboxEntry.assignee_id == staff.id),
        )
        .order_by(InboxEntry.due_order, InboxEntry.report_id)
        .limit(limit)
    )
    return [
        DueCase(row.report_id, row.status, row.due_order, row.due_order < today)
        for row in session.execute(query)
    ]


def new_replies(session: Session, staff: StaffUser, today: date, limit: int = 20) -> list[str]:
    """The account's cases where the reporter wrote since it last looked."""
    settle(session)
    query = (
        _base(staff, today, InboxFilters())
        .add_columns(InboxEntry.report_id)
        .where(InboxEntry.reporter_version > InboxEntry.seen_version)
        .order_by(InboxEntry.due_order, InboxEntry.report_id)
        .limit(limit)
    )
    return list(session.scalars(query))


@dataclass(frozen=True)
class Waiting:
    """What waits for an account, by case id only (the daily digest, app/services/digest.py).

    ``new_reports``: cases still received that the account has never opened; ``replies``:
    cases where the reporter wrote since it last looked; ``due``: (date, case) of the steps
    overdue or due by ``due_until``, on cases assigned to it or to nobody. Each list holds at
    most ``limit`` cases; the counts are of all of them.
    """

    new_reports: list[str]
    new_report_count: int
    replies: list[str]
    reply_count: int
    due: list[tuple[date, str]]
    due_count: int


def waiting_for(
    session: Session, staff: StaffUser, today: date, due_until: date, limit: int = 20
) -> Waiting:
    """What waits for ``staff`` today (see :class:`Waiting`)."""
    settle(session)
    base = _base(staff, today, InboxFilters())
    new = base.where(InboxEntry.status == ReportStatus.received, InboxEntry.seen_version == 0)
    replied = base.where(InboxEntry.reporter_version > InboxEntry.seen_version)
    due = base.where(
        InboxEntry.due_order <= due_until,
        or_(InboxEntry.assignee_id.is_(None), InboxEntry.assignee_id == staff.id),
    )

    def ids(query: Select) -> list[str]:
        ordered = query.add_columns(InboxEntry.report_id).order_by(
            InboxEntry.due_order, InboxEntry.report_id
        )
        return list(session.scalars(ordered.limit(limit)))

    def count(query: Select) -> int:
        return session.scalar(query.add_columns(func.count())) or 0

    due_rows = session.execute(
        due.add_columns(InboxEntry.due_order, InboxEntry.report_id)
        .order_by(InboxEntry.due_order, InboxEntry.report_id)
        .limit(limit)
    )
    return Waiting(
        new_reports=ids(new),
        new_report_count=count(new),
        replies=ids(replied),
        reply_count=count(replied),
        due=[(row.due_order, row.report_id) for row in due_rows],
        due_count=count(due),
    )
