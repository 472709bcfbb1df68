"""Markdown written by publishers, made safe to show: markdown-it renders, bleach cleans.

Raw HTML in the source is not rendered at all, and the allow-list below is applied to what
markdown-it produces, so neither path can smuggle a script, a style, an event handler, a
frame or an image from another site into a page.
"""

from __future__ import annotations

import html
import re

import bleach
from markdown_it import MarkdownIt
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


_cleaner = bleach.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=_allowed_attribute,
    protocols=ALLOWED_PROTOCOLS,
    strip=True,
    strip_comments=True,
)


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


def _rendered_or_none(source: str) -> str | None:
    """markdown-it's HTML for ``source``, or None where it nests past what is shown as such.

    markdown-it stops parsing blocks at its nesting limit (20 levels in the CommonMark preset)
    and drops the rest of the text: a text that reaches it is shown as plain text, whole.
    Its limit stays low: the cost of runs of brackets grows with it.
    """
    env: dict = {}
    tokens = _markdown.parse(source, env)
    limit = _markdown.options["maxNesting"]
    if any(t.type in _CONTAINERS and t.level + 1 >= limit for t in tokens):
        return None
    rendered = _markdown.renderer.render(tokens, _markdown.options, env)
    return None if nesting_depth(rendered) > MAX_NESTING else rendered


def _render_markdown(source: str) -> Markup:
    rendered = _rendered_or_none(source)
    if rendered is None:
        return _as_plain_text(source)
    cleaned = _cleaner.clean(rendered)
    # An <img> whose src was refused is an empty tag; drop it rather than show a broken image.
    cleaned = re.sub(r"<img(?![^>]*\ssrc=)[^>]*>", "", cleaned)
    return Markup(cleaned)  # noqa: S704 (cleaned by the allow-list above)


_RENDERED = TextMemo()


def markdown_to_text(source: str) -> str:
    """The words of a Markdown text without markup, for search and feed summaries."""
    rendered = _rendered_or_none(source or "")
    if rendered is None:
        return re.sub(r"\n{3,}", "\n\n", (source or "").strip())
    rendered = re.sub(r"</(p|h[1-6]|li|tr|blockquote|pre)>|<br\s*/?>", "\n", rendered)
    text = bleach.clean(rendered, tags=set(), strip=True, strip_comments=True)
    text = html.unescape(text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
