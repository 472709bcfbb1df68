"""Console: who reads a case. A grant to a colleague, a declared conflict of interest, a transfer
to the office above, an export for offline handling, and the recovery ceremony that re-opens
cases for an inspector with the office's recovery key.

Each view checks who may do it (the services check again), calls the service of
``app/services/cases/access.py`` or ``export.py``, and ends on a page that says what happened
with links to what it names. One who loses the case by the change (recusal, transfer) sees
that page only because they made the change: anybody else gets the same 404 as a missing case.
"""

from __future__ import annotations

from flask import Response, abort, redirect, render_template, request, stream_with_context, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select

from app.console.cases.access_forms import export_form, grant_form
from app.console.cases.forms import (
    MAX_CEREMONY_SHARES,
    ExportForm,
    GrantForm,
    RecoveryForm,
    ShareEntry,
)
from app.console.cases.views import _case_or_404, _case_page, _done, _staff_by_id, bp, identities
from app.db import get_session
from app.form_choices import choice
from app.i18n import today
from app.models import CaseRecusal, CaseTransfer, Report, ReportReader, Role, StaffUser
from app.resources import blob_store
from app.security.auth import current_staff
from app.security.headers import content_disposition
from app.services.cases import access, export
from app.services.cases.access import AccessRefused
from app.services.cases.readers import is_head_of
from app.services.reports.recipients import parse_key
from app.services.staff import accept_totp
from app.web.forms import ActionForm, parse_id


def _no_keys(report, **forms):
    return _case_page(
        report,
        409,
        problem=_(
            "Your key is not unsealed in this session. Sign out and sign in again with your "
            "password, then try again."
        ),
        **forms,
    )


# --- grant ------------------------------------------------------------------------------------


@bp.post("/<report_id>/grant")
def grant(report_id: str):
    report = _case_or_404(report_id)
    session = get_session()
    form = grant_form(session, report, GrantForm())
    form.grantee.validate_choice = False  # the service says why someone may not be given it
    if not form.validate_on_submit():
        return _case_page(report, 400, problem=_("Choose a colleague."), grant_form=form)
    value = form.grantee.data or ""
    grantee = _staff_by_id(session, value)
    if grantee is None:
        form.grantee.errors = [_("Choose a colleague.")]
        return _case_page(report, 400, problem=form.grantee.errors[0], grant_form=form)
    keys = identities()
    if not keys:
        return _no_keys(report, grant_form=form)
    try:
        access.grant(session, report, keys, current_staff(), grantee)
    except AccessRefused as refused:
        session.rollback()
        form = grant_form(session, report, form)
        form.grantee.errors = [str(refused)]
        return _case_page(report, 400, problem=str(refused), grant_form=form)
    session.commit()
    return _done(report, "granted", to=grantee.id)


# --- recusal ----------------------------------------------------------------------------------


@bp.get("/<report_id>/recuse")
def recuse_confirm(report_id: str):
    """The confirmation step: what a declared conflict does, and the button that declares it."""
    report = _case_or_404(report_id)
    return render_template("console/cases/recuse.html", report=report, form=ActionForm())


