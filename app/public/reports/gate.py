"""What a form must show before the server does any work for it: its CSRF token, the client's
limit, and (a report) the proof of work or the pass of a form without script.

The files of a report or a reply are cleaned and encrypted as they arrive
(``upload_request.py``), so these checks are made when the first file part begins, on the
fields that came before it (the forms put them first); a form that fails them, or whose files
come before them, has its files read and dropped, untouched. The view makes the same checks
for a form without files, after its own (a form sent back to be completed costs nothing).

Before the files, a form is also checked as far as it can be without them: a report form's
fields (its ``ReportForm`` validation, then the service's checks and routing: an unknown unit,
exclusions that are invalid or leave no office), a reply's text. A form that would come back
anyway has its files dropped unread and costs nothing.

What counts against the client's limit: a form whose files were let through (they cost the
server work, whatever becomes of the form), and a report or reply stored. A form sent back to
be completed, or refused, does not count. The proof of work or the pass of a report form is
used up (by one taker) when its files are let through, or else when the report is stored:
each form whose files are read costs one, whatever becomes of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request
from flask_wtf.csrf import validate_csrf
from limits import RateLimitItem, parse, strategies
from limits.storage import MemoryStorage
from werkzeug.datastructures import MultiDict
from wtforms import ValidationError

from app.db import get_session
from app.public.reports.common import current_session
from app.public.reports.forms import ReplyForm, ReportForm
from app.public.reports.noscript import Pass
from app.public.reports.pow import Work
from app.security.network import rate_limit_key
from app.services.reports import errors, submission
from app.services.reports.submission import ReportFields

# The limit each form with files counts against.
LIMITS = {"reports.send": "RATELIMIT_REPORTS", "reports.reply": "RATELIMIT_REPLIES"}
_COUNTED = "portal.gate_counted"
_REDEEMED = "portal.gate_redeemed"
_REPLY_BYTES_LEFT = "portal.reply_bytes_left"


@dataclass(frozen=True)
class Refusal:
    """Why a form was not taken: ``expired`` (its CSRF token), ``limited`` (the client's
    limit, ``seconds`` its window), ``work`` (neither proof of work nor pass counts: ``work``,
    ``passed``), ``order`` (files before the form's own fields), ``sent_back`` (a report
    form that comes back to be completed whatever its files), ``session`` (a reply without a
    follow-up session), ``reply_bytes`` (the files of today's replies to the report took the
    day's bytes: ``left`` is what is left), ``database`` (it did not answer while the form
    was checked)."""

    reason: str
    seconds: int = 0
    left: int = 0
    work: Work = Work.none
    passed: Pass = Pass.none


class ClientLimit:
    """A per-client limit (a ``RATELIMIT_*`` setting) tested and counted by hand, in
    Flask-Limiter's storage under the client's key, with its fallback in this process's
    memory when that storage cannot be reached."""

    def __init__(self, setting: str) -> None:
        self.setting = setting

    def _item(self) -> RateLimitItem:
        return parse(current_app.config[self.setting])

    def _call(self, method: str) -> bool:
        flask_limiter = current_app.extensions["portal.limiter"]
        if not flask_limiter.enabled:
            return True
        identifiers = (f"portal-{current_app.config['SURFACE']}-forms", rate_limit_key())
        args = (self._item(), *identifiers, self.setting)
        try:
            return getattr(flask_limiter.limiter, method)(*args)
        except Exception:
            if not current_app.config.get("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"):
                raise
            fallback = current_app.extensions.setdefault(
                "portal.gate_fallback", strategies.FixedWindowRateLimiter(MemoryStorage())
            )
            return getattr(fallback, method)(*args)

    def allows(self) -> bool:
        """Whether one more would be within the limit (nothing is counted)."""
        return self._call("test")

    def count(self) -> bool:
        """Count one; False if that went past the limit."""
        return self._call("hit")

    @property
    def seconds(self) -> int:
        return self._item().get_expiry()


def client_limit(endpoint: str) -> ClientLimit:
    return ClientLimit(LIMITS[endpoint])


def _csrf_valid(fields: MultiDict) -> bool:
    try:
        validate_csrf(fields.get("csrf_token"))
    except ValidationError:
        return False
    return True


def report_work(fields: MultiDict, redeem: bool = False) -> tuple[Work, Pass]:
    """What the proof of work, else the pass, sent with a report form is worth; with
    ``redeem``, the one that counts is used up."""
    work = current_app.extensions["portal.report_pow"]
    answer = (work.redeem if redeem else work.check)(
        fields.get("pow_challenge", ""), fields.get("pow_nonce", "")
    )
    if answer is Work.done:
        return answer, Pass.none
    passes = current_app.extensions["portal.noscript_passes"]
    pass_text = fields.get("noscript_pass", "")
    return answer, (passes.redeem if redeem else passes.check)(pass_text)


def redeem_work(fields: MultiDict) -> tuple[Work, Pass]:
    """Use up the proof of work, else the pass, of this report form, once a request: what it
    was worth (the first answer again when asked again). The one that counted counts towards
    this hour's difficulty or wait."""
    if _REDEEMED in request.environ:
        return request.environ[_REDEEMED]
    work, passed = report_work(fields, redeem=True)
    request.environ[_REDEEMED] = (work, passed)
    if work is Work.done:
        current_app.extensions["portal.report_pow"].counted()
    elif passed is Pass.ready:
        current_app.extensions["portal.report_pow"].counted()
        current_app.extensions["portal.noscript_passes"].counted()
    return work, passed


