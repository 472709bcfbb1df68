"""Anonymous reports on the public site: safety page, form, receipt, follow-up.

Every page here is sent with ``Cache-Control: no-store``: workshop computers are shared, and
nothing of a report, its receipt code or its thread may stay in the browser's cache. Nothing
here logs or stores an address, a browser or a time; the rate limits key on a hash of the
address under a key of the day (app/security/daily_key.py).
"""

from __future__ import annotations

import logging
from datetime import date

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge, TooManyRequests

from app import errors as app_errors
from app.db import get_session
from app.errors import (
    TRY_AGAIN,
    LimitReached,
    database_unreachable,
    error_response,
    forget_failed_transaction,
    limit_period,
)
from app.i18n import current_language, today
from app.models import StaffUser, SubjectLevel
from app.public.reports import followup_views, gate, noscript, upload_request
from app.public.reports.common import (
    code_expired_text,
    expired_text,
    fields_too_large_text,
    leave_expired_text,
    order_text,
    refusal_text,
    size_text,
    too_many_parts_text,
)
from app.public.reports.forms import ReportForm
from app.public.reports.handover import (
    answer_with,
    forget,
    handed_over,
    lost,
    lost_text,
)
from app.public.reports.noscript import Pass
from app.public.reports.pow import Work
from app.public.reports.words import cleaning_words, field_error
from app.resources import blob_store, deadline_rules, receipt_pepper, receipt_versions
from app.services import units
from app.services.reports import errors, recipients, routing, submission
from app.services.reports.cleaning import CleanState

bp = Blueprint("reports", __name__, url_prefix="/report")
RECEIPT_COOKIE = "portal_receipt"
FORM_COOKIE = "portal_report_form"
CLEANED = (CleanState.cleaned, CleanState.nothing_found)


@bp.after_request
def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.get("/")
def safety():
    return render_template("reports/safety.html")


def render_form(form: ReportForm, status: int = 200, roots: list | None = None, **context):
    config = current_app.config
    context.setdefault("offices", [])
    pow_challenge, pow_bits = current_app.extensions["portal.report_pow"].issue()
    # The pass of the form sent back, while it can still count: its wait goes on.
    passes = current_app.extensions["portal.noscript_passes"]
    noscript_pass = context.pop("noscript_pass", None) or ""
    if passes.check(noscript_pass) not in (Pass.ready, Pass.early):
        noscript_pass = passes.issue()
    return render_template(
        "reports/new.html",
        form=form,
        units=roots if roots is not None else units.roots(get_session()),
        lang=current_language(),
        max_files=config["REPORT_MAX_FILES"],
        max_size=size_text(config["REPORT_MAX_BYTES"]),
        pow_challenge=pow_challenge,
        pow_bits=pow_bits,
        noscript_pass=noscript_pass,
        **context,
    ), status


@bp.get("/new")
def new():
    # Read before the form sent back is taken: a database that does not answer leaves it
    # waiting for the page reloaded a moment later.
    try:
        roots = units.roots(get_session())
    except DBAPIError as error:
        if not (database_unreachable(error) and request.cookies.get(FORM_COOKIE)):
            raise
        return _form_waits(error)
    shown = handed_over(FORM_COOKIE)
    if shown is None and lost(FORM_COOKIE):
        page, status = render_form(ReportForm(), roots=roots, problem=lost_text())
        return forget(current_app.make_response((page, status)), FORM_COOKIE)
    if shown is None:
        return render_form(ReportForm(), roots=roots)
    form = ReportForm(formdata=MultiDict(shown["fields"]))
    if "reporter_copy" not in shown["fields"]:  # nothing of the form came back: as new
        form.reporter_copy.data = True
    for name, messages in shown["errors"].items():
        getattr(form, name).errors = list(messages)
    page, status = render_form(form, shown["status"], roots=roots, **shown["context"])
    return forget(current_app.make_response((page, status)), FORM_COOKIE)


def _form_waits(error: DBAPIError):
    """The database does not answer, and a form sent back waits for this page: say so, and
    leave it waiting (its cookie too) for the page reloaded in a moment."""
    forget_failed_transaction()
    logging.getLogger(__name__).error(
        "The report form could not be shown: database unreachable (%s)", type(error.orig).__name__
    )
    message = _(
        "Your report was not stored: the site's database is not answering just now. What you "
        "typed is kept for two minutes: reload this page in a moment to get it back, then "
        "send it again."
    )
    page, status = app_errors.render_error(503, _("Service unavailable"), message)
    response = current_app.make_response((page, status))
    response.headers["Retry-After"] = str(app_errors.RETRY_AFTER_SECONDS)
    return response


