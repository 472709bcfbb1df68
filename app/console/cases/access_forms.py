"""The forms of the case page's section on who reads the case (grant, export), filled for one
case: used by the case page (views.py) and by the routes that act on them (access_views.py)."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app.console.cases.forms import ExportForm, GrantForm
from app.form_choices import choice
from app.models import Report, ReportReader, StaffUser
from app.services.cases import access
from app.services.reports.recipients import parse_key

# --- who may be offered -----------------------------------------------------------------------


def grant_candidates(session, report: Report) -> list[StaffUser]:
    """Colleagues of the office who could be given the case now: inspectors and heads, active,
    with a key, not readers yet, and not kept out or recused."""
    never = access.kept_out(session, report)
    readers = set(
        session.scalars(select(ReportReader.staff_id).where(ReportReader.report_id == report.id))
    )
    people = session.scalars(
        select(StaffUser)
        .where(StaffUser.office_id == report.office_id, StaffUser.active.is_(True))
        .order_by(StaffUser.display_name, StaffUser.id)
    )
    return [
        p
        for p in people
        if p.id not in never
        and p.id not in readers
        and p.has_role(*access.READER_ROLES)
        and parse_key(p.age_recipient) is not None
    ]


def grant_form(session, report: Report, form: GrantForm | None = None) -> GrantForm:
    form = form or GrantForm()
    form.grantee.choices = [choice("", _("choose a colleague"))] + [
        choice(str(p.id), p.display_name) for p in grant_candidates(session, report)
    ]
    return form


def export_form(session, report: Report, form: ExportForm | None = None) -> ExportForm:
    form = form or ExportForm()
    readers = access.case_readers(session, report).readers
    people = session.scalars(select(StaffUser).where(StaffUser.id.in_(readers)))
    form.readers.choices = [
        choice(str(p.id), p.display_name) for p in sorted(people, key=lambda p: p.display_name)
    ]
    return form
