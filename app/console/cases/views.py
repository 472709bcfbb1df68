"""Console: the inbox of cases, the case page, and the actions on a case.

Views are thin: a form, a service, a page. Every page and action answers a case that does not
exist, that is another office's, or that this account may not read (kept out by the reporter,
no longer a reader) with the same 404. Each action ends on a page that says what happened and
links to what it names (after a redirect, so that reloading it does not do it again).
"""

from __future__ import annotations

from contextlib import ExitStack
from functools import partial

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select

from app.console.cases import uploads
from app.console.cases.access_forms import export_form, grant_form
from app.console.cases.forms import (
    AssignForm,
    DecisionForm,
    FilterForm,
    LabelForm,
    NoteForm,
    ProposeForm,
    RealNameForm,
    RemoveLabelForm,
    ReplyForm,
    StatusForm,
)
from app.console.cases.words import (
    DISPOSAL_NAMES,
    FIELD_NAMES,
    KIND_NAMES,
    LEVEL_NAMES,
    REFUSALS,
    STATUS_NAMES,
    STEP_NAMES,
)
from app.db import get_session
from app.form_choices import choice
from app.i18n import current_language, today
from app.models import (
    Disposal,
    ReportKind,
    ReportStatus,
    Role,
    StaffUser,
    Unit,
)
from app.resources import blob_store, deadline_rules
from app.security.auth import current_identities, current_staff, login_required
from app.security.headers import content_disposition
from app.services import units
from app.services.blobs import BlobError
from app.services.cases import deadlines, decisions, inbox, notes, reading, trail, workflow
from app.services.cases.access import transferred_from
from app.services.cases.errors import CaseError, CaseNotPermitted
from app.services.cases.readers import case_readers, is_head_of, may_handle, readable_case
from app.services.reports import retention
from app.services.reports.envelopes import opened, stored_plaintext_size
from app.services.reports.errors import ChannelUnavailable, ReportInvalid, UploadRefused
from app.web.forms import parse_id
from app.web.reports import (
    UNLISTED_FILE,
    category_names,
    file_problem_text,
    read_ahead,
    stream_rest,
)
from crypto.errors import CryptoError, NoIdentityMatch

bp = Blueprint("cases", __name__, url_prefix="/cases")

INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf"})
CHECKED_BEFORE_SENDING = 8 * 1024 * 1024


def identities() -> list:
    """The keys this console session unsealed at sign-in ([] when none)."""
    return current_identities()


@bp.before_request
@login_required
def _handlers_only():
    if not may_handle(current_staff()):
        abort(404)  # the inbox is for inspectors and heads of an office


def _case_or_404(report_id: str):
    """The case, if the staff member may read it; else 404. An action (a POST) first holds the
    case against the retention purge: a case purged meanwhile is not found (404)."""
    session = get_session()
    if request.method == "POST":
        retention.hold_case(session, report_id)
    report = readable_case(session, current_staff(), report_id)
    if report is None:
        abort(404)
    return report


def _staff_by_id(session, value: object) -> StaffUser | None:
    """The staff member whose id a browser sent (``parse_id``); None for any other value."""
    number = parse_id(value)
    return session.get(StaffUser, number) if number is not None else None


def _refusal(error: CaseError) -> str:
    return str(REFUSALS.get(error.message_key, _("This cannot be done now.")))


# --- the inbox -----------------------------------------------------------------------------

# The inbox's filters (any other parameter, the page and the order included, filters nothing).
FILTER_FIELDS = (
    "status",
    "kind",
    "category",
    "unit",
    "assignee",
    "label",
    "received_from",
    "received_to",
    "overdue",
    "changed",
)