def report_refusal(fields: MultiDict) -> Refusal | None:
    """Why a report form may not be taken (nothing used up), or None."""
    if not _csrf_valid(fields):
        return Refusal("expired")
    refusal = _limit_refusal("reports.send")
    if refusal is not None:
        return refusal
    if _REDEEMED in request.environ:  # used up when its files were let through
        work, passed = request.environ[_REDEEMED]
    else:
        work, passed = report_work(fields)
    if work is not Work.done and passed is not Pass.ready:
        return Refusal("work", work=work, passed=passed)
    return None


def reply_refusal(fields: MultiDict) -> Refusal | None:
    """Why a reply may not be taken (nothing used up), or None."""
    if not _csrf_valid(fields):
        return Refusal("expired")
    if current_session() is None:
        return Refusal("session")
    return _limit_refusal("reports.reply")


def _limit_refusal(endpoint: str) -> Refusal | None:
    """Whether the client may send one more form (this one, if its files counted already)."""
    if request.environ.get(_COUNTED):
        return None
    limit = client_limit(endpoint)
    return None if limit.allows() else Refusal("limited", seconds=limit.seconds)


REFUSALS = {"reports.send": report_refusal, "reports.reply": reply_refusal}


def before_files(endpoint: str, fields: MultiDict) -> Refusal | None:
    """Whether the files of this form, whose first part begins now, may be read: None if they
    may (and the client's limit counts this form), else why not."""
    if "csrf_token" not in fields:  # the form's fields come after its files
        return Refusal("order")
    if endpoint == "reports.send" and _sent_back(fields):
        return Refusal("sent_back")
    if endpoint == "reports.reply" and not _reply_complete(fields):
        return Refusal("sent_back")
    refusal = REFUSALS[endpoint](fields)
    if refusal is not None:
        return refusal
    if endpoint == "reports.reply":
        left = reply_bytes_left()
        if left is not None and left <= 0:
            return Refusal("reply_bytes", left=0)
    if endpoint == "reports.send":
        # Used up now, by one form only: a form whose files are read costs its work even if
        # it fails after them, and forms sent at once with the same work have one reader.
        work, passed = redeem_work(fields)
        if work is not Work.done and passed is not Pass.ready:
            return Refusal("work", work=work, passed=passed)
    limit = client_limit(endpoint)
    if not limit.count():  # another form of this client came first
        return Refusal("limited", seconds=limit.seconds)
    request.environ[_COUNTED] = True
    return None


def reply_bytes_left() -> int | None:
    """The bytes of files a reply may still bring to its report today (asked once a request),
    or None without a follow-up session."""
    if _REPLY_BYTES_LEFT not in request.environ:
        found = current_session()
        budget = current_app.extensions["portal.reply_bytes"]
        left = budget.left(found.identity) if found is not None else None
        request.environ[_REPLY_BYTES_LEFT] = left
    return request.environ[_REPLY_BYTES_LEFT]


def report_fields(form: ReportForm) -> ReportFields:
    """A report form's fields as the service takes them."""
    return ReportFields(
        kind=form.kind.data or "",
        category=form.category.data or "",
        unit_code=(form.unit.data or "").strip(),
        level=form.level.data or "",
        persons=form.persons.data or "",
        what=form.what.data or "",
        when=form.when.data or "",
        where=form.where.data or "",
        witnesses=form.witnesses.data or "",
        real_name=form.real_name.data or "",
        contact=form.contact.data or "",
        excluded=list(form.excluded.data or []),
        reporter_copy=bool(form.reporter_copy.data),
    )


def _reply_complete(fields: MultiDict) -> bool:
    """Whether a reply's text (before its files) is one the view takes."""
    return ReplyForm(formdata=fields, meta={"csrf": False}).validate()


def _sent_back(fields: MultiDict) -> bool:
    """Whether the report form will come back to the reporter whatever its files: "show who
    reads" was pressed (the button stands before the files), a field before the files is
    missing or invalid, or the service would refuse the fields (an unknown unit, exclusions
    that are invalid or leave no office, no office able to read it). Its files are then
    dropped unread and nothing counts: a round trip costs the reporter none of the limit's
    sends and the server no cleaning."""
    if fields.get("show_inspectors"):
        return True
    form = ReportForm(formdata=fields, meta={"csrf": False})
    if not form.validate():
        return True
    try:
        submission.check_and_route(get_session(), report_fields(form))
    except errors.ReportError:  # ReportInvalid, ChannelUnavailable (no office left)
        return True
    return False


def count_stored(endpoint: str) -> Refusal | None:
    """Count a form about to be stored against the client's limit, unless its files were
    counted already; the refusal if that went past it."""
    if request.environ.get(_COUNTED):
        return None
    limit = client_limit(endpoint)
    if not limit.count():
        return Refusal("limited", seconds=limit.seconds)
    request.environ[_COUNTED] = True
    return None
