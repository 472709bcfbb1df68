"""Reading the forms of the apps' pages as a test client gets them."""

from __future__ import annotations


def csrf_token(html: str) -> str:
    """The CSRF token of the first form in ``html``."""
    marker = 'name="csrf_token" type="hidden" value="'
    start = html.find(marker)
    if start < 0:
        marker = 'name="csrf_token" value="'
        start = html.find(marker)
    assert start >= 0, "no CSRF token in the page"
    start += len(marker)
    return html[start : html.index('"', start)]
