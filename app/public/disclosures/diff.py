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

import re
import time

from diff_match_patch import diff_match_patch
from markupsafe import Markup, escape

from app.memo import TextMemo
from app.services.sanitize import render_markdown

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


# ---------------------------------------------------------------------------------------
# Bodies are Markdown: their changes are shown as the text a reader sees, rendered by the
# same sanitised renderer as the disclosure page, never as Markdown source.
#
# The bodies are compared block by block (blocks are separated by blank lines). Unchanged
# blocks are rendered as they are, removed and added blocks rendered whole inside <del> and
# <ins>. A block changed in place is compared character by character; if no changed piece
# touches Markdown syntax or the start of a line, the merged text is rendered once with
# private-use marks around the pieces, which then become <del> and <ins>: only where every
# mark pair lies inside one text node of the rendered HTML, else the block falls back to
# being shown removed and added whole.

_MARKS = {_DELETE: ("\ue000", "\ue001"), _INSERT: ("\ue002", "\ue003")}
_MARK_TAGS = {"\ue000": "<del>", "\ue001": "</del>", "\ue002": "<ins>", "\ue003": "</ins>"}
_MARK_CHARS = frozenset(_MARK_TAGS)
# Characters whose change may change the structure Markdown gives a block.
_SYNTAX = frozenset("*_`#|[]()<>!\\~&;{}\"'-+=\n\t")
_BLOCKS = re.compile(r"\n[ \t]*\n+")
_HTML_PARTS = re.compile(r"(<[^>]*>)")
_ENTITY = re.compile(r"&#?[0-9A-Za-z]+;")


def _blocks(text: str) -> list[str]:
    return [block for block in _BLOCKS.split(text.strip("\n")) if block.strip()]


def _whole_block(text: str, op: int) -> str:
    tag = "del" if op == _DELETE else "ins"
    return f'<{tag} class="diff-block">{render_markdown(text)}</{tag}>'


def _marked_block(engine: diff_match_patch, old: str, new: str, deadline: Deadline) -> str:
    whole = _whole_block(old, _DELETE) + _whole_block(new, _INSERT)
    if len(old) + len(new) > INLINE_MAX_CHARS or deadline.passed():
        return whole
    if _MARK_CHARS & (set(old) | set(new)) or _ENTITY.search(old) or _ENTITY.search(new):
        return whole  # a mark inside "&amp;" would show the reference, not the character
    pieces = engine.diff_main(old, new, False, deadline.at)
    engine.diff_cleanupSemantic(pieces)
    merged: list[str] = []
    marks = 0
    for op, text in pieces:
        if op == _EQUAL:
            merged.append(text)
            continue
        before = "".join(merged)
        if _SYNTAX & set(text) or not before or before.endswith("\n"):
            return whole
        opening, closing = _MARKS[op]
        merged.append(f"{opening}{text}{closing}")
        marks += 1
    rendered = str(render_markdown("".join(merged)))
    found = 0
    out: list[str] = []
    for part in _HTML_PARTS.split(rendered):
        if part.startswith("<"):
            if _MARK_CHARS & set(part):
                return whole  # a mark inside a tag (a link's address, say)
            out.append(part)
            continue
        # In a text node: marks must come in pairs, opened and closed here.
        open_mark = None
        for char in part:
            if char in _MARK_CHARS:
                if open_mark is None and char in ("\ue000", "\ue002"):
                    open_mark = char
                elif open_mark is not None and ord(char) == ord(open_mark) + 1:
                    open_mark = None
                    found += 1
                else:
                    return whole
                out.append(_MARK_TAGS[char])
            else:
                out.append(char)
        if open_mark is not None:
            return whole
    if found != marks:
        return whole
    return f'<div class="diff-block diff-changed">{"".join(out)}</div>'


def _markdown_diff(old: str, new: str, deadline: Deadline) -> Markup:
    engine = diff_match_patch()
    engine.Diff_Timeout = 0  # the deadline passed in bounds every comparison
    old_blocks, new_blocks = _blocks(old), _blocks(new)
    ids: dict[str, str] = {}
    for block in old_blocks + new_blocks:
        ids.setdefault(block, chr(0x10000 + len(ids)))
    by_block = engine.diff_main(
        "".join(ids[b] for b in old_blocks), "".join(ids[b] for b in new_blocks), False, deadline.at
    )
    text_of = {code: block for block, code in ids.items()}
    rows: list[str] = []
    removed: list[str] = []
    added: list[str] = []

    def flush() -> None:
        for index in range(max(len(removed), len(added))):
            if index < len(removed) and index < len(added):
                rows.append(_marked_block(engine, removed[index], added[index], deadline))
            elif index < len(removed):
                rows.append(_whole_block(removed[index], _DELETE))
            else:
                rows.append(_whole_block(added[index], _INSERT))
        removed.clear()
        added.clear()

    for op, codes in by_block:
        blocks = [text_of[code] for code in codes]
        if op == _DELETE:
            removed.extend(blocks)
        elif op == _INSERT:
            added.extend(blocks)
        else:
            flush()
            rows.extend(f'<div class="diff-block">{render_markdown(b)}</div>' for b in blocks)
    flush()
    # Text is escaped and cleaned by render_markdown; only <ins>, <del> and <div> are added.
    return Markup("\n".join(rows))  # noqa: S704


def markdown_diff_html(old: str, new: str, deadline: Deadline | None = None) -> Markup | None:
    """The change from Markdown ``old`` to ``new`` as rendered, sanitised HTML.

    None when the texts are too large to compare; the caller shows both in full.
    """
    old = (old or "").replace("\r\n", "\n")
    new = (new or "").replace("\r\n", "\n")
    if len(old) + len(new) > DIFF_MAX_CHARS:
        return None
    deadline = deadline or Deadline()
    return _MARKDOWN_DIFFS.get(lambda a, b: _markdown_diff(a, b, deadline), old, new)


_MARKDOWN_DIFFS = TextMemo()
