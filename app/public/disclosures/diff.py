"""Readable differences between two revisions, as escaped HTML with <ins> and <del>.

Anyone may open a history page, so what it costs must not grow faster than the texts:

- lines are compared first, then a changed block character by character only while the
  block is small (Chinese has no spaces to compare words by);
- every comparison of one page shares a deadline: past it, what is left is shown as
  removed and added lines, which is still a correct account of the change;
- texts too large to compare are not compared at all: the page shows both in full.

diff-match-patch does the comparing: Myers' algorithm with a deadline, line mode and a
semantic cleanup that keeps changes readable, where difflib's cost has no bound.
"""

from __future__ import annotations

import time

from diff_match_patch import diff_match_patch
from markupsafe import Markup, escape

from app.memo import TextMemo

# Both texts together. Valid bodies (100,000 characters at most) always fit: the cap is for
# rows written before that limit, and keeps the linear steps of a comparison bounded too.
DIFF_MAX_CHARS = 250_000
# A changed block is compared character by character up to this size, else shown whole.
INLINE_MAX_CHARS = 4_000
# Seconds of comparing for one page, whatever the number of revisions on it.
PAGE_SECONDS = 0.5

_EQUAL = diff_match_patch.DIFF_EQUAL
_DELETE = diff_match_patch.DIFF_DELETE
_INSERT = diff_match_patch.DIFF_INSERT


class Deadline:
    """When the comparisons of one page must stop refining (shared by all of its diffs)."""

    def __init__(self, seconds: float = PAGE_SECONDS) -> None:
        # diff-match-patch compares its deadline with time.time().
        self.at = time.time() + seconds

    def passed(self) -> bool:
        return time.time() >= self.at


def _inline(pieces: list[tuple[int, str]]) -> str:
    """One row for a changed block; its line breaks stay inside (the row wraps as written)."""
    out: list[str] = []
    for op, text in pieces:
        if op == _EQUAL:
            out.append(str(escape(text)))
        else:
            tag = "del" if op == _DELETE else "ins"
            out.append(f"<{tag}>{escape(text)}</{tag}>")
    return f'<div class="diff-line diff-changed">{"".join(out)}</div>'


def _whole_lines(text: str, op: int) -> list[str]:
    css, tag = ("diff-removed", "del") if op == _DELETE else ("diff-added", "ins")
    return [
        f'<div class="diff-line {css}"><{tag}>{escape(line)}</{tag}></div>'
        for line in text.split("\n")
    ]


def _changed_block(
    engine: diff_match_patch, old: str | None, new: str | None, deadline: Deadline
) -> list[str]:
    """Rows for lines ``old`` replaced by ``new`` (either may be None: only added or removed)."""
    if old is None:
        return _whole_lines(new or "", _INSERT)
    if new is None:
        return _whole_lines(old, _DELETE)
    if len(old) + len(new) > INLINE_MAX_CHARS or deadline.passed():
        return _whole_lines(old, _DELETE) + _whole_lines(new, _INSERT)
    pieces = engine.diff_main(old, new, False, deadline.at)
    engine.diff_cleanupSemantic(pieces)
    return [_inline(pieces)]


def diff_html(old: str, new: str, deadline: Deadline | None = None) -> Markup | None:
    """Lines of ``new`` against ``old``: unchanged lines plain, changes marked up.

    None when the texts are too large to compare; the caller shows both in full.
    Remembered per pair of texts, so a page rendered again for another language or host
    compares nothing again.
    """
    old = (old or "").replace("\r\n", "\n")
    new = (new or "").replace("\r\n", "\n")
    if len(old) + len(new) > DIFF_MAX_CHARS:
        return None
    deadline = deadline or Deadline()
    return _DIFFS.get(lambda a, b: _diff(a, b, deadline), old, new)


_DIFFS = TextMemo()


def _diff(old: str, new: str, deadline: Deadline) -> Markup:
    engine = diff_match_patch()
    # No "half match" speed-up: it looks for a long common middle before the deadline is
    # ever checked, and costs seconds on long runs of equal lines. Our deadline still holds.
    engine.Diff_Timeout = 0
    # Lines first, each line one character: a long document with one changed line is cheap.
    # A trailing newline keeps the last line a line of its own in both texts.
    old_chars, new_chars, lines = engine.diff_linesToChars(old + "\n", new + "\n")
    by_lines = engine.diff_main(old_chars, new_chars, False, deadline.at)
    engine.diff_charsToLines(by_lines, lines)

    rows: list[str] = []
    removed: list[str] = []
    added: list[str] = []

    def flush() -> None:
        if removed or added:
            old_lines = "".join(removed)[:-1] if removed else None
            new_lines = "".join(added)[:-1] if added else None
            rows.extend(_changed_block(engine, old_lines, new_lines, deadline))
            removed.clear()
            added.clear()

    for op, text in by_lines:
        if op == _DELETE:
            removed.append(text)
        elif op == _INSERT:
            added.append(text)
        else:
            flush()
            rows.extend(
                f'<div class="diff-line">{escape(line)}</div>' for line in text[:-1].split("\n")
            )
    flush()
    return Markup("\n".join(rows))  # noqa: S704 (every piece of text is escaped above)
