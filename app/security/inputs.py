"""Input no page accepts: a NUL character anywhere in the path, the query or a form field.

PostgreSQL refuses NUL in text and SQLite cuts strings at it in places, so a request
carrying one would fail in the database (a 500) or store something else than was sent.
No form or link of either app has a use for it: the request gets the 400 page.
"""

from __future__ import annotations

from flask import Flask, abort, request


def refuse_nul_characters() -> None:
    if "\x00" in request.path:
        abort(400)
    for key, value in request.args.items(multi=True):
        if "\x00" in key or "\x00" in value:
            abort(400)
    if request.method in ("POST", "PUT", "PATCH"):
        for key, value in request.form.items(multi=True):
            if "\x00" in key or "\x00" in value:
                abort(400)
        for key, upload in request.files.items(multi=True):
            if "\x00" in key or "\x00" in (upload.filename or ""):
                abort(400)


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul_characters)
