"""Console sign-in state: who is signed in, and the decorators that guard views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, g, redirect, request, session, url_for

from app.db import get_session
from app.models import Role, StaffUser

F = TypeVar("F", bound=Callable[..., Any])


def sign_in(user: StaffUser) -> None:
    # A fresh session on sign-in: nothing from before the login survives (fixation).
    language = session.get("lang")
    session.clear()
    session.permanent = True
    session["staff_id"] = user.id
    if language:
        session["lang"] = language


def sign_out() -> None:
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language


def current_staff() -> StaffUser | None:
    if "staff" not in g:
        user = None
        staff_id = session.get("staff_id")
        if isinstance(staff_id, int):
            user = get_session().get(StaffUser, staff_id)
            if user is not None and not user.active:
                session.clear()
                user = None
        g.staff = user
    return g.staff


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
