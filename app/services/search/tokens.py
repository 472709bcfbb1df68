"""Search tokenisation: one function for the index and the query, on SQLite and PostgreSQL.

Text is normalised (NFKC, so full-width letters and digits become ASCII; then case-folded).
Runs of CJK characters become overlapping character bigrams, so a two-character word such
as 招标 is one token wherever it stands in a sentence; the last character of every run is
also kept as a single-character token, so that each character of a run starts some token
and a one-character query can match as a prefix. Everything else is split into words of
letters and digits (no stemming): ``2026年`` gives ``2026`` and ``年``.

The index stores the tokens joined by spaces. Both back ends split that string on spaces
again (FTS5's unicode61 tokenizer, PostgreSQL's ``to_tsvector('simple', ...)``), which is
why a token never contains a space or punctuation.
"""

from __future__ import annotations

import functools
import operator
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# Han (with extensions and compatibility ideographs), kana and Hangul syllables.
_CJK_CHARS = (
    "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff"
)
_WORD_CHAR = rf"[^\W_{_CJK_CHARS}]"
_TOKEN_RE = re.compile(rf"(?P<cjk>[{_CJK_CHARS}]+)|(?P<word>{_WORD_CHAR}+)")
_CJK_RE = re.compile(rf"[{_CJK_CHARS}]")
WORD_MAX = 40  # longer words are cut: nobody searches for them, and they bloat the index
QUERY_MAX_CHARS = 200
QUERY_MAX_TERMS = 32


def normalise(text: str) -> str:
    """NFKC and case folding: what both the index and the query see."""
    return unicodedata.normalize("NFKC", text or "").casefold()


def _runs(normalised: str):
    for match in _TOKEN_RE.finditer(normalised):
        if match.lastgroup == "cjk":
            yield True, match.group()
        else:
            yield False, match.group()[:WORD_MAX]


def document_tokens(text: str) -> list[str]:
    """Tokens of a text for the index: CJK bigrams plus each run's last character, words."""
    tokens: list[str] = []
    for is_cjk, run in _runs(normalise(text)):
        if not is_cjk:
            tokens.append(run)
            continue
        tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
        tokens.append(run[-1])
    return tokens


def index_string(*texts: str) -> str:
    """The space-joined token string stored in the search index (``document_tokens``)."""
    # The same tokens as document_tokens, gathered in one list: this runs for every
    # imported item.
    found: list[str] = []
    append, extend = found.append, found.extend
    for text in texts:
        for match in _TOKEN_RE.finditer(normalise(text)):
            run = match.group()
            if match.lastgroup == "cjk":
                extend(map(operator.add, run[:-1], run[1:]))  # the bigrams
                append(run[-1])
            else:
                append(run[:WORD_MAX])
    return " ".join(found)


def document_strings(
    title: str, text: str, names: Sequence[str], retraction_reason: str | None
) -> tuple[str, str, str]:
    """What the index holds of an item: its title's tokens, the tokens of its text and
    attachment names, and the names as shown.

    A retracted item (``retraction_reason`` given) is found by its title and the reason for
    the retraction only.
    """
    if retraction_reason is not None:
        return index_string(title), index_string(retraction_reason), ""
    return index_string(title), index_string(text, *names), "\n".join(names)


@dataclass(frozen=True)
class Term:
    """One query term; every term must match (AND). A prefix term matches tokens it starts."""

    text: str
    prefix: bool = False


def query_terms(query: str) -> list[Term]:
    """Terms of a search query, in order, without duplicates (at most ``QUERY_MAX_TERMS``).

    A CJK run of two or more characters gives only its bigrams (not the trailing single
    character, which the index holds only at the end of a run); a lone CJK character is a
    prefix term, matching every bigram that starts with it and the single-character token.
    """
    terms: list[Term] = []
    for is_cjk, run in _runs(normalise(query)):
        if not is_cjk:
            terms.append(Term(run))
        elif len(run) == 1:
            terms.append(Term(run, prefix=True))
        else:
            terms.extend(Term(run[i : i + 2]) for i in range(len(run) - 1))
    unique = list(dict.fromkeys(terms))
    return unique[:QUERY_MAX_TERMS]


def fts5_query(terms: list[Term]) -> str:
    """An FTS5 MATCH expression: every term quoted (so no term is read as an operator)."""
    return " AND ".join(f'"{t.text}"' + ("*" if t.prefix else "") for t in terms)


def tsquery(terms: list[Term]) -> str:
    """A PostgreSQL ``to_tsquery('simple', ...)`` expression: quoted lexemes joined by &."""
    return " & ".join(f"'{t.text}'" + (":*" if t.prefix else "") for t in terms)


# --- highlighting ---------------------------------------------------------------------------


