"""The signed session cookie, with its signer built once per key instead of per request.

Flask builds a new serializer for every request that opens or saves a session; on pages
served from the page cache that is a good part of the whole cost. The signer depends only
on the secret keys and the fixed salt and digest, so it is kept until the keys change.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface


class SessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._signer: tuple[tuple[Any, ...], Any] | None = None

    def get_signing_serializer(self, app: Flask) -> Any:
        keys = (app.secret_key, *(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._signer
        if cached is None or cached[0] != keys:
            cached = (keys, super().get_signing_serializer(app))
            self._signer = cached
        return cached[1]


def init_app(app: Flask) -> None:
    app.session_interface = SessionInterface()
