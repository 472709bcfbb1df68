"""A staff member's own account: their password, and their open console sessions."""

from __future__ import annotations

from flask import Response, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.console.digest import reason_text, state_text
from app.console.session.derivations import BUSY_MESSAGE, DerivationsBusy, derivation_place
from app.console.session.enrolment import weak_password_message
from app.console.session.forms import EmailForm, EndSessionForm, PasswordChangeForm
from app.console.session.views import bp, keyed_account, password_guesses
from app.db import get_session, utcnow
from app.resources import seal_params
from app.security.auth import current_session_id_hash, current_staff, login_required
from app.services import audit, digest, sessions
from app.services.staff import (
    CurrentPasswordWrong,
    InvalidEmail,
    WeakPassword,
    change_password,
    set_email,
)


def own_account_key() -> str:
    """The signed-in account, counted with the sign-ins to it."""
    user = current_staff()
    return keyed_account(user.username if user is not None else "")


def wrong_current_password(_response: Response) -> bool:
    return bool(g.get("wrong_current_password"))


@bp.route("/account/password", methods=["GET", "POST"])
# Whoever finds a session left open (an unattended PC) may guess its password here, so wrong
# current passwords count in the account's limit of failed sign-ins, and one held there is
# held here too. A weak new password after the right current one is no guess.
@password_guesses(own_account_key, wrong_current_password)
@login_required
def password():
    form = PasswordChangeForm()
    error = None
    status = 400 if request.method == "POST" else 200
    if form.validate_on_submit():
        db = get_session()
        user = current_staff()
        try:
            with derivation_place():
                change_password(
                    db, user, form.current.data, form.password.data, seal_params=seal_params()
                )
        except DerivationsBusy:
            error, status = BUSY_MESSAGE, 503
        except CurrentPasswordWrong:
            db.rollback()
            g.wrong_current_password = True
            audit.record(
                db, audit.AuditAction.password_change, actor=user, detail="wrong current password"
            )
            db.commit()
            form.current.errors = [_("That is not your current password.")]
        except WeakPassword as exc:
            db.rollback()
            form.password.errors = [weak_password_message(exc)]
        else:
            ended = sessions.end_all(db, user, keep=current_session_id_hash())
            audit.record(db, audit.AuditAction.password_change, actor=user)
            if ended:
                detail = f"{ended} ended by the password change"
                audit.record(db, audit.AuditAction.session_end, actor=user, detail=detail)
            db.commit()
            return redirect(url_for("session.account_sessions", done="password"))
    return render_template("console/session/password.html", form=form, error=error), status


def _confirmation(done: str | None) -> str | None:
    """What the last action on these pages did, said once on the page it leads to."""
    return {
        "password": _("Your password is changed, and your other sessions were ended."),
        "ended": _("The session was ended: whoever used it is signed out."),
        "gone": _("That session had ended already."),
        "others": _("Every other session was ended."),
        "this": _("To end this session, use \u201cSign out\u201d."),
        "email": _("Your e-mail address is saved."),
        "email_removed": _("Your e-mail address is removed: your digest stays in the console."),
    }.get(done or "")


@bp.get("/account/sessions")
@login_required
def account_sessions():
    rows = sessions.open_sessions(get_session(), current_staff(), utcnow())
    return render_template(
        "console/session/sessions.html",
        rows=rows,
        this_one=current_session_id_hash(),
        end_form=EndSessionForm(),
        confirmation=_confirmation(request.args.get("done")),
    )


@bp.post("/account/sessions/end")
@login_required
def end_session():
    form = EndSessionForm()
    this_one = current_session_id_hash()
    if not form.validate_on_submit():
        return redirect(url_for("session.account_sessions", done="gone"))
    if form.session_id.data == this_one:
        return redirect(url_for("session.account_sessions", done="this"))
    db = get_session()
    ended = sessions.end(db, form.session_id.data, user=current_staff())
    if ended:
        audit.record(
            db, audit.AuditAction.session_end, actor=current_staff(), detail="ended by its owner"
        )
    db.commit()
    return redirect(url_for("session.account_sessions", done="ended" if ended else "gone"))


@bp.post("/account/sessions/end-others")
@login_required
def end_other_sessions():
    form = EndSessionForm()
    form.session_id.data = current_session_id_hash()
    if not form.validate_on_submit():
        return redirect(url_for("session.account_sessions"))
    db = get_session()
    ended = sessions.end_all(db, current_staff(), keep=current_session_id_hash())
    if ended:
        detail = f"{ended} ended by their owner"
        audit.record(db, audit.AuditAction.session_end, actor=current_staff(), detail=detail)
    db.commit()
    return redirect(url_for("session.account_sessions", done="others"))


@bp.route("/account/email", methods=["GET", "POST"])
@login_required
def email():
    """Where the staff member's daily digest goes (none: the console only)."""
    user = current_staff()
    form = EmailForm()
    status = 200
    if request.method == "GET":
        form.email.data = user.email or ""
    elif form.validate_on_submit():
        db = get_session()
        try:
            changed = set_email(db, user, form.email.data)
        except InvalidEmail:
            db.rollback()
            form.email.errors = [
                _("Enter an e-mail address such as name@example.com, or leave it empty.")
            ]
            status = 400
        else:
            if changed:
                detail = "e-mail address set" if user.email else "e-mail address removed"
                audit.record(db, audit.AuditAction.email_change, actor=user, detail=detail)
            db.commit()
            done = "email" if user.email else "email_removed"
            return redirect(url_for("session.digests", done=done))
    else:
        status = 400
    return render_template("console/session/email.html", form=form), status


@bp.get("/account/digests")
@login_required
def digests():
    """The staff member's own daily digests, as the outbox keeps them."""
    user = current_staff()
    messages = digest.outbox(get_session(), staff=user, limit=30)
    return render_template(
        "console/session/digests.html",
        messages=messages,
        receives=user.has_role(*digest.RECIPIENT_ROLES) and user.office_id is not None,
        state_text=state_text,
        reason_text=reason_text,
        confirmation=_confirmation(request.args.get("done")),
    )
