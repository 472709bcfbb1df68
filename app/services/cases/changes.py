"""Counting a case's changes: "new or changed since I last looked" compares counters, not times
(nothing tied to a report keeps a time)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import Case, Report
from app.models.inbox import mark_stale


def touch(session: Session, report_id: str, *, by_reporter: bool = False) -> None:
    """Count a change of the case, in SQL so that two at once both count. ``by_reporter``: the
    reporter wrote (a new reply, for the readers' dashboards)."""
    values: dict = {"version": Case.version + 1}
    if by_reporter:
        values["reporter_version"] = Case.version + 1
    session.execute(
        update(Case).where(Case.report_id == report_id).values(**values),
        execution_options={"synchronize_session": False},
    )
    mark_stale(session, report_id)
    case = session.get(Case, report_id)
    if case is not None:
        session.refresh(case, ["version", "reporter_version"])


def claim_case(session: Session, report: Report) -> None:
    """Take the case for this transaction before reading what a change depends on (a conditional
    UPDATE of the report's row: PostgreSQL's row lock, SQLite's write lock). A second change
    waits here until the first is committed, then reads what the first wrote."""
    session.flush()
    session.execute(
        update(Report)
        .where(Report.id == report.id)
        .values(status=Report.status)
        .execution_options(synchronize_session=False)
    )
    session.expire(report)