def _filter_choices(form: FilterForm, staff: StaffUser) -> None:
    session = get_session()
    lang = current_language()
    any_ = choice("", _("any"))
    form.status.choices = [any_] + [choice(s.value, STATUS_NAMES[s.value]) for s in ReportStatus]
    form.kind.choices = [any_] + [choice(k.value, KIND_NAMES[k.value]) for k in ReportKind]
    # Retired categories too: the cases filed under them are still in the inbox.
    form.category.choices = [any_] + [choice(code, name) for code, name in category_names().items()]
    office_unit = staff.office.unit if staff.office else None
    unit_rows = units.for_staff(session, staff) if office_unit else []
    form.unit.choices = [any_] + [choice(u.code, f"{u.name(lang)} ({u.code})") for u in unit_rows]
    people = session.scalars(
        select(StaffUser).where(StaffUser.office_id == staff.office_id, StaffUser.active.is_(True))
    ).all()
    form.assignee.choices = [
        any_,
        choice("me", _("me")),
        choice("none", _("nobody")),
    ] + [
        choice(str(p.id), p.display_name)
        for p in sorted(people, key=lambda p: p.display_name)
        if p.has_role(Role.inspector, Role.office_head)
    ]
    form.label.choices = [any_] + [
        choice(name, name) for name in inbox.readable_labels(session, staff)
    ]


def _filters(form: FilterForm, staff: StaffUser) -> inbox.InboxFilters:
    session = get_session()
    unit_ids = None
    if form.unit.data:
        unit = units.by_code(session, form.unit.data)
        unit_ids = tuple(units.subtree_ids(session, unit)) if unit else (-1,)
    assignee = form.assignee.data or ""
    assignee_id = {"": None, "me": staff.id, "none": inbox.UNASSIGNED}.get(assignee)
    if assignee_id is None:
        assignee_id = parse_id(assignee)  # the form checked it is one of its choices
    return inbox.InboxFilters(
        status=ReportStatus(form.status.data) if form.status.data else None,
        kind=ReportKind(form.kind.data) if form.kind.data else None,
        category=form.category.data or None,
        unit_ids=unit_ids,
        assignee_id=assignee_id,
        label=form.label.data or None,
        received_from=form.received_from.data,
        received_to=form.received_to.data,
        overdue=bool(form.overdue.data),
        changed=bool(form.changed.data),
        sort=form.sort.data if form.sort.data in ("due", "received") else "due",
    )


@bp.get("/")
def index():
    session = get_session()
    staff = current_staff()
    form = FilterForm(request.args)
    _filter_choices(form, staff)
    form.validate()
    # A page number that is no number shows the first page: it is not a filter to mark.
    form.page.errors = []
    start, end = form.received_from.data, form.received_to.data
    if start and end and start > end:
        form.received_to.errors = [
            *form.received_to.errors,
            _("The end of the range is before its start."),
        ]
    valid = not any(f.errors for f in form)
    filtered = any(request.args.get(name) for name in FILTER_FIELDS)
    if valid:
        filters = _filters(form, staff)
    if not valid:
        filters = inbox.InboxFilters()
    page_number = form.page.data if valid and isinstance(form.page.data, int) else 1
    page = inbox.list_cases(
        session,
        staff,
        filters,
        today(),
        page=min(max(page_number, 1), 10**6),
        per_page=current_app.config["PAGE_SIZE"],
    )
    passed_up = transferred_from(session, staff.office_id, staff) if page.page == 1 else []
    trail.record(session, "inbox_view", actor=staff, detail="filtered" if filtered else "")
    session.commit()
    shown_units = {row.unit_id for row in page.rows}
    unit_names = {
        u.id: u.name(current_language())
        for u in session.scalars(select(Unit).where(Unit.id.in_(shown_units)))
    }
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "console/cases/inbox.html",
        form=form,
        page=page,
        filtered=filtered,
        unit_names=unit_names,
        status_names=STATUS_NAMES,
        kind_names=KIND_NAMES,
        statuses=[s for s in ReportStatus],
        args=args,
        args_no_status={k: v for k, v in args.items() if k != "status"},
        unknown_years=deadline_rules().calendar.unknown_years(r.next_due for r in page.rows),
        format_date=format_date,
        status_invalid=not valid,
        passed_up=passed_up,
        lang=current_language(),
    ), (200 if valid else 400)


# --- the case page -------------------------------------------------------------------------


