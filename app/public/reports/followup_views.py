"""Following a report up: the receipt code opens a short session; the thread; replies; files.

The code is never kept: it is turned into the report and the reporter's key by one derivation,
and the browser gets a random token (a cookie limited to /report/, gone when the browser
closes) that unwraps the key the server keeps for a short idle time (FOLLOWUP_IDLE_MINUTES).
A well-formed code that opens nothing gets the same answer, after the same work, whether it
is a typo of a real code or was never issued; only a malformed code is told so at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
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
from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import TooManyRequests

from app.db import get_session
from app.errors import (
    RETRY_AFTER_SECONDS,
    TRY_AGAIN,
    LimitReached,
    database_unreachable,
    forget_failed_transaction,
    limit_period,
    render_error,
)
from app.extensions import limiter
from app.form_choices import labels
from app.i18n import current_language, today
from app.models import EnvelopeRole, Report, ReportEnvelope
from app.public.reports import gate, upload_request
from app.public.reports.common import (
    COOKIE,
    current_session,
    expired_text,
    fields_too_large_text,
    order_text,
    refusal_text,
    reply_bytes_text,
    too_many_parts_text,
)
from app.public.reports.forms import KINDS, LEVELS, ReceiptForm, ReplyForm
from app.public.reports.handover import answer_with, forget, handed_over, lost, lost_text
from app.public.reports.noscript import Pass
from app.public.reports.pow import Work
from app.public.reports.words import cleaning_words
from app.resources import blob_store, deadline_rules, receipt_pepper, receipt_versions
from app.security.headers import content_disposition
from app.services import units
from app.services.blobs import BlobError
from app.services.reports import errors, followup
from app.services.reports.envelopes import opened, stored_plaintext_size
from app.services.reports.errors import FileProblem
from app.services.reports.followup_sessions import SessionNotKept
from app.services.reports.messages import MAX_MESSAGE_CHARS
from app.services.reports.places import Misplaced
from app.web.reports import UNLISTED_FILE, category_names, file_problem_text
from crypto.errors import CryptoError, NoIdentityMatch, ReceiptCodeError
from crypto.receipts import parse_receipt_code

SHOWN_COOKIE = "portal_followup_shown"
# The texts of a report, as the form names them, in the order the form asks them.
SENT_TEXTS = {
    "persons": _l("Person or persons concerned"),
    "what": _l("What happened"),
    "when": _l("When"),
    "where": _l("Where"),
    "witnesses": _l("Who else knows"),
}
COOKIE_PATH = "/report/"
# The status in words a reporter understands: never an internal label, note or disposal.
STATUS_WORDS = {
    "received": _l("Received: waiting for the office to acknowledge it"),
    "acknowledged": _l("Acknowledged by the office"),
    "under_assessment": _l("Being assessed by the office"),
    "disposal_decided": _l("The office has decided how to handle it"),
    "concluded": _l("Concluded"),
    "answered": _l("Answered by the office"),
}
# What the office owes the reporter by each date (the steps of app/services/cases/deadlines.py).
STEP_WORDS = {
    "acknowledge": _l("The office must acknowledge it by %(date)s."),
    "take_up_notice": _l("The office must tell you whether it takes the report up by %(date)s."),
    "feedback": _l("The office must tell you how it was handled by %(date)s."),
    "conclusion_notice": _l("The office must tell you the outcome by %(date)s."),
}
# A file up to this size is decrypted whole, in memory, before its download starts: damage
# anywhere in it gets the page that says so. Of a larger one the first this many bytes are.
CHECKED_BEFORE_SENDING = 8 * 1024 * 1024


def _sessions():
    return current_app.extensions["portal.followup_sessions"]


def _current():
    """The follow-up session of this browser, and its report; (None, None) without one."""
    found = current_session()
    if found is None:
        return None, None
    report = get_session().get(Report, found.report_id)
    if report is None:
        return None, None
    return found, report


def _forget(response: Response) -> Response:
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


def _code_page(form: ReceiptForm, status: int = 200, **context):
    pow_challenge, pow_bits = current_app.extensions["portal.entry_pow"].issue()
    noscript_pass = current_app.extensions["portal.entry_passes"].issue()
    return render_template(
        "reports/follow_up.html",
        form=form,
        pow_challenge=pow_challenge,
        pow_bits=pow_bits,
        noscript_pass=noscript_pass,
        **context,
    ), status


def show():
    # Read before a reply sent back is taken: a database that does not answer leaves it
    # waiting for the page reloaded a moment later.
    try:
        found, report = _current()
    except DBAPIError as error:
        if not (database_unreachable(error) and request.cookies.get(SHOWN_COOKIE)):
            raise
        return _reply_waits(error)
    shown = handed_over(SHOWN_COOKIE)
    if shown is None and lost(SHOWN_COOKIE):
        shown = {"thread_page": True, "code_page": True, "status": 200, "problem": lost_text()}
    shown = shown or {}
    if found is not None and shown.get("thread_page"):
        form = ReplyForm(formdata=None, data={"text": shown.get("reply", "")})
        form.text.errors = list(shown.get("errors", []))
        page = _thread_page(
            found,
            report,
            form,
            shown["status"],
            problem=shown.get("problem"),
            files_dropped=shown.get("files_dropped"),
        )
        return forget(current_app.make_response(page), SHOWN_COOKIE)
    if shown.get("code_page") or (found is None and shown):
        form = ReceiptForm(formdata=None)
        form.code.errors = list(shown.get("errors", []))
        page = _code_page(
            form,
            shown.get("status", 200),
            not_found=shown.get("not_found"),
            problem=shown.get("problem"),
            ended=shown.get("ended"),
            expired=shown.get("expired"),
        )
        response = forget(current_app.make_response(page), SHOWN_COOKIE)
        return _forget(response) if shown.get("ended") else response
    if found is None:
        expired = bool(request.cookies.get(COOKIE)) or request.args.get("expired") == "1"
        page, status = _code_page(
            ReceiptForm(), expired=expired, ended=request.args.get("left") == "1"
        )
        response = current_app.make_response((page, status))
        return _forget(response) if expired else response
    return _thread_page(found, report, ReplyForm())


def _reply_waits(error: DBAPIError):
    """The database does not answer, and a reply sent back waits for this page: say so, and
    leave it waiting (its cookie too) for the page reloaded in a moment."""
    forget_failed_transaction()
    logging.getLogger(__name__).error(
        "The follow-up page could not be shown: database unreachable (%s)",
        type(error.orig).__name__,
    )
    message = _(
        "Your reply was not stored: the site's database is not answering just now. What you "
        "wrote is kept for two minutes: reload this page in a moment to get it back, then "
        "send it again."
    )
    page, status = render_error(503, _("Service unavailable"), message)
    response = current_app.make_response((page, status))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def reply_not_stored(error: DBAPIError):
    """The database stopped answering while a reply was sent (restarting, the network cut):
    nothing of it is stored (its transaction is rolled back, and its blobs in PostgreSQL with
    it), and the thread comes back with what was written and what to do, as a tip's form does
    (app/public/reports/views.py)."""
    forget_failed_transaction()
    logging.getLogger(__name__).error(
        "A reply could not be stored: database unreachable (%s)", type(error.orig).__name__
    )
    problem = _(
        "Your reply could not be stored: the site's database did not answer. Nothing was "
        "stored. What you wrote is still here (files must be chosen again). Send it again in "
        "a minute."
    )
    payload = {
        "thread_page": True,
        "status": 503,
        "reply": request.form.get("text", "")[:MAX_MESSAGE_CHARS],
        "errors": [],
        "problem": problem,
        "files_dropped": upload_request.files_sent(),
    }
    return answer_with("reports.follow_up", SHOWN_COOKIE, payload)


def _sent_report(report: Report, identity) -> dict:
    """The report as it was sent, for the page: its fields in words and its files; ``kept``
    False when the reporter chose to keep no copy, ``problem`` when it cannot be shown."""
    try:
        sent = followup.own_report(blob_store(), report, identity)
    except (Misplaced, errors.FileDamaged, errors.NotAllowed):
        return {"kept": True, "problem": file_problem_text(FileProblem.damaged, staff=False)}
    if sent is None:
        return {"kept": False}
    fields = sent.fields
    unit = units.by_code(get_session(), fields.get("unit_code", ""))
    chosen = {
        "kind": labels(KINDS),
        "category": category_names(),
        "level": labels(LEVELS),
    }
    rows = [
        (_("Kind of report"), chosen["kind"].get(fields.get("kind", ""))),
        (_("Category"), chosen["category"].get(fields.get("category", ""))),
        (_("Unit concerned"), unit.name(current_language()) if unit else fields.get("unit_code")),
        (_("Level of the person concerned"), chosen["level"].get(fields.get("level", ""))),
        *((SENT_TEXTS[name], fields.get(name, "")) for name in SENT_TEXTS),
    ]
    return {
        "kept": True,
        "rows": [(label, value) for label, value in rows if value],
        "files": sent.attachments,
        "cleaning_words": cleaning_words,
    }


def _thread_page(found, report: Report, form: ReplyForm, status: int = 200, **context):
    now = today()
    progress = followup.progress(report, now)
    messages = followup.thread(get_session(), blob_store(), report, found.identity)
    return render_template(
        "reports/thread.html",
        report=report,
        sent=_sent_report(report, found.identity),
        status_words=STATUS_WORDS[progress.status.value],
        progress=progress,
        received_on=format_date(progress.received_on, "long"),
        acknowledge_by=format_date(progress.acknowledge_by, "long"),
        feedback_by=format_date(progress.feedback_by, "long"),
        open_steps=[
            (STEP_WORDS[s.step.value] % {"date": format_date(s.due, "long")}, s.overdue)
            for s in progress.steps
            if not s.done
        ],
        unknown_years=deadline_rules().calendar.unknown_years(s.due for s in progress.steps),
        messages=messages,
        format_date=format_date,
        problem_text=partial(file_problem_text, staff=False),
        unlisted_file=UNLISTED_FILE,
        form=form,
        **context,
    ), status


def enter():
    # Every answer is a redirect: a page answering this POST would keep the code in the
    # browser's session history. The code itself is never handed on.
    form = ReceiptForm()
    if not form.validate():
        errors_shown = [str(m) for m in form.code.errors] or [_("Enter your receipt code.")]
        return _show_code_page(status=400, errors=errors_shown)
    try:
        parse_receipt_code(form.code.data)
    except ReceiptCodeError:
        message = _("A receipt code has 20 digits (spaces and dashes do not matter). Check it.")
        return _show_code_page(status=400, errors=[message])
    refusal = _entry_work()
    if refusal is not None:
        return _show_code_page(status=429, problem=refusal)
    places = current_app.extensions["portal.code_derivations"]
    if not places.acquire(blocking=False):
        # Every place is taken by codes being derived: waiting would hold a thread the pages
        # need (a flood of codes from many addresses once slowed every page for seconds).
        message = _(
            "Many receipt codes are being checked just now. Nothing was kept; enter your code "
            "again in a minute."
        )
        return _show_code_page(status=503, problem=message)
    current_app.extensions["portal.entry_pow"].counted()
    try:
        opened_report = followup.open_by_code(
            get_session(), receipt_pepper(), form.code.data, receipt_versions()
        )
    except followup.ReceiptVersionRefused:
        # Only the right code gets here: telling its holder reveals nothing to anyone else.
        message = _(
            "This code belongs to a report that this site cannot open at present: its "
            "receipt code was made in a way this version of the site does not know. The "
            "report is kept and the office can still read it. Try again in a few days."
        )
        return _show_code_page(status=409, problem=message)
    finally:
        places.release()
    if opened_report is None:
        return _show_code_page(status=200, not_found=True)
    try:
        token = _sessions().start(opened_report.report.id, opened_report.identity)
    except SessionNotKept:
        message = _(
            "The site is very busy just now and could not open your report. Nothing was kept; "
            "enter your code again in a few minutes."
        )
        return _show_code_page(status=503, problem=message)
    response = redirect(url_for("reports.follow_up"), 303)
    response.set_cookie(
        COOKIE,
        token,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=current_app.config["HTTPS"],
    )
    return response


def _entry_work() -> str | None:
    """Past the codes everyone may try in a window (``RATELIMIT_RECEIPTS_ALL``), each code
    costs the one who sends it: the page's proof of work, or without script a page opened
    some minutes before. None when the code may be tried; else why not, and what to do."""
    work = current_app.extensions["portal.entry_pow"]
    if work.load() < work.step:
        return None
    answer = work.redeem(request.form.get("pow_challenge", ""), request.form.get("pow_nonce", ""))
    if answer is Work.done:
        return None
    passes = current_app.extensions["portal.entry_passes"]
    pass_text = request.form.get("noscript_pass", "")
    passed = passes.redeem(pass_text)
    if passed is Pass.ready:
        passes.counted()
        return None
    busy = _("Many receipt codes are being tried just now, so each one needs a check first.")
    if answer in (Work.too_easy, Work.refused):
        return busy + " " + _("Your browser is making a new check: enter the code again.")
    minutes = passes.minutes_left(pass_text) if passed is Pass.early else passes.wait()
    wait = ngettext(
        "Enter the code again in %(num)d minute.",
        "Enter the code again in %(num)d minutes.",
        max(minutes, 1),
    )
    return busy + " " + wait


def reply():
    found, report = _current()
    batch = upload_request.current_batch()
    if found is None:
        return _forget(redirect(url_for("reports.follow_up", expired=1), 303))
    form = ReplyForm()
    sent_files = upload_request.files_sent()
    if upload_request.fields_too_large():  # what the page never sends
        problem = fields_too_large_text()
        return _show_reply_again(form, 413, problem=problem, files_dropped=sent_files)
    problem = None
    if batch is not None and batch.refused is not None:
        problem = refusal_text(batch.refused)
        left = gate.reply_bytes_left()
        past_the_day = left is not None and left < current_app.config["REPORT_MAX_BYTES"]
        if isinstance(batch.refused, errors.ReportTooLarge) and past_the_day:
            problem = reply_bytes_text(left)
    if upload_request.too_many_parts():
        problem = too_many_parts_text()
    if not form.validate() or problem:
        return _show_reply_again(form, 400, problem=problem, files_dropped=sent_files)
    # Files were read only if the fields before them passed (app/public/reports/gate.py).
    refusal = upload_request.refusal() or gate.reply_refusal(request.form)
    refusal = refusal or gate.count_stored("reports.reply")
    if refusal is not None:
        return _reply_refused(form, refusal, sent_files)
    files = batch.finish() if batch is not None else []
    try:
        followup.reply(
            get_session(), blob_store(), report, found.identity, form.text.data, files, today()
        )
    except errors.ReportInvalid:
        return _show_reply_again(form, 400, files_dropped=sent_files)
    current_app.extensions["portal.reply_bytes"].spend(
        found.identity, sum(upload.size for upload in files)
    )
    return redirect(url_for("reports.follow_up", _anchor="latest"), 303)


def _reply_refused(form: ReplyForm, refusal, files_dropped: bool):
    if refusal.reason == "session":
        return _forget(redirect(url_for("reports.follow_up", expired=1), 303))
    if refusal.reason == "limited":
        problem = _("You have sent many replies in a short time.") + " "
        problem += str(TRY_AGAIN[limit_period(LimitReached(refusal.seconds))])
        return _show_reply_again(form, 429, problem=problem, files_dropped=files_dropped)
    if refusal.reason == "reply_bytes":
        problem = reply_bytes_text(refusal.left)
        return _show_reply_again(form, 400, problem=problem, files_dropped=files_dropped)
    problem = order_text() if refusal.reason in ("order", "sent_back") else expired_text()
    return _show_reply_again(form, 400, problem=problem, files_dropped=files_dropped)


def leave():
    token = request.cookies.get(COOKIE, "")
    if token:
        _sessions().end(token)
    # No entry in any store for this: a flood of "leave" costs nothing to keep.
    return _forget(redirect(url_for("reports.follow_up", left=1), 303))


def attachment(envelope_id: str):
    found, report = _current()
    if found is None:
        abort(404)
    envelope = get_session().get(ReportEnvelope, envelope_id[:32])
    # A file of the thread, or one of the report's own: a file not encrypted to the reporter
    # (the report's when no copy was kept) is not found below.
    if (
        envelope is None
        or envelope.report_id != report.id
        or envelope.role != EnvelopeRole.attachment
    ):
        abort(404)
    # Links carry no name (it would stay in the browser's history); an old link's ``name``
    # is ignored: the name is the one the message gives.
    name = followup.attachment_name(blob_store(), report, found.identity, envelope) or "file"
    with ExitStack() as stack:
        try:
            blobs = blob_store()
            plaintext = stack.enter_context(opened(blobs, envelope, [found.identity]))
            views = plaintext.views()
            checked, whole = _read_ahead(views, CHECKED_BEFORE_SENDING)
            length = sum(map(len, checked)) if whole else stored_plaintext_size(blobs, envelope)
        except NoIdentityMatch:
            abort(404)  # not for this reporter: a file the office kept to itself
        except Misplaced:
            return _refused_file(FileProblem.misplaced)
        except (CryptoError, BlobError, OSError):  # gone, altered (a label made to fit, a
            return _refused_file(FileProblem.damaged)  # payload swapped), damaged in its start
        if whole:
            body: Iterable[bytes] = checked
        else:
            # Past CHECKED_BEFORE_SENDING: streamed, and damage further on aborts the
            # download: the error ends the connection short of the length announced (the
            # undamaged file's, from its payload's size), so it never passes for the file.
            body = stream_with_context(_rest(stack.pop_all(), checked, views))
    response = Response(body, mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = content_disposition("attachment", name)
    response.content_length = length
    return response


def _read_ahead(views: Iterator[memoryview], limit: int) -> tuple[list[bytes], bool]:
    """The plaintext from ``views`` (authenticated) up to ``limit`` bytes and at least its
    first chunk, in memory only; True: that is the whole file."""
    checked: list[bytes] = []
    size = 0
    for view in views:
        checked.append(bytes(view))
        size += len(view)
        if size > limit:
            return checked, False
    return checked, True


def _rest(stack: ExitStack, checked: list[bytes], views: Iterator[memoryview]) -> Iterator[bytes]:
    with stack:
        yield from checked
        checked.clear()
        for view in views:
            yield bytes(view)


def _refused_file(problem: FileProblem):
    """A file that is not where it belongs, or is damaged: said plainly, never sent."""
    text = file_problem_text(problem, staff=False)
    return render_error(409, _("This file is not shown"), text)


def too_many(error: TooManyRequests):
    """A POST refused by a rate limit: what was typed comes back, with when to try again."""
    wait = str(TRY_AGAIN[limit_period(error)])
    if request.endpoint == "reports.reply":
        text = _("You have sent many replies in a short time.") + " " + wait
        return _show_reply_again(ReplyForm(), 429, problem=text)
    if request.endpoint == "reports.enter":
        text = _("Too many receipt codes were tried from here.") + " " + wait
    else:
        text = _("Too many requests came from here in a short time.") + " " + wait
    return _show_code_page(status=429, problem=text)


def form_expired(text: str, status: int = 400, body_read: bool = True):
    """A POST refused before its view; ``body_read`` False where its body was never read
    (too large): nothing of it can come back."""
    if request.endpoint == "reports.reply":
        form = ReplyForm() if body_read else ReplyForm(formdata=None)
        return _show_reply_again(form, status, problem=text)
    if request.endpoint == "reports.leave" and current_session() is not None:
        return _show_reply_again(ReplyForm(formdata=None), status, problem=text)
    return _show_code_page(status=status, problem=text)


def _show_code_page(**shown):
    return answer_with("reports.follow_up", SHOWN_COOKIE, {"code_page": True, **shown})


def _show_reply_again(form: ReplyForm, status: int, **shown):
    payload = {"thread_page": True, "status": status, "reply": form.text.data or "", **shown}
    payload["errors"] = [str(m) for m in form.text.errors]
    return answer_with("reports.follow_up", SHOWN_COOKIE, payload)


def register(bp: Blueprint) -> None:
    receipts_limit = limiter.limit(lambda: current_app.config["RATELIMIT_RECEIPTS"])
    bp.add_url_rule("/follow-up", "follow_up", show, methods=["GET"])
    # Everyone's codes are not refused past a budget: each costs work then (_entry_work).
    bp.add_url_rule("/follow-up", "enter", receipts_limit(enter), methods=["POST"])
    # Replies count against RATELIMIT_REPLIES by hand (app/public/reports/gate.py).
    bp.add_url_rule("/follow-up/reply", "reply", reply, methods=["POST"])
    bp.add_url_rule("/follow-up/leave", "leave", leave, methods=["POST"])
    bp.add_url_rule("/follow-up/files/<envelope_id>", "attachment", attachment)
