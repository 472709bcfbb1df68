"""Public pages of disclosures: index, item, history, print view, feed, attachments, questions."""

from __future__ import annotations

import io
import re

import segno
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import NotFound, TooManyRequests

from app import errors as error_pages
from app.db import get_session
from app.extensions import limiter
from app.form_choices import choice
from app.i18n import current_language, today
from app.models import (
    Action,
    Disclosure,
    DisclosureAttachment,
    PublicState,
)
from app.public.disclosures.diff import Deadline, diff_html, markdown_diff_html
from app.public.disclosures.forms import FilterForm, QuestionForm
from app.public.page_cache import cached_page
from app.security.reader import current_reader, vary_by_reader
from app.services import units
from app.services.disclosures import catalogue as catalogue_service
from app.services.disclosures import categories as category_service
from app.services.disclosures import (
    congress,
    errors,
    listings,
    publishing,
    questions,
    visibility,
)
from app.services.disclosures import log as disclosure_log
from app.services.periods import PERIOD_KEY_RE
from app.web import runtime
from app.web.disclosures import send_attachment

bp = Blueprint("disclosures", __name__, url_prefix="/disclosures")
bp.after_request(vary_by_reader)

ATTACHMENT_CSP = "sandbox; default-src 'none'"
MAX_PAGE = 10_000
YEAR_RE = re.compile(r"[0-9]{4}")  # not str.isdigit(): "²²" is digits to it, not to int()


def _filters_from_request(session) -> tuple[FilterForm, listings.Filters, dict[str, str]]:
    reader = current_reader()
    form = FilterForm(formdata=request.args)
    lang = current_language()
    categories = category_service.list_categories(session, active_only=False)
    all_units = units.all_units(session)
    form.category.choices = [choice("", "—")] + [choice(c.code, c.name(lang)) for c in categories]
    form.unit.choices = [choice("", "—")] + [choice(u.code, u.name(lang)) for u in all_units]
    form.period.choices = [choice("", "—")] + [
        choice(key) for key in listings.period_keys_in_use(session, reader)
    ]
    form.year.choices = [choice("", "—")] + [
        choice(str(y)) for y in listings.years_in_use(session, reader)
    ]
    filters = listings.Filters()
    args: dict[str, str] = {}
    category_code = request.args.get("category", "")
    if category_code:
        filters.category = next((c for c in categories if c.code == category_code), None)
        if filters.category is None:
            abort(404)
        args["category"] = category_code
    unit_code = request.args.get("unit", "")
    if unit_code:
        filters.unit = next((u for u in all_units if u.code == unit_code), None)
        if filters.unit is None:
            abort(404)
        args["unit"] = unit_code
    period = request.args.get("period", "")
    if period:
        if not PERIOD_KEY_RE.match(period):
            abort(404)
        filters.period_key = period
        args["period"] = period
    year = request.args.get("year", "")
    if year:
        if not YEAR_RE.fullmatch(year) or not 1900 < int(year) < 3000:
            abort(404)
        filters.year = int(year)
        args["year"] = year
    return form, filters, args


@bp.get("/")
@cached_page("category", "unit", "period", "year", "page")
def index():
    session = get_session()
    form, filters, args = _filters_from_request(session)
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)
    per_page = current_app.config["PAGE_SIZE"]
    items, total = listings.list_public(
        session, current_reader(), filters, page=page, per_page=per_page
    )
    pages = max(1, (total + per_page - 1) // per_page)
    return render_template(
        "disclosures/index.html",
        form=form,
        items=items,
        total=total,
        page=page,
        pages=pages,
        args=args,
    )


def _readable_or_404(disclosure_id: int) -> Disclosure:
    session = get_session()
    disclosure = visibility.get_readable(session, current_reader(), disclosure_id)
    if disclosure is None:
        abort(404)
    return disclosure


def _current_attachments(disclosure: Disclosure) -> list[DisclosureAttachment]:
    if disclosure.public_state != PublicState.published:
        return []
    ids = set(publishing.revision_attachment_ids(disclosure.revisions[-1]))
    return [a for a in disclosure.attachments if a.id in ids]


def _last_amendment(disclosure: Disclosure):
    """The latest amendment, whose reason the page shows (a congress review is no amendment)."""
    return next((r for r in reversed(disclosure.revisions) if r.action == Action.amend), None)


@bp.get("/<int:disclosure_id>")
@cached_page("asked")
def detail(disclosure_id: int):
    # No form here: the page is the same for every reader of a scope, so it can be cached.
    disclosure = _readable_or_404(disclosure_id)
    session = get_session()
    return render_template(
        "disclosures/detail.html",
        d=disclosure,
        revision=disclosure.revisions[-1],
        amendment=_last_amendment(disclosure),
        attachments=_current_attachments(disclosure),
        questions=questions.published_questions(session, disclosure),
        asked=request.args.get("asked") == "1",
    )


@bp.route("/<int:disclosure_id>/ask", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_QUESTIONS"], methods=["POST"])
def ask(disclosure_id: int):
    disclosure = _readable_or_404(disclosure_id)
    session = get_session()
    form = QuestionForm()
    question_error = None
    if request.method == "POST" and form.validate_on_submit():
        try:
            questions.ask_question(session, disclosure, form.body.data, today())
        except errors.DisclosureError as exc:
            question_error = exc.message
        else:
            session.commit()
            return redirect(
                url_for(".detail", disclosure_id=disclosure.id, asked=1, _anchor="questions")
            )
    status = 400 if request.method == "POST" else 200
    return render_template(
        "disclosures/ask.html", d=disclosure, form=form, question_error=question_error
    ), status


@bp.errorhandler(TooManyRequests)
def too_many(error: TooManyRequests):
    """A question refused by a rate limit comes back in its form, with when to try again."""
    disclosure_id = (request.view_args or {}).get("disclosure_id")
    if request.endpoint != "disclosures.ask" or request.method != "POST" or disclosure_id is None:
        return error_pages.error_response(error)
    try:
        disclosure = _readable_or_404(disclosure_id)
    except NotFound as missing:
        return error_pages.error_response(missing)
    if disclosure.public_state != PublicState.published:  # no form to bring the text back in
        return error_pages.error_response(error)
    problem = _(
        "Your question was not sent: too many questions have come from here in a short time. "
        "It is still below."
    )
    problem = f"{problem} {error_pages.TRY_AGAIN[error_pages.limit_period(error)]}"
    return render_template(
        "disclosures/ask.html", d=disclosure, form=QuestionForm(), question_error=problem
    ), 429


@bp.errorhandler(CSRFError)
def question_expired(error: CSRFError):
    """A question whose form expired or came from elsewhere is not sent, but comes back in its
    form with what was typed: a worker who paused over a question does not lose it."""
    disclosure_id = (request.view_args or {}).get("disclosure_id")
    if request.endpoint != "disclosures.ask" or disclosure_id is None:
        return error_pages.render_error(400, *error_pages.CSRF_MESSAGE)
    try:
        disclosure = _readable_or_404(disclosure_id)
    except NotFound as missing:
        return error_pages.error_response(missing)
    if disclosure.public_state != PublicState.published:  # no form to bring the text back in
        return error_pages.render_error(400, *error_pages.CSRF_MESSAGE)
    problem = _(
        "Your question was not sent: the form had expired (it is valid for an hour) or did "
        "not come from this site. It is still below: send it again."
    )
    return render_template(
        "disclosures/ask.html", d=disclosure, form=QuestionForm(), question_error=problem
    ), 400


# Forms on item pages posted here before the form had a page of its own; same view, same limit.
bp.add_url_rule("/<int:disclosure_id>", endpoint="ask", view_func=ask, methods=["POST"])


@bp.get("/<int:disclosure_id>/history")
@cached_page()
def history(disclosure_id: int):
    disclosure = _readable_or_404(disclosure_id)
    revisions = list(disclosure.revisions)
    deadline = Deadline()  # one budget for every comparison on the page
    entries = []
    for index, revision in enumerate(revisions):
        previous = revisions[index - 1] if index else None
        diff = None
        if previous is not None and revision.action == Action.amend:
            diff = {
                "title": diff_html(previous.title, revision.title, deadline),
                "body": markdown_diff_html(previous.body, revision.body, deadline),
            }
        # A decision record shown with the revision that first gave it or changed it.
        record_changed = revision.action != Action.retract and (
            previous is None or previous.decision_record != revision.decision_record
        )
        entries.append(
            {
                "revision": revision,
                "previous": previous,
                "diff": diff,
                "record_changed": record_changed,
            }
        )
    # Where two texts are too large to compare, both are shown in full instead.
    for index, entry in enumerate(entries):
        too_large = entry["diff"] is not None and None in entry["diff"].values()
        entry["too_large"] = too_large
        entry["show_text"] = entry["revision"].action == Action.publish or too_large
        if too_large:
            entries[index - 1]["show_text"] = True
    return render_template(
        "disclosures/history.html", d=disclosure, entries=list(reversed(entries))
    )


@bp.get("/<int:disclosure_id>/print")
def print_view(disclosure_id: int):
    disclosure = _readable_or_404(disclosure_id)
    session = get_session()
    return render_template(
        "disclosures/print.html",
        d=disclosure,
        revision=disclosure.revisions[-1],
        amendment=_last_amendment(disclosure),
        attachments=_current_attachments(disclosure),
        permalink=runtime.public_url(url_for(".detail", disclosure_id=disclosure.id)),
        checkpoint=(checkpoint := disclosure_log.latest_checkpoint(session)),
        root=disclosure_log.hash_text(checkpoint.root_hash) if checkpoint else None,
    )


@bp.get("/<int:disclosure_id>/proof")
@cached_page()
def proof(disclosure_id: int):
    """The inclusion proof in words: which log entries hold the revisions, that the signed
    checkpoint includes them, and how to check that offline (the JSON is one link away)."""
    disclosure = _readable_or_404(disclosure_id)
    session = get_session()
    checkpoint = disclosure_log.latest_checkpoint(session)
    included, later = [], list(disclosure.revisions)
    if checkpoint is not None:
        included, later = disclosure_log.inclusion_proofs(session, disclosure, checkpoint)
    return render_template(
        "disclosures/proof.html",
        d=disclosure,
        checkpoint=checkpoint,
        root=disclosure_log.hash_text(checkpoint.root_hash) if checkpoint else None,
        included=included,
        later=later,
        json_url=url_for("log.proof", disclosure_id=disclosure.id),
    )


@bp.get("/<int:disclosure_id>/qr.svg")
def qr_code(disclosure_id: int):
    disclosure = _readable_or_404(disclosure_id)
    url = runtime.public_url(url_for(".detail", disclosure_id=disclosure.id))
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=4, border=2, xmldecl=False)
    response = Response(buffer.getvalue(), mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = ATTACHMENT_CSP
    return response


@bp.get("/<int:disclosure_id>/attachments/<int:attachment_id>")
def attachment(disclosure_id: int, attachment_id: int):
    disclosure = _readable_or_404(disclosure_id)
    found = next((a for a in _current_attachments(disclosure) if a.id == attachment_id), None)
    if found is None:
        abort(404)
    return send_attachment(found)


@bp.get("/feed.atom")
def feed():
    session = get_session()
    _form, filters, args = _filters_from_request(session)
    items, _total = listings.list_public(session, current_reader(), filters, page=1, per_page=50)
    body = render_template(
        "disclosures/feed.atom.xml",
        items=items,
        feed_url=runtime.public_url(url_for(".feed", **args)),
        index_url=runtime.public_url(url_for(".index", **args)),
        base_url=runtime.public_url(""),
        updated=max(
            (d.retracted_at or d.revised_at or d.published_at for d in items), default=None
        ),
    )
    return Response(body, mimetype="application/atom+xml")


@bp.get("/catalogue/")
@cached_page()
def catalogue_units():
    session = get_session()
    roots = units.roots(session)
    waiting, reviewed = congress.public_listing(session, current_reader())
    return render_template(
        "disclosures/catalogue_units.html",
        roots=roots,
        congress_waiting=waiting,
        congress_reviewed=reviewed,
    )


@bp.get("/catalogue/<code>")
@cached_page()
def catalogue(code: str):
    session = get_session()
    unit = units.by_code(session, code)
    if unit is None:
        abort(404)
    statuses = catalogue_service.catalogue_status(
        session, today(), unit=unit, reader=current_reader()
    )
    return render_template(
        "disclosures/catalogue.html",
        unit=unit,
        statuses=statuses,
        link_for=lambda disclosure_id: url_for(".detail", disclosure_id=disclosure_id),
    )