# The form's own fields, handed back to the page that shows the form again, each cut to the
# length the service takes; nothing else of a POST is kept (a crafted one may carry any number
# of fields of any size). The choices are cut to a length longer than any of their values.
HANDED_BACK = {
    "kind": 20,
    "category": 40,
    "unit": submission.MAX_UNIT_CODE,
    "level": 20,
    **submission.TEXT_LIMITS,
}


def _back(form: ReportForm | None, status: int = 200, **context):
    """The form again, with what was typed and why: by a redirect, so that the browser keeps
    no POST with the report's words in its session history (see app/public/reports/handover.py).

    ``form`` None: what was sent, unchecked (making the form needs the database)."""
    fields: dict[str, list[str]] = {
        name: [request.form.get(name, "")[:limit]] for name, limit in HANDED_BACK.items()
    }
    excluded = request.form.getlist("excluded")[: submission.MAX_EXCLUDED]
    fields["excluded"] = [value[:20] for value in excluded]
    # Unticked is sent as nothing: kept as "" (unticked), never as missing (a new form's tick).
    ticked = form.reporter_copy.data if form is not None else request.form.get("reporter_copy")
    fields["reporter_copy"] = ["y" if ticked else ""]
    errors = form.errors if form is not None else {}
    errors_shown = {name: [str(m) for m in messages] for name, messages in errors.items()}
    errors_shown.pop("csrf_token", None)
    context["noscript_pass"] = request.form.get("noscript_pass", "")[: noscript.MAX_PASS_LENGTH]
    payload = {"status": status, "fields": fields, "errors": errors_shown, "context": context}
    # Who reads the report was asked for: the page comes back at that step, not at its top.
    anchor = "exclusions" if status == 200 and request.form.get("show_inspectors") else None
    return answer_with(".new", FORM_COOKIE, payload, anchor=anchor)


def _office_people(form: ReportForm) -> dict:
    """Who would read a report with these answers, for the reporter to keep someone out: the
    inspectors and heads of the office it goes to and, when those already ticked send it up,
    of each office on the way to the one it goes to then (the form's ``offices``).

    Nothing when the unit or the level is missing or no office can read the report at all."""
    session = get_session()
    unit = units.by_code(session, (form.unit.data or "").strip())
    if unit is None or not form.level.data:
        return {}
    try:
        level = SubjectLevel(form.level.data)
        first = routing.route_report(session, unit, level).office
    except (ValueError, errors.ReportError):
        return {}
    try:
        ticked = submission.check_exclusions(list(form.excluded.data or []))
    except errors.ReportInvalid:
        ticked = frozenset()
    lang = current_language()
    shown: dict = {"offices": [], "moved_to": None, "none_left": False}
    try:
        route = routing.route_report(session, unit, level, ticked)
        on_the_way = [*route.passed_over, route.office]
        if route.office.id != first.id:
            shown["moved_to"] = route.office.name(lang)
    except errors.ExclusionsLeaveNoOffice:
        on_the_way = routing.candidate_offices(unit, level)
        shown["none_left"] = True
    offices = on_the_way[[office.id for office in on_the_way].index(first.id) :]
    for office in offices:
        keys = recipients.office_keys(session, office)
        members = session.scalars(
            select(StaffUser)
            .where(StaffUser.id.in_(keys.inspector_ids | keys.head_ids))
            .order_by(StaffUser.id)
        )
        # Heads first: keeping one out is what sends a report up.
        people = sorted(
            ([user.id, user.display_name, user.id in keys.head_ids] for user in members),
            key=lambda person: not person[2],
        )
        if people:
            shown["offices"].append({"name": office.name(lang), "people": people})
    return shown


