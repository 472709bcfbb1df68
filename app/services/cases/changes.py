"""Counting a case's changes: "new or changed since I last looked" compares counters, not times
(nothing tied to a report keeps a time)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import Case


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
    case = session.get(Case, report_id)
    if case is not None:
        session.refresh(case, ["version", "reporter_version"])
