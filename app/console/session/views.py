from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

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


def account_key() -> str:
    """The account a sign-in is for, keyed like addresses: storage holds no user names."""
    username = (request.form.get("username") or "").strip().lower()[:64]
    return keyed_hash(current_app.config["SECRET_KEY"].encode(), "account:" + username)


def failed(response: Response) -> bool:
    return response.status_code != 302


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
# Only failures count: guessing from many addresses stops, and successful sign-ins use none
# of it. While an account is held, its owner is refused too (a guess must not get through
# because it is right); it is free again when the window has passed.
@limiter.limit(
    account_limit, methods=["POST"], key_func=account_key, deduct_when=failed, scope="account"
)
def login():
    if current_staff() is not None and request.method == "GET":
        return redirect(url_for("console.dashboard"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        session = get_session()
        try:
            signed = authenticate(
                session,
                form.username.data,
                form.password.data,
                form.code.data,
                seal_params=seal_params(),
            )
        except LoginFailed:
            session.commit()
            form.code.data = ""  # never shown back: a code is typed fresh each time
            error = _("The username, password or code is not correct.")
        else:
            sign_in(signed.user, signed.identities)
            session.commit()
            return redirect(_safe_next(request.args.get("next")))
    status = 200 if error is None and not form.errors else 400
    return render_template("console/session/login.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    sign_out()
    return redirect(url_for("session.login"))
