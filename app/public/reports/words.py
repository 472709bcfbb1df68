"""What the services' codes mean, in the reporter's language."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.services.reports.cleaning import Cleaning, CleanState

FIELD_ERRORS = {
    "required": _l("This field is required."),
    "too_long": _l("This is too long."),
    "unknown": _l("Choose one of the options."),
    "invalid": _l("This value is not valid."),
    "too_many": _l("Too many chosen."),
}
REMOVED = {
    "exif": _l("camera data (EXIF)"),
    "gps": _l("location (GPS)"),
    "xmp": _l("XMP data"),
    "iptc": _l("IPTC data"),
    "comment": _l("comments"),
    "text": _l("text notes"),
    "time": _l("time stamps"),
    "tags": _l("tags"),
    "app_data": _l("application data"),
    "trailing_data": _l("data after the end of the image"),
    "pdf_info": _l("document information (author, title, dates)"),
    "core_properties": _l("document properties (author, dates)"),
    "app_properties": _l("application properties (company, template)"),
    "custom_properties": _l("custom properties"),
}


def field_error(key: str) -> str:
    return str(FIELD_ERRORS.get(key, FIELD_ERRORS["invalid"]))


def cleaning_words(cleaning: Cleaning) -> str:
    """One line about what was done to a file's hidden data."""
    if cleaning.state == CleanState.cleaned:
        removed = ", ".join(str(REMOVED.get(code, code)) for code in cleaning.removed)
        return _("hidden data removed: %(what)s", what=removed)
    if cleaning.state == CleanState.nothing_found:
        return _("checked: no hidden data found")
    if cleaning.state == CleanState.too_large:
        return _("too large to clean: stored as sent, hidden data may remain")
    if cleaning.state == CleanState.unreadable:
        return _("could not be read to remove hidden data: stored as sent")
    return _("a kind of file that is not cleaned: stored as sent, hidden data may remain")
