"""Input no page accepts, refused before any view or form parsing sees it.

- A NUL character anywhere in the path, the query or a form field: PostgreSQL refuses NUL
  in text and SQLite cuts strings at it in places, so a request carrying one would fail in
  the database (a 500) or store something else than was sent. No form or link has a use
  for it: the 400 page.
- A URL-encoded form body larger than ``MAX_FORM_MEMORY_SIZE``: Werkzeug parses such a body
  whole (up to ``MAX_CONTENT_LENGTH``), seconds of work for megabytes of ``a&a&``. Forms
  with files are multipart, where that limit applies field by field: the 413 page.
- A body sent to no route is never parsed: the 404 or 405 page follows.
"""

from __future__ import annotations

from flask import Flask, abort, current_app, request


def refuse_bad_input() -> None:
    if "\x00" in request.path:
        abort(400)
    for key, value in request.args.items(multi=True):
        if "\x00" in key or "\x00" in value:
            abort(400)
    if request.method in ("POST", "PUT", "PATCH"):
        if request.url_rule is None:
            return
        if request.mimetype == "application/x-www-form-urlencoded":
            length = request.content_length
            if length is None or length > current_app.config["MAX_FORM_MEMORY_SIZE"]:
                abort(413)
        for key, value in request.form.items(multi=True):
            if "\x00" in key or "\x00" in value:
                abort(400)
        for key, upload in request.files.items(multi=True):
            if "\x00" in key or "\x00" in (upload.filename or ""):
                abort(400)


def init_app(app: Flask) -> None:
    app.before_request(refuse_bad_input)
