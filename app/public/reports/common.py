"""What the report pages share: today's date, the receipt derivation's inputs, limit words."""

from __future__ import annotations

from datetime import date

from flask import current_app
from flask_babel import gettext as _

from app.i18n import enterprise_zone, today_in
from app.services.reports import errors
from crypto.receipts import DEFAULT_RECEIPT_PARAMS, ReceiptParams


def today() -> date:
    """Today where the enterprise is: reports are dated by the day, never timed."""
    return today_in(enterprise_zone(current_app.config))


def receipt_params() -> ReceiptParams:
    return current_app.config.get("RECEIPT_PARAMS", DEFAULT_RECEIPT_PARAMS)


def pepper() -> bytes:
    return current_app.config["RECEIPT_PEPPER"].encode()


def size_text(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB"


def refusal_text(refused: errors.UploadRefused) -> str:
    if isinstance(refused, errors.TooManyFiles):
        return _("Too many files: at most %(count)d can be sent.", count=refused.limit)
    return _(
        "The files are too large: at most %(size)s can be sent in all.",
        size=size_text(refused.limit),
    )
