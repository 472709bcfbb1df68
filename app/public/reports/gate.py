"""What a form must show before the server does any work for it: its CSRF token, the client's
limit, and (a report) the proof of work or the pass of a form without script.

The files of a report or a reply are cleaned and encrypted as they arrive
(``upload_request.py``), so these checks are made when the first file part begins, on the
fields that came before it (the forms put them first); a form that fails them, or whose files
come before them, has its files read and dropped, untouched. The view makes the same checks
for a form without files, after its own (a form sent back to be completed costs nothing).

What counts against the client's limit: a form whose files were let through (they cost the
server work, whatever becomes of the form), and a report or reply stored. A form sent back to
be completed, or refused, does not count. The proof of work and the pass are used up only by
a report stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request
from flask_wtf.csrf import validate_csrf
from limits import RateLimitItem, parse, strategies
from limits.storage import MemoryStorage
from werkzeug.datastructures import MultiDict
from wtforms import ValidationError

from app.public.reports.common import current_session
from app.public.reports.forms import ReportForm
from app.public.reports.noscript import Pass
from app.public.reports.pow import Work
from app.security.network import rate_limit_key

# The limit each form with files counts against.
LIMITS = {"reports.send": "RATELIMIT_REPORTS", "reports.reply": "RATELIMIT_REPLIES"}
_COUNTED = "portal.gate_counted"


@dataclass(frozen=True)
class Refusal:
    """Why a form was not taken: ``expired`` (its CSRF token), ``limited`` (the client's
    limit, ``seconds`` its window), ``work`` (neither proof of work nor pass counts: ``work``,
    ``passed``), ``order`` (files before the form's own fields), ``sent_back`` (a report
    form that comes back to be completed whatever its files), ``session`` (a reply without a
    follow-up session)."""

    reason: str
    seconds: int = 0
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


def report_refusal(fields: MultiDict) -> Refusal | None:
    """Why a report form may not be taken (nothing used up), or None."""
    if not _csrf_valid(fields):
        return Refusal("expired")
    refusal = _limit_refusal("reports.send")
    if refusal is not None:
        return refusal
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
    refusal = REFUSALS[endpoint](fields)
    if refusal is not None:
        return refusal
    limit = client_limit(endpoint)
    if not limit.count():  # another form of this client came first
        return Refusal("limited", seconds=limit.seconds)
    request.environ[_COUNTED] = True
    return None


def _sent_back(fields: MultiDict) -> bool:
    """Whether the report form will come back to the reporter whatever its files: "show who
    reads" was pressed (the button stands before the files), or a field before the files is
    missing or invalid. Its files are then dropped unread and nothing counts: a round trip
    costs the reporter none of the limit's sends and the server no cleaning."""
    if fields.get("show_inspectors"):
        return True
    form = ReportForm(formdata=fields, meta={"csrf": False})
    return not form.validate()


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
