"""Who may see a case: a reader of the report (its files are encrypted to them) in the office
it is with now, active, and not kept out by the reporter. Nobody else learns it exists: the
views answer a case someone may not see exactly as one that does not exist."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.models import ReaderRole, Report, ReportExclusion, ReportReader, Role, StaffUser

MAX_ID_CHARS = 32


def can_read_clause(staff: StaffUser) -> ColumnElement[bool]:
    """The SQL condition on ``Report`` that ``staff`` may see it (see the module's docstring)."""
    reader = exists().where(ReportReader.report_id == Report.id, ReportReader.staff_id == staff.id)
    kept_out = exists().where(
        ReportExclusion.report_id == Report.id, ReportExclusion.staff_id == staff.id
    )
    return (Report.office_id == staff.office_id) & reader & ~kept_out


def may_handle(staff: StaffUser | None) -> bool:
    """Whether this account handles cases at all (an active inspector or head of an office)."""
    return (
        staff is not None
        and staff.active
        and staff.office_id is not None
        and staff.has_role(Role.inspector, Role.office_head)
    )


def readable_case(session: Session, staff: StaffUser | None, report_id: str) -> Report | None:
    """The report ``report_id`` if ``staff`` may see its case, else None (whatever the reason)."""
    if not may_handle(staff) or not isinstance(report_id, str) or len(report_id) > MAX_ID_CHARS:
        return None
    assert staff is not None
    return session.scalar(select(Report).where(Report.id == report_id, can_read_clause(staff)))


def is_head_of(session: Session, staff: StaffUser, report: Report) -> bool:
    """Whether ``staff`` reads ``report`` as an office head (the real name is for heads)."""
    row = session.get(ReportReader, (report.id, staff.id))
    return (
        row is not None and row.role == ReaderRole.office_head and staff.has_role(Role.office_head)
    )


def case_readers(session: Session, report: Report) -> list[StaffUser]:
    """The active staff who may see the case, by name (assignment, decisions)."""
    kept_out = select(ReportExclusion.staff_id).where(ReportExclusion.report_id == report.id)
    return list(
        session.scalars(
            select(StaffUser)
            .join(ReportReader, ReportReader.staff_id == StaffUser.id)
            .where(
                ReportReader.report_id == report.id,
                StaffUser.active.is_(True),
                StaffUser.office_id == report.office_id,
                StaffUser.id.not_in(kept_out),
            )
            .order_by(StaffUser.display_name, StaffUser.id)
        )
    )
