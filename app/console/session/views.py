from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.console.session.derivations import BUSY_MESSAGE, DerivationsBusy, derivation_place
from app.console.session.forms import LoginForm
from app.db import get_session
from app.extensions import limiter
from app.resources import seal_params
from app.security.auth import current_staff, sign_in, sign_out
from app.security.network import keyed_hash
from app.services.staff import LoginFailed, authenticate

bp = Blueprint("session", __name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site; anything with a scheme or host goes to the dashboard."""
    if not target:
        return url_for("console.dashboard")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("console.dashboard")
    return target


def login_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


def account_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN_ACCOUNT"]


def keyed_account(username: str) -> str:
    """An account's name as the per-account limit counts it: storage holds no user names."""
    username = username.strip().lower()[:64]
    return keyed_hash(current_app.config["SECRET_KEY"].encode(), "account:" + username)


def account_key() -> str:
    """The account a sign-in is for."""
    return keyed_account(request.form.get("username") or "")


def failed(response: Response) -> bool:
    # A busy answer (503) checked no password: it is no guess, and the owner's own attempt
    # turned away for it must not use up their account's limit.
    return response.status_code not in (302, 503)


def password_guesses(key_func: Callable[[], str], deduct_when: Callable[[Response], bool]):
    """The per-account limit of wrong passwords, one count for every page that checks one
    (sign-in, password change): guesses spread over those pages add up."""
    return limiter.shared_limit(
        account_limit,
        scope="account",
        methods=["POST"],
        key_func=key_func,
        deduct_when=deduct_when,
    )


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
# Only failures count: guessing from many addresses stops, and successful sign-ins use none
# of it. While an account is held, its owner is refused too (a guess must not get through
# because it is right); it is free again when the window has passed.
@password_guesses(account_key, failed)
def login():
    if current_staff() is not None and request.method == "GET":
        return redirect(url_for("console.dashboard"))
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        session = get_session()
        try:
            with derivation_place():
                signed = authenticate(
                    session,
                    form.username.data,
                    form.password.data,
                    form.code.data,
                    seal_params=seal_params(),
                )
        except DerivationsBusy:
            form.code.data = ""
            error, status = BUSY_MESSAGE, 503
        except LoginFailed:
            session.commit()
            form.code.data = ""  # never shown back: a code is typed fresh each time
            error = _("The username, password or code is not correct.")
        else:
            sign_in(signed.user, signed.identities)
            session.commit()
            return redirect(_safe_next(request.args.get("next")))
    if status == 200 and (error is not None or form.errors):
        status = 400
    return render_template("console/session/login.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    sign_out()
    return redirect(url_for("session.login"))