def _case_page(report, status: int = 200, **forms):
    session = get_session()
    staff = current_staff()
    keys = identities()
    opened_case = reading.open_case(session, blob_store(), staff, report, keys, today())
    session.commit()
    case = workflow.case_of(report)
    readers = case_readers(session, report)
    status_form = forms.get("status_form") or StatusForm()
    status_form.status.choices = [
        choice(s.value, STATUS_NAMES[s.value]) for s in workflow.allowed_statuses(report)
    ]
    assign_form = forms.get("assign_form") or AssignForm(
        data={"assignee": str(case.assignee_id or "")}
    )
    assign_form.assignee.choices = [choice("", _("nobody"))] + [
        choice(str(s.id), s.display_name)
        for s in readers
        if s.has_role(Role.inspector, Role.office_head)
    ]
    propose_form = forms.get("propose_form") or ProposeForm()
    propose_form.disposal.choices = [choice(d.value, DISPOSAL_NAMES[d.value]) for d in Disposal]
    steps = deadlines.steps(report, case, today())
    pending = decisions.pending_decision(session, report)
    forms["grant_form"] = grant_form(session, report, forms.get("grant_form"))
    forms["export_form"] = export_form(session, report, forms.get("export_form"))
    return render_template(
        "console/cases/case.html",
        report=report,
        case=case,
        opened=opened_case,
        keys_unsealed=bool(keys),
        steps=steps,
        unknown_years=deadline_rules().calendar.unknown_years(s.due for s in steps),
        pending=pending,
        readers=readers,
        is_head=is_head_of(session, staff, report),
        status_form=status_form,
        assign_form=assign_form,
        label_form=forms.get("label_form") or LabelForm(),
        remove_form=RemoveLabelForm(),
        note_form=forms.get("note_form") or NoteForm(),
        reply_form=forms.get("reply_form") or ReplyForm(),
        propose_form=propose_form,
        real_name_form=forms.get("real_name_form") or RealNameForm(),
        grant_form=forms["grant_form"],
        export_form=forms["export_form"],
        problem=forms.get("problem"),
        status_names=STATUS_NAMES,
        kind_names=KIND_NAMES,
        category_names=category_names(),
        level_names=LEVEL_NAMES,
        field_names=FIELD_NAMES,
        disposal_names=DISPOSAL_NAMES,
        step_names=STEP_NAMES,
        format_date=format_date,
        problem_text=partial(file_problem_text, staff=True),
        unlisted_file=UNLISTED_FILE,
        lang=current_language(),
    ), status


@bp.get("/<report_id>")
def case(report_id: str):
    return _case_page(_case_or_404(report_id))


def _done(report, what: str, **args):
    return redirect(url_for(".done", report_id=report.id, what=what, **args), 303)


@bp.get("/<report_id>/done")
def done(report_id: str):
    """What the last action did, with links to what it names."""
    session = get_session()
    report = _case_or_404(report_id)
    what = request.args.get("what", "")
    context: dict = {"what": what, "report": report}
    if what in ("assigned", "granted"):
        assignee_id = request.args.get("to", "")
        context["assignee"] = _staff_by_id(session, assignee_id) if assignee_id else None
        if assignee_id and context["assignee"] is None:
            abort(404)  # not an id (other digits, past 2**63) or nobody: not a page we made
    elif what in ("label_added", "label_removed"):
        context["label"] = request.args.get("label", "")
    elif what == "note" or what == "reply":
        context["seq"] = request.args.get("n", "")
    elif what.startswith("decision"):
        context["disposal"] = DISPOSAL_NAMES.get(request.args.get("disposal", ""), "")
    context["status_name"] = STATUS_NAMES[report.status.value]
    return render_template("console/cases/done.html", **context)


def _refused(report, error: CaseError, **forms):
    if isinstance(error, CaseNotPermitted):
        get_session().rollback()
        abort(403)
    get_session().rollback()
    return _case_page(report, 400, problem=_refusal(error), **forms)


@bp.post("/<report_id>/status")
def change_status(report_id: str):
    report = _case_or_404(report_id)
    form = StatusForm()
    form.status.choices = [choice(s.value, s.value) for s in ReportStatus]
    if not form.validate_on_submit():
        return _case_page(report, 400, problem=_("Choose the new status."), status_form=form)
    session = get_session()
    try:
        before = workflow.change_status(
            session,
            current_staff(),
            report,
            ReportStatus(form.status.data),
            today(),
            deadline_rules(),
        )
    except CaseError as error:
        return _refused(report, error)
    session.commit()
    return _done(report, "status", before=before.value)


