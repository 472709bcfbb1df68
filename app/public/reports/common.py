"""What the report pages share: the words of upload limits."""

from __future__ import annotations

from flask_babel import gettext as _

from app.services.reports import errors


def size_text(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB"


def refusal_text(refused: errors.UploadRefused) -> str:
    if isinstance(refused, errors.TooManyFiles):
        return _("Too many files: at most %(count)d can be sent.", count=refused.limit)
    return _(
        "The files are too large: at most %(size)s can be sent in all.",
        size=size_text(refused.limit),
    )