def _normalised_with_positions(text: str) -> tuple[str, Sequence[int]]:
    """The normalised text and, for each of its characters, the index in ``text``."""
    folded = normalise(text)
    if len(folded) == len(text):
        # The usual case (no ligatures or decomposed accents): positions are unchanged.
        return folded, range(len(text))
    out: list[str] = []
    positions: list[int] = []
    for index, char in enumerate(text):
        folded = normalise(char)
        out.append(folded)
        positions.extend([index] * len(folded))
    return "".join(out), positions


@functools.lru_cache(maxsize=256)
def _words_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """Whole words equal to one of ``words``, as the tokeniser splits them.

    A word of ``WORD_MAX`` characters stands for every longer word it starts, as in the index.
    """
    alternatives = [
        re.escape(word) + (rf"{_WORD_CHAR}*" if len(word) >= WORD_MAX else rf"(?!{_WORD_CHAR})")
        for word in words
    ]
    return re.compile(rf"(?<!{_WORD_CHAR})(?:{'|'.join(alternatives)})")


def match_spans(text: str, terms: list[Term]) -> list[tuple[int, int]]:
    """Merged [start, end) ranges of ``text`` that match a term, as the index would match."""
    if not text or not terms:
        return []
    folded, positions = _normalised_with_positions(text)
    spans: list[tuple[int, int]] = []
    words: list[str] = []
    for term in terms:
        if not _CJK_RE.match(term.text):
            words.append(term.text)
            continue
        # CJK characters only stand in CJK runs: every occurrence is a match, no need to split.
        start = folded.find(term.text)
        while start >= 0:
            spans.append((start, start + len(term.text)))
            start = folded.find(term.text, start + 1)
    if words:
        spans.extend(match.span() for match in _words_pattern(tuple(words)).finditer(folded))
    if not spans:
        return []
    spans.sort()
    merged = [spans[0]]
    for start, end in spans[1:]:
        if start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    # Back to positions in the original text (a folded character may come from a ligature).
    result = []
    for start, end in merged:
        result.append((positions[start], positions[end - 1] + 1))
    return result


def highlight(text: str, terms: list[Term], spans: list[tuple[int, int]] | None = None) -> Markup:
    """``text`` escaped, with every match wrapped in ``<mark>``."""
    if spans is None:
        spans = match_spans(text, terms)
    parts: list[str] = []
    cursor = 0
    for start, end in spans:
        parts.append(str(escape(text[cursor:start])))
        parts.append(f"<mark>{escape(text[start:end])}</mark>")
        cursor = end
    parts.append(str(escape(text[cursor:])))
    return Markup("".join(parts))  # noqa: S704 (every piece of text was escaped above)


# A snippet is looked for in this many characters from the start of an item's text: the
# cost of a results page stays bounded whatever the length of the 20 texts on it.
SNIPPET_SCAN_CHARS = 10_000
# Most texts match near their start: the first look is at this many characters, and only
# without a whole snippet there at the rest of the ``SNIPPET_SCAN_CHARS``.
SNIPPET_FIRST_CHARS = 1_000
# Characters kept clear at the end of the first look: a match is decided by a word's
# characters and the one after it, and a word of up to WORD_MAX characters may straddle the
# point where the first look stops.
_SNIPPET_MARGIN = 2 * WORD_MAX


def snippet(text: str, terms: list[Term], width: int = 160) -> Markup:
    """About ``width`` characters of ``text`` around its first match, highlighted.

    Only the first SNIPPET_SCAN_CHARS characters are searched; without a match there, the
    snippet is the start of the text.
    """
    text = text or ""
    if len(text) > SNIPPET_FIRST_CHARS:
        # With whitespace runs made single spaces, the first look's text is a prefix of the
        # whole scan's: a snippet that ends well before its end is the one the whole scan
        # would give (the same first match, the same matches in it, more text after it).
        flat = " ".join(text[:SNIPPET_FIRST_CHARS].split())
        spans = match_spans(flat, terms)
        if spans:
            start = max(0, spans[0][0] - width // 3)
            if start + width + _SNIPPET_MARGIN <= len(flat):
                return _cut_around(flat, terms, spans, start, width, more=True)
    cut = len(text) > SNIPPET_SCAN_CHARS
    flat = " ".join(text[:SNIPPET_SCAN_CHARS].split())
    spans = match_spans(flat, terms)
    if not spans:
        return escape(flat[:width]) + ("…" if len(flat) > width or cut else "")
    start = max(0, spans[0][0] - width // 3)
    return _cut_around(flat, terms, spans, start, width, more=cut)


def _cut_around(
    text: str, terms: list[Term], spans: list[tuple[int, int]], start: int, width: int, more: bool
) -> Markup:
    """``width`` characters of ``text`` from ``start`` with their matches highlighted.

    ``more`` says the text goes on beyond ``text`` (an ellipsis ends the snippet then).
    """
    end = min(len(text), start + width)
    window = [
        (max(s, start) - start, min(e, end) - start) for s, e in spans if s < end and e > start
    ]
    body = highlight(text[start:end], terms, window)
    # Adding text to Markup escapes the text.
    return ("…" if start else "") + body + ("…" if end < len(text) or more else "")