@bp.post("/new")
def send():
    # Files are kept only by a report that is stored: every other answer leaves them to be
    # discarded when the request ends (app/public/reports/upload_request.py). They were read
    # only if the fields before them showed a valid token, a client within its limit, fields
    # the form and the service take, and work or a pass (used up then); else they were
    # dropped unread (app/public/reports/gate.py).
    batch = upload_request.current_batch()
    form = ReportForm()
    sent_files = upload_request.files_sent()
    if upload_request.fields_too_large():  # what a page of this form never sends
        return _back(form, 413, problem=fields_too_large_text(), files_dropped=sent_files)
    if form.leave_empty.data:  # only bots fill the field people cannot see: drop it quietly
        return redirect(url_for(".dropped"), 303)
    if request.form.get("show_inspectors"):
        return _back(form, files_dropped=sent_files, **_office_people(form))
    problem = None
    if batch is not None and batch.refused is not None:
        problem = refusal_text(batch.refused)
    if upload_request.too_many_parts():
        problem = too_many_parts_text()
    if not form.validate() or problem:
        return _back(form, 400, problem=problem, files_dropped=sent_files, **_office_people(form))
    session = get_session()
    try:
        routed = submission.check_and_route(session, gate.report_fields(form))
    except errors.ReportInvalid as invalid:
        return _back(_mark(form, invalid), 400, files_dropped=sent_files)
    except errors.ExclusionsLeaveNoOffice:
        problem = _(
            "No discipline office is left to receive this report once the people you ticked "
            "are kept out. Nothing was stored; everything you typed is still here. Untick "
            "someone to send it, or turn to the body that supervises the enterprise."
        )
        people = _office_people(form)
        return _back(form, 400, problem=problem, files_dropped=sent_files, **people)
    except errors.ChannelUnavailable:
        return _back(form, 503, unavailable=True, files_dropped=sent_files)
    refusal = upload_request.refusal() or gate.report_refusal(request.form)
    if refusal is not None:
        return _refused(form, refusal, sent_files)
    # Only now is anything used up: the client's limit and the work or the pass (a form sent
    # twice at once finds it gone), unless they were when its files were let through.
    refusal = gate.count_stored("reports.send")
    if refusal is None:
        work, passed = gate.redeem_work(request.form)
    else:
        work, passed = gate.report_work(request.form)
    if refusal is None and work is not Work.done and passed is not Pass.ready:
        refusal = gate.Refusal("work", work=work, passed=passed)
    if refusal is not None:
        return _refused(form, refusal, sent_files)
    files = batch.finish() if batch is not None else []
    try:
        submitted = submission.submit(
            session,
            blob_store(),
            receipt_pepper(),
            routed,
            files,
            today(),
            receipt_versions(),
            rules=deadline_rules(),
        )
    except errors.ReportInvalid as invalid:  # the unit was closed at this very moment
        return _back(_mark(form, invalid), 400, files_dropped=sent_files)
    shown = {
        "code": submitted.code.replace(" ", ""),
        "acknowledge_by": submitted.acknowledge_by.isoformat(),
        "feedback_by": submitted.feedback_by.isoformat(),
        "files": [(info.name, cleaning_words(info.cleaning)) for info in submitted.cleaned_report],
        "copy_kept": routed.fields.reporter_copy,
    }
    # A redirect: the page that answers the POST would keep the report in the browser's
    # session history; but the receipt of a stored report is always shown, in this answer if
    # the store does not keep it (app/public/reports/handover.py).
    return answer_with(".receipt", RECEIPT_COOKIE, shown, store="receipts")


@bp.get("/sent")
def dropped():
    return render_template("reports/dropped.html")


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_error: RequestEntityTooLarge):
    """A body past the limit is not read: nothing of it can come back, but the page says why."""
    problem = _(
        "What you sent is larger than %(size)s. Send fewer or smaller files.",
        size=size_text(current_app.config["REPORT_MAX_BYTES"]),
    )
    if request.endpoint == "reports.send":
        return answer_with(
            ".new",
            FORM_COOKIE,
            {"status": 413, "fields": {}, "errors": {}, "context": {"problem": problem}},
        )
    return followup_views.form_expired(problem, 413, body_read=False)


@bp.errorhandler(DBAPIError)
def database_error(error: DBAPIError):
    """The database stopped answering while a report was sent (restarting, the network cut):
    nothing of it is stored (``submission.submit`` rolls back and deletes its blobs), and the
    form comes back with what was typed and what to do. A reply is kept the same way."""
    if request.endpoint == "reports.reply" and database_unreachable(error):
        return followup_views.reply_not_stored(error)
    if request.endpoint != "reports.send" or not database_unreachable(error):
        return app_errors.database_error(error)
    forget_failed_transaction()
    logging.getLogger(__name__).error(
        "A report could not be stored: database unreachable (%s)", type(error.orig).__name__
    )
    problem = _(
        "The report could not be stored: the site's database did not answer. Nothing was "
        "stored. Everything you typed is still here (files must be chosen again). Send it "
        "again in a minute."
    )
    return _back(None, 503, problem=problem, files_dropped=upload_request.files_sent())