@bp.post("/<report_id>/assign")
def assign(report_id: str):
    report = _case_or_404(report_id)
    form = AssignForm()
    form.assignee.choices = None  # any value: the service checks who may be assigned
    form.assignee.validate_choice = False
    if not form.validate_on_submit():
        return _case_page(report, 400, problem=_("Choose whom to assign."))
    value = form.assignee.data or ""
    assignee_id = parse_id(value) if value else None
    if value and assignee_id is None:
        return _case_page(report, 400, problem=_("Choose whom to assign."))
    session = get_session()
    try:
        assignee = workflow.assign(session, current_staff(), report, assignee_id)
    except CaseError as error:
        return _refused(report, error)
    session.commit()
    return _done(report, "assigned", to=assignee.id if assignee else "")


@bp.post("/<report_id>/labels")
def add_label(report_id: str):
    report = _case_or_404(report_id)
    form = LabelForm()
    if not form.validate_on_submit():
        return _case_page(report, 400, problem=_("Check the label."), label_form=form)
    session = get_session()
    try:
        label = workflow.add_label(session, current_staff(), report, form.label.data)
    except CaseError as error:
        form.label.errors = [_refusal(error)]
        return _refused(report, error, label_form=form)
    session.commit()
    return _done(report, "label_added", label=label)


@bp.post("/<report_id>/labels/remove")
def remove_label(report_id: str):
    report = _case_or_404(report_id)
    form = RemoveLabelForm()
    if not form.validate_on_submit():
        abort(400)
    session = get_session()
    try:
        label = workflow.remove_label(session, current_staff(), report, form.label.data or "")
    except CaseError as error:
        return _refused(report, error)
    session.commit()
    return _done(report, "label_removed", label=label or "")


@bp.post("/<report_id>/notes")
def add_note(report_id: str):
    report = _case_or_404(report_id)
    form = NoteForm()
    if not form.validate_on_submit():
        return _case_page(report, 400, problem=_("Check the note."), note_form=form)
    session = get_session()
    try:
        note = notes.add_note(
            session, blob_store(), current_staff(), report, form.text.data, today()
        )
    except ChannelUnavailable:
        session.rollback()
        return _case_page(report, 409, problem=REFUSALS["channel_unavailable"], note_form=form)
    except CaseError as error:
        form.text.errors = [_refusal(error)]
        return _refused(report, error, note_form=form)
    session.commit()
    return _done(report, "note", n=note.seq)


@bp.post("/<report_id>/reply")
def reply(report_id: str):
    report = _case_or_404(report_id)
    form = ReplyForm()
    batch = uploads.current_batch()
    if not form.validate_on_submit():
        return _case_page(report, 400, problem=_("Check the message."), reply_form=form)
    if batch is not None and batch.refused is not None:
        form.files.errors = [str(REFUSALS["upload_refused"])]
        return _case_page(report, 400, problem=REFUSALS["upload_refused"], reply_form=form)
    files = batch.finish() if batch is not None else []
    session = get_session()
    try:
        message = workflow.reply(
            session, blob_store(), current_staff(), report, form.text.data or "", files, today()
        )
    except ReportInvalid as invalid:
        session.rollback()
        key = f"text_{invalid.errors.get('text', 'invalid')}"
        form.text.errors = [str(REFUSALS.get(key, REFUSALS["text_invalid"]))]
        return _case_page(report, 400, problem=form.text.errors[0], reply_form=form)
    except (ChannelUnavailable, UploadRefused):
        session.rollback()
        return _case_page(report, 409, problem=REFUSALS["channel_unavailable"], reply_form=form)
    except CaseError as error:
        return _refused(report, error, reply_form=form)
    session.commit()
    return _done(report, "reply", n=message.seq)


