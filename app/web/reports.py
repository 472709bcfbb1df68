"""What both apps say of a report's file that is not shown (services/reports/reading.py), and
the names of the report categories in the page's language."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

from flask import g
from flask_babel import lazy_gettext as _l

from app.db import get_session
from app.i18n import current_language
from app.services.reports import categories
from app.services.reports.errors import FileProblem

FILE_PROBLEMS = {
    FileProblem.misplaced: _l(
        "This file is not in the place it was written for: it may have been moved or swapped "
        "on the server, so it is not shown."
    ),
    FileProblem.damaged: _l(
        "This file cannot be opened: it is missing or was changed on the server, so it is not "
        "shown."
    ),
    FileProblem.missing: _l(
        "This file is missing: it may have been moved away or deleted on the server, so it "
        "cannot be shown."
    ),
}
# The name shown for a file that its text does not list (another's file moved here).
UNLISTED_FILE = _l("A file this message does not list")
# What each reader can do about it.
REPORTER_NEXT = _l("You can tell the office about it in a reply.")
STAFF_NEXT = _l(
    "Tell the administrator, who can list such files with the command portal reports fsck."
)


def file_problem_text(problem: FileProblem | str, *, staff: bool) -> str:
    """The sentence a reader sees in place of a file that is not shown, and what to do."""
    return f"{FILE_PROBLEMS[FileProblem(problem)]} {STAFF_NEXT if staff else REPORTER_NEXT}"


def read_ahead(views: Iterator[memoryview], limit: int) -> tuple[list[bytes], bool]:
    """The plaintext from ``views`` (authenticated) up to ``limit`` bytes and at least its
    first chunk, in memory only; True: that is the whole file. A download checks this much
    before its first byte is sent, so damage there gets a page that says so."""
    checked: list[bytes] = []
    size = 0
    for view in views:
        checked.append(bytes(view))
        size += len(view)
        if size > limit:
            return checked, False
    return checked, True


def stream_rest(
    stack: ExitStack, checked: list[bytes], views: Iterator[memoryview]
) -> Iterator[bytes]:
    """What ``read_ahead`` checked, then the rest as it is decrypted; ``stack`` (the open
    file) is closed at the end. Damage further on ends the response short of its length."""
    with stack:
        yield from checked
        checked.clear()
        for view in views:
            yield bytes(view)


def _category_rows() -> list[tuple[str, str, str, bool]]:
    """The categories, read once a request (or app context): code, names, offered."""
    if "portal_report_categories" not in g:
        g.portal_report_categories = [
            (c.code, c.name_zh, c.name_en, c.active)
            for c in categories.list_categories(get_session())
        ]
    return g.portal_report_categories


def category_names() -> dict[str, str]:
    """Every report category's name in the page's language by code, retired ones included; a
    code with no row (none should be) is shown as itself."""
    english = current_language() == "en"
    return {code: en if english else zh for code, zh, en, _active in _category_rows()}


def category_name(code: str) -> str:
    return category_names().get(code, code)


def offered_categories() -> list[tuple[str, str]]:
    """(code, name) of the categories the report form offers, in order."""
    english = current_language() == "en"
    return [(code, en if english else zh) for code, zh, en, active in _category_rows() if active]
