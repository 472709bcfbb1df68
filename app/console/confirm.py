"""Confirmations: the page after a console action says what it did, naming and linking to the
item it acted on (a disclosure, a category), so that a click on the wrong button is seen at once.

A confirmation is a flashed message kept in the session until the next page shows it
(``console/_flashes.html``, included by ``base.html`` on the console only): a redirect after
the POST keeps it, and nothing of it goes into an address.
"""

from __future__ import annotations

from flask import flash

ITEM = "%(item)s"


def confirm(text: str, link: str | None = None, label: str | None = None) -> None:
    """Show ``text`` on the next page; ``%(item)s`` in it becomes a link to ``link`` named
    ``label``. ``text`` is translated already, its other placeholders filled in (pass
    ``item=ITEM`` to gettext to keep this one).

    The parts are kept apart, never joined into HTML: the label (a title someone typed) is
    escaped by the template like any other text.
    """
    before, found, after = text.partition(ITEM)
    if not found:  # a translation that lost the placeholder: the link goes after the text
        before, after = text + " ", ""
    flash({"before": before, "href": link, "label": label, "after": after}, "success")