@bp.get("/receipt")
def receipt():
    try:
        shown = handed_over(RECEIPT_COOKIE, "receipts")
    except Exception:  # the store unreachable: the receipt waits there, and the cookie stays
        logging.getLogger(__name__).exception("a receipt could not be read")
        page = render_template("reports/receipt_later.html")
        response = current_app.make_response((page, 503))
        response.headers["Retry-After"] = "30"
        return response
    if shown is None:
        page = render_template("reports/receipt_gone.html")
    else:
        code = shown["code"]
        page = render_template(
            "reports/receipt.html",
            groups=[code[i : i + 4] for i in range(0, len(code), 4)],
            acknowledge_by=format_date(date.fromisoformat(shown["acknowledge_by"]), "long"),
            feedback_by=format_date(date.fromisoformat(shown["feedback_by"]), "long"),
            files=shown["files"],
            copy_kept=shown.get("copy_kept", False),
        )
    response = current_app.make_response(page)
    response.delete_cookie(RECEIPT_COOKIE, path=url_for(".receipt"))
    return response


def _mark(form: ReportForm, invalid: errors.ReportInvalid) -> ReportForm:
    """Put the service's reasons on the fields they are about."""
    for name, key in invalid.errors.items():
        field = getattr(form, "unit" if name == "unit_code" else name, None) or form.what
        field.errors = [*field.errors, field_error(key)]
    return form


@bp.errorhandler(CSRFError)
def form_expired(_error: CSRFError):
    """A form without a valid token stores nothing, but loses nothing typed either."""
    if request.endpoint == "reports.send":
        return _back(ReportForm(), 400, problem=expired_text())
    if request.endpoint == "reports.enter":
        return followup_views.form_expired(code_expired_text())
    if request.endpoint == "reports.leave":
        return followup_views.form_expired(leave_expired_text())
    return followup_views.form_expired(expired_text())


def _too_many_text(refusal: TooManyRequests) -> str:
    return " ".join(
        [
            _("Too many reports have been sent in a short time. Nothing was stored."),
            str(TRY_AGAIN[limit_period(refusal)]),
            _("Everything you typed is still here (files must be chosen again)."),
        ]
    )


def _refused(form: ReportForm, refusal: gate.Refusal, files_dropped: bool):
    """The form again, saying why it was not taken and what to do."""
    if refusal.reason == "expired":
        return _back(form, 400, problem=expired_text(), files_dropped=files_dropped)
    if refusal.reason == "limited":
        text = _too_many_text(LimitReached(refusal.seconds))
        return _back(form, 429, problem=text, files_dropped=files_dropped, limited=True)
    if refusal.reason in ("order", "sent_back"):  # sent_back: a valid form's fields after files
        return _back(form, 400, problem=order_text(), files_dropped=files_dropped)
    return _back(form, 429, problem=_work_text(refusal), files_dropped=files_dropped)


def _work_text(refusal: gate.Refusal) -> str:
    """Why neither the browser's check nor the form's pass counted, and what to do: when the
    script ran, sending again with the fresh challenge of the page shown is the way; without
    it, sending again once the page's pass is ready."""
    kept = _("Everything you typed is still here (files must be chosen again).")
    if refusal.work is Work.too_easy:
        reason = _(
            "Many reports are arriving just now, so the check your browser made when the form "
            "opened is no longer enough. Nothing was stored."
        )
    elif refusal.work is Work.refused:
        reason = _(
            "The check your browser made when the form opened has expired. Nothing was stored."
        )
    else:
        passes = current_app.extensions["portal.noscript_passes"]
        if refusal.passed is Pass.early:
            minutes = passes.minutes_left(request.form.get("noscript_pass", ""))
        else:
            minutes = passes.wait()
        if refusal.passed is Pass.stale:
            reason = _(
                "Many reports are arriving just now from browsers without script, so a form "
                "sent without script has to wait longer after its page opened. Nothing was "
                "stored."
            )
        else:
            reason = _(
                "Without script, this site takes a form only some minutes after its page "
                "opened, and once. Nothing was stored."
            )
        wait = ngettext(
            "Send the report again in %(num)d minute.",
            "Send the report again in %(num)d minutes.",
            max(minutes, 1),
        )
        return " ".join([reason, kept, wait])
    return " ".join([reason, kept, _("Your browser is making a new check: send the report again.")])


@bp.errorhandler(TooManyRequests)
def too_many(error: TooManyRequests):
    """A refusal by a rate limit re-shows what was typed, and says when to try again.

    Files sent with it are dropped unread (app/public/reports/upload_request.py)."""
    upload_request.refused_before_the_body()
    if request.method != "POST":  # nothing typed to bring back: the page says when, at once
        return error_response(error)
    if request.endpoint == "reports.send":
        return _back(ReportForm(), 429, problem=_too_many_text(error), limited=True)
    return followup_views.too_many(error)


followup_views.register(bp)
