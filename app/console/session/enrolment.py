"""First sign-in and sign-in after a reset: the enrolment code, then password and TOTP.

The code and username open the second page, which shows a new TOTP secret (QR code drawn on
the server, and as text). What ties the browser to that enrolment between the two pages is the
code's hash in Flask's session, checked again against the database: the password is never
kept between requests, so it is chosen on the page that also confirms the TOTP code, and the
key is sealed in that same request.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

import segno
from flask import redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from app.console.session.derivations import BUSY_MESSAGE, DerivationsBusy, derivation_place
from app.console.session.forms import EnrolmentCodeForm, EnrolmentForm
from app.console.session.views import account_key, account_limit, bp, failed, login_limit
from app.db import get_session, utcnow
from app.extensions import limiter
from app.resources import seal_params
from app.security.auth import sign_in
from app.services import audit, enrolment, keys
from app.services.staff import WeakPassword

_STATE = "enrolment"


def weak_password_message(error: WeakPassword) -> str:
    """The translated reason a new password was refused."""
    if error.reason == WeakPassword.has_username:
        return _("The password must not contain your username.")
    if error.reason == WeakPassword.too_simple:
        return _("The password repeats too few characters: use at least 6 different ones.")
    return _("The password must have at least 12 characters.")


def _pending() -> enrolment.StaffEnrolment | None:
    state = session.get(_STATE)
    if not isinstance(state, dict):
        return None
    try:
        return enrolment.pending(
            get_session(), int(state["staff_id"]), str(state["code"]), utcnow()
        )
    except (KeyError, TypeError, ValueError, enrolment.EnrolmentRefused):
        return None


def _qr_svg(username: str, secret: str) -> Markup:
    label = quote(f"SOE Portal:{username}")
    uri = f"otpauth://totp/{label}?" + urlencode(
        {"secret": secret, "issuer": "SOE Portal", "digits": 6, "period": 30}
    )
    svg = segno.make(uri, error="m").svg_inline(
        scale=4, border=2, title=_("QR code to add to your authenticator app")
    )
    return Markup(svg)  # noqa: S704 (segno's own SVG, from our own data)


@bp.route("/enrol", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"])
@limiter.limit(
    account_limit, methods=["POST"], key_func=account_key, deduct_when=failed, scope="account"
)
def enrol():
    form = EnrolmentCodeForm()
    error = None
    if form.validate_on_submit():
        db = get_session()
        try:
            pending = enrolment.start(db, form.username.data, form.code.data, utcnow())
        except enrolment.EnrolmentRefused:
            db.commit()
            form.code.data = ""
            error = _(
                "The username or enrolment code is not correct, or the code has expired. "
                "Ask your administrator for a new code if it does not work."
            )
        else:
            db.commit()
            session[_STATE] = {
                "staff_id": pending.staff_id,
                "code": enrolment.code_hash(form.code.data),
            }
            return redirect(url_for("session.enrol_finish"))
    status = 200 if error is None and not form.errors else 400
    return render_template("console/session/enrol.html", form=form, error=error), status


@bp.route("/enrol/finish", methods=["GET", "POST"])
def enrol_finish():
    pending = _pending()
    if pending is None:
        return redirect(url_for("session.enrol"))
    form = EnrolmentForm()
    error = None
    status = 400 if request.method == "POST" else 200
    if form.validate_on_submit():
        db = get_session()
        try:
            with derivation_place():
                done = enrolment.finish(
                    db, pending, form.password.data, form.code.data, seal_params=seal_params()
                )
        except DerivationsBusy:
            error, status = BUSY_MESSAGE, 503
        except WeakPassword as exc:
            db.rollback()
            form.password.errors = [weak_password_message(exc)]
        except enrolment.TotpNotConfirmed:
            db.rollback()
            form.code.errors = [
                _(
                    "That is not the code your authenticator app shows now. Check that you "
                    "added the code above, then type the newest 6 digits."
                )
            ]
        else:
            reads_reports = keys.needs_identity(done.user)
            detail = "after a reset" if done.reset else "first"
            audit.record(db, audit.AuditAction.enrolment, actor=done.user, detail=detail)
            audit.record(db, audit.AuditAction.sign_in, actor=done.user, detail="at enrolment")
            if done.identities:
                audit.record(db, audit.AuditAction.unseal, actor=done.user, detail="new key")
            sign_in(done.user, done.identities)
            db.commit()
            # Shown once, in this answer: nothing keeps the codes (console pages are no-store).
            return render_template(
                "console/session/recovery_codes.html",
                codes=done.recovery_codes,
                reset=done.reset,
                reads_reports=reads_reports,
            )
        form.code.data = ""
    pending = _pending() or pending
    user = pending.staff
    secret = pending.pending_totp_secret or ""
    return render_template(
        "console/session/enrol_finish.html",
        form=form,
        error=error,
        user=user,
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        qr=_qr_svg(user.username, secret),
        reset=pending.reset,
        reads_reports=keys.needs_identity(user),
    ), status
