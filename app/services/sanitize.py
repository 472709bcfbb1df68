"""Markdown written by publishers, made safe to show: markdown-it renders, bleach cleans.

Raw HTML in the source is not rendered at all, and the allow-list below is applied to what
markdown-it produces, so neither path can smuggle a script, a style, an event handler, a
frame or an image from another site into a page.
"""

from __future__ import annotations

import html
import re
from typing import Any

import bleach
from bleach import html5lib_shim
from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

from app.memo import TextMemo

ALLOWED_TAGS = frozenset(
    {
        "p",
        "br",
        "hr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "li",
        "blockquote",
        "pre",
        "code",
        "em",
        "strong",
        "del",
        "s",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "a",
        "img",
    }
)
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})
# Images only from this site's own disclosure attachments.
OWN_ATTACHMENT = re.compile(r"^/disclosures/\d+/attachments/\d+$")
_SCHEME = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.-]*):")

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.enable("table").enable("strikethrough")


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if tag == "a":
        if name == "title":
            return True
        if name != "href":
            return False
        scheme = _SCHEME.match(value)
        if scheme:
            return scheme.group(1).lower() in ALLOWED_PROTOCOLS
        # Relative targets are fine, but not protocol-relative ones (//host/...).
        return not value.strip().startswith(("//", "\\\\", "/\\"))
    if tag == "img":
        if name in ("alt", "title"):
            return True
        return name == "src" and bool(OWN_ATTACHMENT.match(value))
    if tag in ("th", "td"):
        return False  # markdown-it's style="text-align" would break the CSP anyway
    return False


_EtreeWalker = html5lib_shim.getTreeWalker("etree")


class _SiblingIndexWalker(_EtreeWalker):
    """html5lib's tree walker, finding an element's place among its siblings in constant time.

    Going back up from an element, html5lib's own walker counts and searches the
    grandparent's children (``list(...).index``): time growing with the square of a parent's
    number of children, seconds for a long list or a paragraph of many marked words. Here
    each parent's children are indexed once per walk. The tokens it yields are the same.
    """

    def __init__(self, tree: Any) -> None:
        super().__init__(tree)
        self._places: dict[int, dict[int, int]] = {}

    def getParentNode(self, node: Any) -> Any:
        if not isinstance(node, tuple) or node[3] == "text":
            return super().getParentNode(node)
        _element, _key, parents, _flag = node
        parent = parents.pop()
        if not parents:
            return parent
        grandparent = parents[-1]
        places = self._places.get(id(grandparent))
        if places is None:  # the tree is not changed while it is walked: ids stay unique
            places = {id(child): n for n, child in enumerate(grandparent)}
            self._places[id(grandparent)] = places
        return parent, places[id(parent)], parents, None


def _linear(cleaner: bleach.Cleaner) -> bleach.Cleaner:
    cleaner.walker = _SiblingIndexWalker
    return cleaner


_cleaner = _linear(
    bleach.Cleaner(
        tags=ALLOWED_TAGS,
        attributes=_allowed_attribute,
        protocols=ALLOWED_PROTOCOLS,
        strip=True,
        strip_comments=True,
    )
)
_text_cleaner = _linear(bleach.Cleaner(tags=set(), strip=True, strip_comments=True))


def render_markdown(source: str) -> Markup:
    """Publisher Markdown as HTML that is safe to put into a page.

    Remembered per text: cleaning costs more than linear time on some markup (a long table),
    and a page renders again for each language and host it is cached under.
    """
    return _RENDERED.get(_render_markdown, source or "")


# Deeper than this, a text is shown as plain paragraphs. html5lib, under bleach, costs time
# growing with the square of the nesting (thousands of nested <em> from a run of asterisks
# took seconds); no real disclosure nests its markup this deep.
MAX_NESTING = 64
_TAG = re.compile(r"<(/?)([a-z][a-z0-9]*)[^>]*>")
_VOID_TAGS = frozenset({"br", "hr", "img"})


def nesting_depth(rendered: str) -> int:
    """How deeply the elements of markdown-it's output are nested (its tags are balanced)."""
    depth = deepest = 0
    for match in _TAG.finditer(rendered):
        if match.group(2) in _VOID_TAGS:
            continue
        if match.group(1):
            depth -= 1
        else:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def _as_plain_text(source: str) -> Markup:
    paragraphs = [part for part in re.split(r"\n\s*\n", source) if part.strip()]
    return Markup("".join(f'<p class="plain">{html.escape(part)}</p>' for part in paragraphs))  # noqa: S704


# Blocks whose content markdown-it parses as blocks again, one level deeper.
_CONTAINERS = frozenset({"blockquote_open", "list_item_open"})


# html5lib, under bleach, walks a parent's children in time growing with the square of
# their number: a table of 25,000 rows took 20 s. So a table's body is cut into bodies of
# ROWS_PER_BODY rows (several <tbody> in one table, shown alike), and a text is cleaned in
# pieces of BLOCKS_PER_PIECE top-level blocks (whole elements: each piece cleans alone).
ROWS_PER_BODY = 200
BLOCKS_PER_PIECE = 200


def _rendered_or_none(source: str) -> list[str] | None:
    """markdown-it's HTML for ``source`` in pieces, or None where it nests past what is shown.

    markdown-it stops parsing blocks at its nesting limit (20 levels in the CommonMark preset)
    and drops the rest of the text: a text that reaches it is shown as plain text, whole.
    Its limit stays low: the cost of runs of brackets grows with it.
    """
    env: dict = {}
    tokens = _markdown.parse(source, env)
    limit = _markdown.options["maxNesting"]
    if any(t.type in _CONTAINERS and t.level + 1 >= limit for t in tokens):
        return None
    pieces = [
        _markdown.renderer.render(piece, _markdown.options, env)
        for piece in _pieces(_short_bodies(tokens))
    ]
    return None if max(map(nesting_depth, pieces), default=0) > MAX_NESTING else pieces


