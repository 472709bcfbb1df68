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
    "file_path": _l("file locations on the author's computer"),
    "edit_ids": _l("editing session identifiers"),
}


# What happened to the parts inside a document (pictures, attachments), one per part.
NOTES = {
    "embedded_cleaned": _l("hidden data removed from the embedded file %(name)s"),
    "embedded_removed": _l("the embedded file %(name)s could not be cleaned and was removed"),
    "embedded_kept": _l(
        "the embedded part %(name)s could not be cleaned: hidden data may remain in it"
    ),
    "images_kept": _l(
        "%(name)s pictures in it are of a kind that is not cleaned: hidden data may remain in them"
    ),
    "authors_kept": _l(
        "the names of the authors of comments and tracked changes were kept: they are part of "
        "the content"
    ),
    "more_kept": _l(
        "%(name)s more embedded parts could not be cleaned: hidden data may remain in them"
    ),
}
_UNCLEANED_NOTES = {"embedded_removed", "embedded_kept", "images_kept", "more_kept"}


def field_error(key: str) -> str:
    return str(FIELD_ERRORS.get(key, FIELD_ERRORS["invalid"]))


def cleaning_words(cleaning: Cleaning) -> str:
    """One line about what was done to a file's hidden data, and to each part inside it that
    was cleaned, removed or could not be cleaned: never more than was done."""
    notes = []
    for code, name in cleaning.notes:
        line = str(NOTES[code]) % {"name": name} if code in NOTES else None
        if line is not None and line not in notes:
            notes.append(line)
    kept = any(code == "authors_kept" for code, _name in cleaning.notes)
    if cleaning.state == CleanState.cleaned:
        removed = ", ".join(str(REMOVED.get(code, code)) for code in cleaning.removed)
        return "; ".join([_("hidden data removed: %(what)s", what=removed), *notes])
    if cleaning.state == CleanState.nothing_found:
        if any(code in _UNCLEANED_NOTES for code, _name in cleaning.notes):
            first = _("no hidden data found in the parts that could be checked")
        elif kept:  # never "nothing found" of a file that still names people
            first = _("checked: nothing removed")
        else:
            first = _("checked: no hidden data found")
        return "; ".join([first, *notes])
    if cleaning.state == CleanState.too_large:
        return _("too large to clean: stored as sent, hidden data may remain")
    if cleaning.state == CleanState.unreadable:
        return _("could not be read to remove hidden data: stored as sent")
    return _("a kind of file that is not cleaned: stored as sent, hidden data may remain")
