"""The receipt, handed from the POST that stored a report to the page that shows it, once.

A page that answers a POST stays in the browser's session history with the form it was
sent (Chromium keeps it in its profile to offer a resubmission): the report's text would
outlive the closed tab. So a stored report answers with a redirect, and the receipt page is
a GET. What that page shows (the code, the deadlines, what was cleaned) waits for it in the
short-lived store (memory, or Redis with an expiry) for at most a minute or two, sealed
under a random token that only the browser holds (a cookie for that one page;
``app.services.ephemeral.SealedValues``). Taking it deletes it.

A page the store does not keep (Redis out of memory, the pages' budget spent, the store
unreachable) is not lost: the POST answers with the page itself. The browser then keeps that
POST in its history, which is less bad than a receipt never shown for a stored report, or
a reporter's words thrown away. Forms sent back and notices, which any visitor can make, have
a budget of bytes for everyone together (REPORT_HANDOVER_MAX_BYTES), so that a flood of them
cannot fill Redis and push out (or, under ``noeviction``, keep out) the receipts and follow-up
sessions that share it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from app.services.ephemeral import Budget, SealedValues, Store

HANDOVER_SECONDS = 120
_LABEL = b"soe-portal/receipt-handover/v2"


class Handover:
    def __init__(
        self,
        store: Store,
        seconds: int = HANDOVER_SECONDS,
        evict: bool = True,
        spare: bool = False,
        everyone: Budget | None = None,
    ) -> None:
        self.store = store
        self._sealed = SealedValues(store, _LABEL)
        self.seconds = seconds
        # False: when the store is full, the newest is not kept (what waits there goes first).
        self.evict = evict
        # True: a page whose taking may fail (the store unreachable): it is then missed, not
        # a server error.
        self.spare = spare
        # What everyone's pages together may put in each window (None: no bound).
        self.everyone = everyone

    def give(
        self, payload: dict[str, Any], owner: str | None = None, budget: Budget | None = None
    ) -> str | None:
        """Keep ``payload`` for one taker; returns the token for the browser, or None if the
        store did not keep it: full with ``evict`` False, Redis out of memory or unreachable,
        ``owner`` past its ``budget`` of pages, or everyone's pages past theirs."""
        plain = json.dumps(payload, ensure_ascii=False).encode()
        try:
            return self._sealed.put(
                plain,
                self.seconds,
                evict=self.evict,
                owner=owner,
                budget=budget,
                everyone=self.everyone,
            )
        except Exception:  # the store unreachable (Redis down): the caller shows the page
            logging.getLogger(__name__).exception("a page to hand over could not be kept")
            return None

    def take(self, text: str) -> dict[str, Any] | None:
        """The payload for ``text``, once; None if it was taken, expired or never given."""
        try:
            plain = self._sealed.take(text)  # one taker only, even with several workers
        except Exception:
            if not self.spare:
                raise
            logging.getLogger(__name__).exception("a page to hand over could not be read")
            return None
        return None if plain is None else json.loads(plain)


def answer_with(
    endpoint: str,
    cookie: str,
    payload: dict[str, Any],
    store: str = "pages",
    anchor: str | None = None,
):
    """Answer a POST with a redirect to ``endpoint``, whose GET shows ``payload`` once; or,
    if the store does not keep it, with the page of ``endpoint`` showing it at once.

    ``store``: "receipts" for receipts (their own store, which nothing else can fill), or
    "pages" for forms sent back and notices (never pushing out what waits there, each client
    within its budget of pages, and everyone within theirs). ``anchor``: the part of the page
    the browser shows first, where the reporter was.
    """
    from flask import current_app, g, redirect, request, url_for

    handover = current_app.extensions[f"portal.handover.{store}"]
    owner = _page_owner() if store == "pages" else None
    token = handover.give(payload, owner, PAGES_PER_CLIENT if owner is not None else None)
    if token is None:
        # Shown by the view of the GET, in this answer: ``handed_over`` finds it in ``g``.
        g.portal_handed_over = {cookie: payload}
        name = request.blueprint + endpoint if endpoint.startswith(".") else endpoint
        return current_app.make_response(current_app.view_functions[name]())
    response = redirect(url_for(endpoint, _anchor=anchor), 303)
    response.set_cookie(
        cookie,
        token,
        max_age=HANDOVER_SECONDS,
        path=url_for(endpoint),
        httponly=True,
        samesite="Strict",
        secure=current_app.config["HTTPS"],
    )
    return response


# Pages one client may leave waiting in each window: a client refused again and again (by a
# rate limit, a form's checks) must not fill the store, whose newest pages are then dropped.
# A page sent back is at most some 150 KB (the form's fields cut to their lengths): the bytes
# bound only what the page count does not.
PAGES_PER_CLIENT = Budget(seconds=HANDOVER_SECONDS, entries=20, bytes=20 * (256 << 10))


def _page_owner() -> str | None:
    """Whose budget a page counts against: the client's keyed address, while limits are on."""
    from flask import current_app

    from app.security.network import rate_limit_key

    if not current_app.extensions["portal.limiter"].enabled:
        return None
    return rate_limit_key()


def handed_over(cookie: str, store: str = "pages") -> dict[str, Any] | None:
    """What the POST before this GET left for it (once), or None; in the answer to a POST
    whose page the store did not keep, that page."""
    from flask import current_app, g, request

    shown = g.get("portal_handed_over", {}).get(cookie)
    if shown is not None:
        return shown
    token = request.cookies.get(cookie, "")
    return current_app.extensions[f"portal.handover.{store}"].take(token) if token else None


def lost(cookie: str) -> bool:
    """After ``handed_over`` found nothing: whether a page was meant to wait (a cookie names
    one) and is gone (expired, taken already, or lost by the store)."""
    from flask import request

    return bool(request.cookies.get(cookie))


def lost_text() -> str:
    from flask_babel import gettext as _

    return _(
        "What you sent could not be shown again: the site is very busy. Nothing was stored. "
        "Please fill in the form again."
    )


def forget(response: Any, cookie: str) -> Any:
    from flask import request

    if cookie in request.cookies:
        response.delete_cookie(cookie, path=request.path)
    return response