@bp.post("/<report_id>/recuse")
def recuse(report_id: str):
    report = _case_or_404(report_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    keys = identities()
    if not keys:
        return _no_keys(report)
    session = get_session()
    try:
        access.recuse(session, report, keys, current_staff(), today())
    except AccessRefused as refused:
        session.rollback()
        return _case_page(report, 409, problem=str(refused))
    session.commit()
    return redirect(url_for(".left", report_id=report.id), 303)


# --- transfer upward --------------------------------------------------------------------------


@bp.post("/<report_id>/transfer")
def transfer(report_id: str):
    report = _case_or_404(report_id)
    session = get_session()
    if not is_head_of(session, current_staff(), report):
        abort(403)
    if not ActionForm().validate_on_submit():
        abort(400)
    keys = identities()
    if not keys:
        return _no_keys(report)
    try:
        access.transfer_up(session, report, keys, current_staff(), today())
    except AccessRefused as refused:
        session.rollback()
        return _case_page(report, 409, problem=str(refused))
    session.commit()
    return redirect(url_for(".left", report_id=report.id), 303)


@bp.get("/<report_id>/left")
def left(report_id: str):
    """What the one who just gave up a case (recusal) or passed it up (transfer) did. Only
    they see it; anybody else gets the same 404 as a missing case."""
    session = get_session()
    staff = current_staff()
    report_id = report_id[:32]
    line = session.scalar(
        select(CaseTransfer)
        .where(CaseTransfer.report_id == report_id, CaseTransfer.by_staff_id == staff.id)
        .order_by(CaseTransfer.transferred_on.desc())
    )
    recusal = session.get(CaseRecusal, (report_id, staff.id))
    if line is None and recusal is None:
        abort(404)
    return render_template(
        "console/cases/left.html",
        report_id=report_id,
        transfer=line,
        recusal=recusal,
        format_date=format_date,
    )


# --- export -----------------------------------------------------------------------------------


@bp.post("/<report_id>/export")
def export_case(report_id: str):
    """The case as one age file for the chosen recipients, streamed as it is made."""
    report = _case_or_404(report_id)
    session = get_session()
    form = export_form(session, report, ExportForm())
    if not form.validate_on_submit():
        return _case_page(report, 400, problem=_("Check the export form."), export_form=form)
    chosen = [n for n in map(parse_id, form.readers.data or []) if n is not None]
    keys = identities()
    if not keys:
        return _no_keys(report, export_form=form)
    blobs = blob_store()
    try:
        recipients = export.export_recipients(session, report, chosen, form.typed.data or "")
        ready = export.prepare_export(session, blobs, report, keys, current_staff(), recipients)
    except AccessRefused as refused:
        session.rollback()
        form.typed.errors = [str(refused)]
        return _case_page(report, 400, problem=str(refused), export_form=form)
    session.commit()  # the audit entry, before the first byte
    day = today()
    body = stream_with_context(export.export_chunks(blobs, ready, keys, day))
    response = Response(body, mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = content_disposition("attachment", ready.file_name)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- the recovery ceremony --------------------------------------------------------------------


def _head_or_404() -> StaffUser:
    staff = current_staff()
    if staff is None or staff.office_id is None or not staff.has_role(Role.office_head):
        abort(404)
    return staff


def _officers(session, office_id: int) -> list[StaffUser]:
    return list(
        session.scalars(
            select(StaffUser)
            .where(StaffUser.office_id == office_id, StaffUser.active.is_(True))
            .order_by(StaffUser.display_name, StaffUser.id)
        )
    )


def _ceremony_forms(session, staff: StaffUser, form: RecoveryForm | None, entries=None):
    office = staff.office
    needed = office.recovery_threshold or 0
    officers = [p for p in _officers(session, office.id) if p.has_role(*access.READER_ROLES)]
    form = form or RecoveryForm()
    cases = session.scalars(
        select(Report)
        .where(Report.office_id == office.id)
        .order_by(Report.received_on.desc(), Report.id)
        .limit(500)
    )
    form.cases.choices = [
        choice(r.id, f"{r.id[:8]} · {format_date(r.received_on, 'medium')}") for r in cases
    ]
    form.grantee.choices = [choice("", _("choose an inspector"))] + [
        choice(str(p.id), p.display_name) for p in officers if parse_key(p.age_recipient)
    ]
    count = min(needed, MAX_CEREMONY_SHARES)
    if entries is None:
        entries = [ShareEntry(prefix=f"share{i}", formdata=None) for i in range(1, count + 1)]
    for entry in entries:
        entry.holder.choices = [choice("", _("choose the officer"))] + [
            choice(str(p.id), p.display_name) for p in officers
        ]
    return office, form, entries


def _ceremony_page(staff, form=None, entries=None, problem=None, status=200):
    session = get_session()
    office, form, entries = _ceremony_forms(session, staff, form, entries)
    return render_template(
        "console/cases/recovery.html",
        office=office,
        form=form,
        entries=entries,
        problem=problem,
    ), status


@bp.get("/recovery")
def recovery():
    """The ceremony page: K officers of the office, at one computer with their office head."""
    return _ceremony_page(_head_or_404())


@bp.post("/recovery")
def recovery_run():
    staff = _head_or_404()
    session = get_session()
    office = staff.office
    needed = min(office.recovery_threshold or 0, MAX_CEREMONY_SHARES)
    form = RecoveryForm()
    entries = [ShareEntry(prefix=f"share{i}") for i in range(1, needed + 1)]
    office, form, entries = _ceremony_forms(session, staff, form, entries)
    form.cases.validate_choice = False
    if not form.validate_on_submit() or not needed:
        problem = (
            _("This office has no recovery key made by a ceremony: its cases cannot be re-opened.")
            if not needed
            else _("Check the marked fields.")
        )
        return _ceremony_page(staff, form, entries, problem, 400)
    holders: list[StaffUser] = []
    officers = {p.id: p for p in _officers(session, office.id)}
    problem = None
    for number, entry in enumerate(entries, start=1):
        value = entry.holder.data or ""
        holder = officers.get(parse_id(value))
        if holder is None:
            entry.holder.errors = [_("Choose the officer who types share %(n)s.", n=number)]
            problem = problem or entry.holder.errors[0]
        elif holder in holders:
            entry.holder.errors = [
                _(
                    "Each share is typed by a different officer: %(name)s is chosen twice.",
                    name=holder.display_name,
                )
            ]
            problem = problem or entry.holder.errors[0]
        elif not accept_totp(session, holder, entry.code.data or ""):
            # Each officer confirms with their own authenticator, once per code: a head
            # cannot name colleagues who are not there.
            entry.code.errors = [
                _(
                    "The authenticator code of %(name)s is not correct: %(name)s types the "
                    "current code.",
                    name=holder.display_name,
                )
            ]
            problem = problem or entry.code.errors[0]
        else:
            holders.append(holder)
    if not form.cases.data:
        form.cases.errors = [_("Choose at least one case to re-open.")]
        problem = problem or form.cases.errors[0]
    value = form.grantee.data or ""
    grantee = officers.get(parse_id(value))
    if grantee is None:
        form.grantee.errors = [_("Choose the inspector who gets the cases.")]
        problem = problem or form.grantee.errors[0]
    if problem:
        return _ceremony_page(staff, form, entries, problem, 400)
    chosen = list(
        session.scalars(select(Report).where(Report.id.in_([c[:32] for c in form.cases.data])))
    )
    typed = [entry.words.data or "" for entry in entries]
    participants = [*holders, *([staff] if staff not in holders else [])]
    try:
        done = access.regrant_by_recovery(session, office, typed, chosen, grantee, participants)
    except AccessRefused as refused:
        session.rollback()
        return _ceremony_page(staff, form, entries, str(refused), 400)
    finally:
        del typed
    session.commit()
    return redirect(
        url_for(".recovery_done", to=grantee.id, cases=",".join(r[:8] for r in done.report_ids)),
        303,
    )


@bp.get("/recovery/done")
def recovery_done():
    staff = _head_or_404()
    session = get_session()
    value = request.args.get("to", "")
    grantee = _staff_by_id(session, value)
    if grantee is None or grantee.office_id != staff.office_id:
        abort(404)
    shown = [c for c in request.args.get("cases", "").split(",") if c.isalnum()][:500]
    cases = list(
        session.scalars(
            select(Report).where(
                Report.office_id == staff.office_id,
                Report.id.in_(
                    select(ReportReader.report_id).where(ReportReader.staff_id == grantee.id)
                ),
            )
        )
    )
    cases = [r for r in cases if r.id[:8] in shown]
    return render_template("console/cases/recovery_done.html", grantee=grantee, cases=cases)
