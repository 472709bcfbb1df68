"""What both apps say of a report's file that is not shown (services/reports/reading.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

from flask_babel import lazy_gettext as _l

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