@bp.post("/<report_id>/decision")
def propose(report_id: str):
    report = _case_or_404(report_id)
    form = ProposeForm()
    form.disposal.choices = [choice(d.value, d.value) for d in Disposal]
    if not form.validate_on_submit():
        return _case_page(report, 400, problem=_("Choose a disposal."), propose_form=form)
    session = get_session()
    try:
        decision = decisions.propose(
            session, current_staff(), report, Disposal(form.disposal.data), today()
        )
    except CaseError as error:
        return _refused(report, error, propose_form=form)
    session.commit()
    return _done(report, "decision_proposed", disposal=decision.disposal.value)


def _decision_step(report_id: str, step, what: str):
    report = _case_or_404(report_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        abort(400)
    session = get_session()
    try:
        decision = step(session, current_staff(), report, form.decision.data or "")
    except CaseError as error:
        return _refused(report, error)
    session.commit()
    return _done(report, what, disposal=decision.disposal.value)


@bp.post("/<report_id>/decision/confirm")
def confirm_decision(report_id: str):
    return _decision_step(
        report_id,
        lambda s, staff, r, d: decisions.confirm(s, staff, r, d, today()),
        "decision_confirmed",
    )


@bp.post("/<report_id>/decision/record")
def record_decision(report_id: str):
    members = current_app.config["CASE_DECISION_MEMBERS"]
    return _decision_step(
        report_id,
        lambda s, staff, r, d: decisions.record(s, staff, r, d, today(), members),
        "decision_recorded",
    )


@bp.post("/<report_id>/decision/withdraw")
def withdraw_decision(report_id: str):
    return _decision_step(report_id, decisions.withdraw, "decision_withdrawn")


@bp.post("/<report_id>/real-name")
def real_name(report_id: str):
    report = _case_or_404(report_id)
    session = get_session()
    staff = current_staff()
    if not is_head_of(session, staff, report):
        abort(403)
    form = RealNameForm()
    if not form.validate_on_submit():
        return _case_page(report, 400, problem=_("Give the reason."), real_name_form=form)
    try:
        found = reading.open_real_name(
            session, blob_store(), staff, report, identities(), form.reason.data
        )
    except CaseError as error:
        form.reason.errors = [_refusal(error)]
        return _refused(report, error, real_name_form=form)
    session.commit()
    response = current_app.make_response(
        render_template("console/cases/real_name.html", report=report, found=found)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<report_id>/files/<envelope_id>")
def attachment(report_id: str, envelope_id: str):
    """A file of the case, decrypted as it is sent (never written anywhere), under the name the
    reporter or the office gave it; images and PDFs may be viewed in a sandboxed page."""
    report = _case_or_404(report_id)
    session = get_session()
    staff = current_staff()
    keys = identities()
    blobs = blob_store()
    try:
        envelope, info = reading.attachment_of(
            session, blobs, staff, report, envelope_id[:32], keys
        )
    except CaseError as error:
        if error.message_key in ("file_misplaced", "file_damaged", "file_missing"):
            from app.errors import render_error

            problem = error.message_key.removeprefix("file_")
            return render_error(409, _("This file is not shown"), problem_text_for(problem))
        abort(404)
    inline = request.args.get("view") == "1" and info.content_type in INLINE_TYPES
    with ExitStack() as stack:
        try:
            plaintext = stack.enter_context(opened(blobs, envelope, keys))
            views = plaintext.views()
            checked, whole = read_ahead(views, CHECKED_BEFORE_SENDING)
            length = sum(map(len, checked)) if whole else stored_plaintext_size(blobs, envelope)
        except NoIdentityMatch:
            abort(404)
        except (CryptoError, BlobError, OSError):
            from app.errors import render_error

            return render_error(409, _("This file is not shown"), problem_text_for("damaged"))
        reading.record_download(session, staff, report, envelope.id)
        session.commit()
        body = (
            checked if whole else stream_with_context(stream_rest(stack.pop_all(), checked, views))
        )
    response = Response(body, mimetype=info.content_type if inline else "application/octet-stream")
    response.headers["Content-Disposition"] = content_disposition(
        "inline" if inline else "attachment", info.name
    )
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.content_length = length
    return response


def problem_text_for(problem: str) -> str:
    return file_problem_text(problem, staff=True)
