"""What the report pages share: the words of upload limits and of forms refused, and the
reporter's follow-up session."""

from __future__ import annotations

from flask import current_app, request
from flask_babel import gettext as _

from app.services.reports import errors

COOKIE = "portal_followup"  # the token of the reporter's follow-up session


def size_text(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB"


def refusal_text(refused: errors.UploadRefused) -> str:
    if isinstance(refused, errors.TooManyFiles):
        return _("Too many files: at most %(count)d can be sent.", count=refused.limit)
    return _(
        "The files are too large: at most %(size)s can be sent in all.",
        size=size_text(refused.limit),
    )


def amount_text(size: int) -> str:
    """A number of bytes to show: in MiB to a tenth, below one in KiB."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    return f"{size // 1024} KiB"


def reply_bytes_text(left: int) -> str:
    """A reply whose files would pass what its report's replies may still take today."""
    return _(
        "The files of all replies to a report may take %(day)s a day together; %(left)s is "
        "left today. Nothing was stored; your text is still here: send it with smaller files "
        "or none, or send the files tomorrow.",
        day=size_text(current_app.config["REPORT_REPLY_MAX_BYTES_PER_DAY"]),
        left=amount_text(left),
    )


def too_many_parts_text() -> str:
    """A form with more parts than are read (``upload_request.py``): what came after was not."""
    return _(
        "The form had too many parts (files or fields), so what came after them was not "
        "read. At most %(count)d files can be sent. Nothing was stored; everything you typed "
        "is still here (files must be chosen again).",
        count=current_app.config["REPORT_MAX_FILES"],
    )


def fields_too_large_text() -> str:
    """A form whose fields together are larger than the page's fields can be."""
    return _(
        "What was sent in the form's fields is larger than this form can hold, so the rest "
        "was not read. Nothing was stored; what was read is here: check it and send it "
        "again from this page (files must be chosen again)."
    )


def expired_text() -> str:
    return _(
        "The form had expired (it is valid for an hour) or did not come from this site. "
        "Nothing was stored; everything you typed is still here: send it again."
    )


def code_expired_text() -> str:
    """The receipt code's form expired: the code is never kept, so it must be typed again."""
    return _(
        "The form had expired (it is valid for an hour) or did not come from this site. "
        "Your code was not checked and, as always, not kept: enter it again."
    )


def leave_expired_text() -> str:
    return _(
        "The form had expired (it is valid for an hour) or did not come from this site, so "
        "your report is still open here. To close it, press the button again."
    )


def order_text() -> str:
    """Files sent before the fields that authorise them (``gate.py``): dropped unread."""
    return _(
        "The form's files came before its other fields, so they could not be checked "
        "and were not read. Nothing was stored; everything you typed is still here "
        "(files must be chosen again): send it again from this page."
    )


def current_session():
    """The follow-up session of this browser (resumed once a request), or None."""
    if "portal.followup_session" not in request.environ:
        token = request.cookies.get(COOKIE, "")
        sessions = current_app.extensions["portal.followup_sessions"]
        request.environ["portal.followup_session"] = sessions.resume(token) if token else None
    return request.environ["portal.followup_session"]
