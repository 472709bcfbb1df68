"""Console sign-in state: who is signed in, the keys their session unsealed, and the decorators
that guard views.

A signed-in browser holds one cookie of its own (``portal_console_key``, ``__Host-`` under
HTTPS): the session's random id and the random key its unsealed identities are wrapped under
(``app.services.sessions``). It is HttpOnly, SameSite=Strict, Secure under HTTPS, set once at
sign-in and never refreshed, and lasts no longer than the browser. It is kept apart from Flask's
signed session cookie (language, CSRF token), which anyone holding it can read and which is
rewritten whenever those change: the ticket is not signed because nothing in it is chosen by
the server's secret key, and a row of the database names it only by a hash.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Response,
    abort,
    after_this_request,
    current_app,
    g,
    redirect,
    request,
    session,
    url_for,
)

from app.db import database, get_session, utcnow
from app.models import ConsoleSession, Role, StaffUser
from app.services import audit, sessions
from crypto import X25519Identity

F = TypeVar("F", bound=Callable[..., Any])

TICKET_COOKIE = "portal_console_key"


def ticket_cookie_name() -> str:
    return ("__Host-" if current_app.config["HTTPS"] else "") + TICKET_COOKIE


def session_policy() -> sessions.SessionPolicy:
    config = current_app.config
    return sessions.SessionPolicy(
        idle=timedelta(minutes=config["CONSOLE_IDLE_MINUTES"]),
        lifetime=timedelta(hours=config["CONSOLE_MAX_HOURS"]),
    )


def _fresh_flask_session() -> None:
    # Nothing from before survives a change of who is signed in (fixation), but the language.
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


def _set_ticket(response: Response, ticket: sessions.Ticket | None) -> Response:
    name = ticket_cookie_name()
    secure = bool(current_app.config["HTTPS"])
    if ticket is None:
        response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="Strict")
    else:
        response.set_cookie(
            name,
            ticket.cookie_value(),
            path="/",
            secure=secure,
            httponly=True,
            samesite="Strict",
        )
    return response


def sign_in(user: StaffUser, identities: list[X25519Identity]) -> None:
    """Open a new console session for ``user`` holding ``identities`` (wrapped; the key goes
    to the browser). The caller commits."""
    _fresh_flask_session()
    ticket = sessions.open_session(get_session(), user, identities, session_policy(), utcnow())
    g.staff, g.console_ticket = user, ticket
    g.console_row = get_session().get(ConsoleSession, ticket.id_hash)
    after_this_request(lambda response: _set_ticket(response, ticket))


def sign_out() -> None:
    """End this browser's session (its row goes: every copy of the cookie stops working)."""
    ticket = sessions.Ticket.from_cookie(request.cookies.get(ticket_cookie_name()))
    user = current_staff()
    if ticket is not None:
        with database().session() as db:
            if sessions.end(db, ticket.id_hash) and user is not None:
                audit.record(db, audit.AuditAction.session_end, actor=user, detail="signed out")
    _fresh_flask_session()
    g.staff, g.console_ticket, g.console_row = None, None, None
    after_this_request(lambda response: _set_ticket(response, None))


def _load() -> None:
    g.staff, g.console_ticket, g.console_row = None, None, None
    ticket = sessions.Ticket.from_cookie(request.cookies.get(ticket_cookie_name()))
    if ticket is None:
        return
    now = utcnow()
    policy = session_policy()
    found = sessions.find(get_session(), ticket, policy, now)
    if found is None:
        # Ended, expired, disabled or forged: the browser forgets it, and a row left by
        # time goes now rather than at the next cleaning.
        with database().session() as db:
            sessions.end(db, ticket.id_hash)
        after_this_request(lambda response: _set_ticket(response, None))
        return
    if found.touch_due:
        # Its own transaction: a request's work is committed (or not) by its view.
        with database().session() as db:
            sessions.touch(db, ticket.id_hash, policy, now)
    g.staff, g.console_ticket, g.console_row = found.row.staff, ticket, found.row


def current_staff() -> StaffUser | None:
    """The staff member signed in to this browser's live session, else None."""
    if "staff" not in g:
        _load()
    return g.staff


def current_session_id_hash() -> str | None:
    """The stored name of this browser's live session (to mark it among the account's)."""
    current_staff()
    ticket = g.get("console_ticket")
    return ticket.id_hash if ticket is not None else None


def current_identities() -> list[X25519Identity]:
    """The identities this console session unsealed at sign-in; [] when none (no session, an
    account that reads no reports, a cookie that does not open them)."""
    if current_staff() is None or g.get("console_row") is None:
        return []
    if "console_identities" not in g:
        g.console_identities = sessions.identities(g.console_row, g.console_ticket)
    return g.console_identities


def login_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_staff() is None:
            return redirect(url_for("session.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def role_required(*roles: Role) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_staff()
            if user is None:
                return redirect(url_for("session.login", next=request.full_path.rstrip("?")))
            if not user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator
