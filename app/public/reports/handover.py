"""The receipt, handed from the POST that stored a report to the page that shows it, once.

A page that answers a POST stays in the browser's session history with the form it was
sent (Chromium keeps it in its profile to offer a resubmission): the report's text would
outlive the closed tab. So a stored report answers with a redirect, and the receipt page is
a GET. What that page shows (the code, the deadlines, what was cleaned) waits for it in the
follow-up session store (memory, or Redis with an expiry) for at most a minute or two,
encrypted under a random token that only the browser holds (a cookie for that one page);
the store holds it under a hash of the token. Taking it deletes it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HANDOVER_SECONDS = 120
_LABEL = b"soe-portal/receipt-handover/v1"


def _key(token: bytes) -> str:
    return "handover:" + hashlib.sha256(_LABEL + token).hexdigest()


class Handover:
    def __init__(
        self, backend: Any, seconds: int = HANDOVER_SECONDS, evict: bool = True, spare: bool = False
    ) -> None:
        self.backend = backend
        self.seconds = seconds
        # False: when the store is full, the newest is not kept (what waits there goes first).
        self.evict = evict
        # True: a page that can be lost (a form sent back, which its page then says): an
        # unreachable store loses it rather than fail the request.
        self.spare = spare

    def give(self, payload: dict[str, Any]) -> str:
        """Keep ``payload`` for one taker; returns the token for the browser (which finds
        nothing with it if the store was full and ``evict`` is False)."""
        token = os.urandom(32)
        nonce = os.urandom(12)
        plain = json.dumps(payload, ensure_ascii=False).encode()
        sealed = AESGCM(token).encrypt(nonce, plain, _LABEL)
        try:
            self.backend.put(_key(token), nonce + sealed, self.seconds, evict=self.evict)
        except Exception:  # the store unreachable (Redis down)
            if not self.spare:
                raise
            logging.getLogger(__name__).exception("a page to hand over could not be kept")
        return base64.urlsafe_b64encode(token).decode().rstrip("=")

    def take(self, text: str) -> dict[str, Any] | None:
        """The payload for ``text``, once; None if it was taken, expired or never given."""
        if not isinstance(text, str) or len(text) != 43:
            return None
        try:
            token = base64.urlsafe_b64decode(text + "=")
        except (binascii.Error, ValueError):
            return None
        try:
            value = self.backend.pop(_key(token))  # one taker only, even with several workers
        except Exception:
            if not self.spare:
                raise
            logging.getLogger(__name__).exception("a page to hand over could not be read")
            return None
        if value is None or len(value) < 12 + 16:
            return None
        try:
            plain = AESGCM(token).decrypt(value[:12], value[12:], _LABEL)
        except InvalidTag:
            return None
        return json.loads(plain)


def answer_with(endpoint: str, cookie: str, payload: dict[str, Any], store: str = "pages"):
    """Answer a POST with a redirect to ``endpoint``, whose GET shows ``payload`` once.

    ``store``: "receipts" for receipts (their own store, which nothing else can fill), or
    "pages" for forms sent back and notices (never pushing out what waits there).
    """
    from flask import current_app, redirect, url_for

    response = redirect(url_for(endpoint), 303)
    if store == "pages" and not _client_may_leave_a_page():
        # Not kept: what this client's many refusals would hold. The page says it was lost.
        token = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    else:
        token = current_app.extensions[f"portal.handover.{store}"].give(payload)
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


# Pages one client may leave waiting at a time: a client refused again and again (by a rate
# limit, a form's checks) must not fill the store, whose newest pages are then dropped.
PAGES_PER_CLIENT = f"20 per {HANDOVER_SECONDS} seconds"


def _client_may_leave_a_page() -> bool:
    from flask import current_app
    from limits import parse

    from app.security.network import rate_limit_key

    flask_limiter = current_app.extensions["portal.limiter"]
    if not flask_limiter.enabled:
        return True
    item = parse(PAGES_PER_CLIENT)
    try:
        return flask_limiter.limiter.hit(item, "portal-public-handover", rate_limit_key())
    except Exception:  # storage unreachable: the store's own bound still holds
        return True


def handed_over(cookie: str, store: str = "pages") -> dict[str, Any] | None:
    """What the POST before this GET left for it (once), or None."""
    from flask import current_app, request

    token = request.cookies.get(cookie, "")
    return current_app.extensions[f"portal.handover.{store}"].take(token) if token else None


def lost(cookie: str) -> bool:
    """After ``handed_over`` found nothing: whether a page was meant to wait (a cookie names
    one) and could not be kept (the store full, or unreachable)."""
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
