"""Error pages: the same translated page for every error code, never exception text."""

from __future__ import annotations

import redis
from flask import Flask, current_app, g, render_template
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, TooManyRequests

from app import logging_setup

MESSAGES = {
    400: (_l("Bad request"), _l("The request could not be understood. Go back and try again.")),
    403: (_l("Access denied"), _l("You do not have access to this page.")),
    404: (
        _l("Page not found"),
        _l("There is no page at this address. Check the address or start from the home page."),
    ),
    405: (_l("Method not allowed"), _l("This page cannot be used that way.")),
    408: (
        _l("Sent too slowly"),
        _l(
            "What you sent arrived too slowly and was stopped. Nothing was stored. Check your "
            "connection and send it again."
        ),
    ),
    413: (
        _l("Upload too large"),
        _l("What you sent is larger than this site accepts. Send something smaller."),
    ),
    429: (_l("Too many requests"), None),  # TOO_MANY, by the limit that was hit
    500: (
        _l("Something went wrong"),
        _l("The server could not complete the request. Try again later."),
    ),
    503: (
        _l("Service unavailable"),
        _l("The service is temporarily unavailable. Try again later."),
    ),
}
CSRF_MESSAGE = (
    _l("The form has expired"),
    _l("This form is out of date or was not sent from this site. Reload the page and try again."),
)


TOO_MANY = {
    "minute": _l("You have sent too many requests in a short time. Wait a minute and try again."),
    "hour": _l("You have sent too many requests in a short time. Wait an hour and try again."),
    "day": _l("You have sent too many requests in a short time. Wait a day and try again."),
}
TRY_AGAIN = {
    "minute": _l("Try again in a minute."),
    "hour": _l("Try again in an hour."),
    "day": _l("Try again in a day."),
}


class LimitReached(TooManyRequests):
    """A refusal by a limit counted outside Flask-Limiter, with its window in seconds."""

    def __init__(self, seconds: int) -> None:
        super().__init__()
        self.seconds = seconds


def limit_period(error: HTTPException) -> str:
    """The longest a refused client may have to wait for ``error``: minute, hour or day.

    A refusal by Flask-Limiter carries the limit that was hit, a ``LimitReached`` its window;
    any other 429 is taken for a limit per minute."""
    item = getattr(getattr(error, "limit", None), "limit", None)
    seconds = item.get_expiry() if item is not None else getattr(error, "seconds", 60)
    return "minute" if seconds <= 60 else "hour" if seconds <= 3600 else "day"


def render_error(code: int, title: str, message: str) -> tuple[str, int]:
    return render_template("errors/error.html", code=code, title=title, message=message), code


def error_response(error: HTTPException) -> object:
    """The translated page for ``error``, as the app's handler answers it."""
    code = error.code or 500
    if code < 400:
        return error
    title, message = MESSAGES.get(code, MESSAGES[500 if code >= 500 else 400])
    if code == 429:
        message = TOO_MANY[limit_period(error)]
    response = current_app.make_response(render_error(code, title, message))
    if code == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


RETRY_AFTER_SECONDS = 30


def database_unreachable(error: BaseException) -> bool:
    """Whether ``error`` is the database not answering (restarting, the network to it cut):
    a moment's outage the visitor can wait out, not a fault of the request."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def forget_failed_transaction() -> None:
    """Roll back the request's session after an error: its connection may be gone."""
    session = g.get("db_session")
    if session is not None:
        session.rollback()


def database_error(error: DBAPIError):
    """The database not answering: 503 with a page that says to try again in a moment
    (logged by the exception's type, without the statement or its parameters). Any other
    database error is the server's fault, answered as every unhandled one is."""
    if not database_unreachable(error):
        raise error
    forget_failed_transaction()
    current_app.logger.error("Database unreachable: %s", type(error.orig or error).__name__)
    response = current_app.make_response(render_error(503, *MESSAGES[503]))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def store_unreachable(error: Exception):
    """Redis not answering where nothing can stand in for it (a follow-up session, which
    every machine must find): 503, try again in a moment. What can fall back does so before
    (rate limits, used challenges and passes, a receipt shown in the form's answer)."""
    forget_failed_transaction()
    current_app.logger.error("Redis unreachable: %s", type(error).__name__)
    response = current_app.make_response(render_error(503, *MESSAGES[503]))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def init_app(app: Flask) -> None:
    if app.config["SURFACE"] == "public":
        # Unhandled errors are logged by endpoint, not by path and query, dated by the day.
        logging_setup.init_public_app(app)

    @app.errorhandler(CSRFError)
    def csrf_error(_error: CSRFError) -> tuple[str, int]:
        return render_error(400, *CSRF_MESSAGE)

    app.register_error_handler(HTTPException, error_response)

    app.register_error_handler(DBAPIError, database_error)
    app.register_error_handler(redis.exceptions.ConnectionError, store_unreachable)
    app.register_error_handler(redis.exceptions.TimeoutError, store_unreachable)

    @app.errorhandler(InternalServerError)
    def server_error(_error: InternalServerError) -> tuple[str, int]:
        # What failed may have been a write: the page (its navigation reads who is signed
        # in) starts from a clean session, or it fails too and the browser gets a bare page.
        session = g.get("db_session")
        if session is not None:
            session.rollback()
        return render_error(500, *MESSAGES[500])
