"""What the report pages share: today's date and the words for upload limits."""

from __future__ import annotations

from datetime import date

from flask import current_app
from flask_babel import gettext as _

from app.i18n import enterprise_zone, today_in

# The receipt derivation's inputs live in app/resources.py; app/cli.py still imports them
# from here under these names.
from app.resources import receipt_params  # noqa: F401
from app.resources import receipt_pepper as pepper  # noqa: F401
from app.services.reports import errors


def today() -> date:
    """Today where the enterprise is: reports are dated by the day, never timed."""
    return today_in(enterprise_zone(current_app.config))


def size_text(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB"


def refusal_text(refused: errors.UploadRefused) -> str:
    if isinstance(refused, errors.TooManyFiles):
        return _("Too many files: at most %(count)d can be sent.", count=refused.limit)
    return _(
        "The files are too large: at most %(size)s can be sent in all.",
        size=size_text(refused.limit),
    )