def _short_bodies(tokens: list[Token]) -> list[Token]:
    """``tokens`` with every table body cut after each ROWS_PER_BODY rows."""
    out: list[Token] = []
    rows = 0
    body: Token | None = None
    for token in tokens:
        if token.type == "tbody_open":
            body, rows = token, 0
        elif token.type == "tbody_close":
            body = None
        elif token.type == "tr_open" and body is not None:
            if rows and rows % ROWS_PER_BODY == 0:
                out += [
                    Token("tbody_close", "tbody", -1, level=body.level, block=True),
                    Token("tbody_open", "tbody", 1, level=body.level, block=True),
                ]
            rows += 1
        out.append(token)
    return out


def _pieces(tokens: list[Token]) -> list[list[Token]]:
    """``tokens`` in runs of BLOCKS_PER_PIECE whole top-level blocks."""
    pieces: list[list[Token]] = [[]]
    blocks = 0
    for token in tokens:
        pieces[-1].append(token)
        if token.level == 0 and token.nesting <= 0:  # a top-level block ends here
            blocks += 1
            if blocks % BLOCKS_PER_PIECE == 0:
                pieces.append([])
    return [piece for piece in pieces if piece]


def _render_markdown(source: str) -> Markup:
    pieces = _rendered_or_none(source)
    if pieces is None:
        return _as_plain_text(source)
    cleaned = "".join(_cleaner.clean(piece) for piece in pieces)
    # An <img> whose src was refused is an empty tag; drop it rather than show a broken image.
    cleaned = re.sub(r"<img(?![^>]*\ssrc=)[^>]*>", "", cleaned)
    return Markup(cleaned)  # noqa: S704 (cleaned by the allow-list above)


_RENDERED = TextMemo()


def markdown_to_text(source: str) -> str:
    """The words of a Markdown text without markup, for search and feed summaries."""
    return _markdown_to_text(source or "", fast=True)


def _markdown_to_text(source: str, *, fast: bool) -> str:
    """``markdown_to_text``; with ``fast`` false, always through markdown-it and bleach.

    The fast ways give the same text (the tests compare them on many texts): a text without
    Markdown markup skips the parser, and markdown-it's HTML is stripped of its tags the
    way the text cleaner strips them, without html5lib.
    """
    if fast and _is_plain(source):
        return _whole_text(source)
    pieces = _rendered_or_none(source)
    if pieces is None:
        return _whole_text(source)
    text = "".join(_words(piece, fast=fast) for piece in pieces)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _whole_text(source: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", source.strip())


# Characters that may start or end Markdown markup anywhere in a line (escapes, code, emphasis,
# strikethrough, links and images, autolinks and HTML, entities, table cells).
_INLINE_MARKUP = re.compile(r"[\\`*_~\[\]<&|]")
# What makes a line something else than a paragraph's text: indentation (code), a quote, a
# heading, a list item, a rule, a setext underline or a table's delimiter row at its start;
# spaces at its end (a hard break). Ideographic spaces too: markdown-it trims them.
_BLOCK_MARKUP = re.compile(r"^(?:[ \u3000>#+=:-]|\d{1,9}[.)])|[ \u3000]$", re.MULTILINE)


def _is_plain(source: str) -> bool:
    """Whether markdown-it reads ``source`` as paragraphs of text and nothing else.

    Then its text is the source itself: markdown-it makes each run of non-empty lines a
    paragraph and keeps the line breaks inside one, and the text cleaner turns paragraphs
    into blank lines. Characters outside what is printable (controls, tabs, other spaces,
    surrogates) are left to the parser and the cleaner, which change some of them.
    """
    return (
        _INLINE_MARKUP.search(source) is None
        and _BLOCK_MARKUP.search(source) is None
        and source.replace("\n", "").replace("\u3000", " ").isprintable()
    )


_BREAKS = re.compile(r"</(p|h[1-6]|li|tr|blockquote|pre)>|<br\s*/?>")


def _words(rendered: str, *, fast: bool = True) -> str:
    rendered = _BREAKS.sub("\n", rendered)
    if fast and _CLEANER_CHANGES.search(rendered) is None:
        return html.unescape(_strip_tags(rendered))
    return html.unescape(_text_cleaner.clean(rendered))


# The text cleaner (bleach allowing no tag, stripping) turns every tag into text before
# html5lib builds anything: a start tag of a block element into a line break, unless it is
# the first tag of the text, any other tag into nothing (bleach's BleachHTMLTokenizer). The
# rest of markdown-it's HTML is text whose only ampersands start the entities it wrote, which
# the cleaner keeps: unescaped, the same text. Characters the cleaner or html5lib would
# change (controls, carriage returns, surrogates, non-characters) take the cleaner's way.
_CLEANER_CHANGES = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]"
)
_ANY_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*>")
_BLOCK_TAGS = frozenset(html5lib_shim.HTML_TAGS_BLOCK_LEVEL)


def _strip_tags(rendered: str) -> str:
    first = True

    def replace(tag: re.Match[str]) -> str:
        nonlocal first
        if first:
            first = False
            return ""
        return "\n" if not tag.group(1) and tag.group(2).lower() in _BLOCK_TAGS else ""

    return _ANY_TAG.sub(replace, rendered)
