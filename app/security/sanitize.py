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


def _render_markdown(source: str) -> Markup:
    cleaned = _cleaner.clean(_markdown.render(source))
    # An <img> whose src was refused is an empty tag; drop it rather than show a broken image.
    cleaned = re.sub(r"<img(?![^>]*\ssrc=)[^>]*>", "", cleaned)
    return Markup(cleaned)  # noqa: S704 (cleaned by the allow-list above)


_RENDERED = TextMemo()


def markdown_to_text(source: str) -> str:
    """The words of a Markdown text without markup, for search and feed summaries."""
    rendered = _markdown.render(source or "")
    rendered = re.sub(r"</(p|h[1-6]|li|tr|blockquote|pre)>|<br\s*/?>", "\n", rendered)
    text = bleach.clean(rendered, tags=set(), strip=True, strip_comments=True)
    text = html.unescape(text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
