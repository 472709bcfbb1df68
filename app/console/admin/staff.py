"""Console administration of staff accounts: add, roles and office, e-mail, disable and
enable, reset (a new enrolment code), end every session.

The checks are those of ``portal user ...``: both call ``app.services.staff`` and
``app.services.enrolment``. An enrolment code is shown once, in the answer to the POST that
made it (never in a flashed message, which the session cookie would carry).
"""

from __future__ import annotations

from flask import abort, current_app, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.console.admin.forms import EmailForm, RolesForm, StaffForm
from app.console.admin.views import audited, bp
from app.console.confirm import ITEM, confirm
from app.db import get_session, utcnow
from app.form_choices import choice
from app.i18n import current_language, enterprise_zone
from app.models import DisciplineOffice, Role, StaffUser
from app.security.auth import current_staff, role_required
from app.services import enrolment, keys, units
from app.services import staff as staff_service
from app.web.forms import ActionForm

NONE = ""  # the value of "none" in the lists of units and offices

STAFF_ERRORS = {
    staff_service.StaffError.username: (
        "username",
        _l("A username starts with a letter and has 2 to 64 of a-z, 0-9, '.', '_', '-'."),
    ),
    staff_service.StaffError.taken: ("username", _l("This username is taken: choose another.")),
    staff_service.StaffError.bad_name: (
        "display_name",
        _l("Enter a name of at most 200 characters, or leave it empty to use the username."),
    ),
    staff_service.StaffError.unknown_role: ("roles", _l("Choose roles from the list.")),
    staff_service.StaffError.no_role: ("roles", _l("Choose at least one role.")),
    staff_service.StaffError.needs_office: (
        "office",
        _l("An inspector or office head belongs to a discipline office: choose one."),
    ),
    staff_service.StaffError.no_unit: ("unit", _l("Choose a unit from the list.")),
    staff_service.StaffError.unit_closed: (
        "unit",
        _l("This unit is closed: it takes no new staff. Choose an open unit."),
    ),
    staff_service.StaffError.no_office: ("office", _l("Choose a discipline office from the list.")),
    staff_service.StaffError.office_closed: (
        "office",
        _l("The unit of this office is closed: choose another office."),
    ),
    staff_service.StaffError.last_admin: (
        "roles",
        _l(
            "No other active administrator who has enrolled would be left: give another "
            "account the administrator role first."
        ),
    ),
}


def _show_error(form, exc: staff_service.StaffError) -> None:
    name, message = STAFF_ERRORS.get(exc.reason, ("", _l("The change was refused.")))
    field = getattr(form, name, None) or next(f for f in form if f.type != "CSRFTokenField")
    field.errors = [*field.errors, message]


def _offices() -> list[DisciplineOffice]:
    return [unit.office for unit in units.open_units(get_session()) if unit.office is not None]


def _office_choices() -> list:
    lang = current_language()
    return [choice(NONE, _("— none —"))] + [
        choice(o.unit.code, f"{o.name(lang)} ({o.unit.code})") for o in _offices()
    ]


def _staff_form() -> StaffForm:
    form = StaffForm(prefix="user")
    lang = current_language()
    form.unit.choices = [choice(NONE, _("— none —"))] + [
        choice(u.code, f"{u.name(lang)} ({u.code})") for u in units.open_units(get_session())
    ]
    form.office.choices = _office_choices()
    form.roles.choices = [choice(role.value) for role in Role]
    return form


def _user_or_404(user_id: int) -> StaffUser:
    user = get_session().get(StaffUser, user_id) if 0 < user_id < 2**63 else None
    if user is None:
        abort(404)
    return user


def _issued_page(issued: enrolment.IssuedCode, user: StaffUser, sealed: int = 0):
    """The enrolment code, once: this answer only, and no cache may keep it."""
    local = issued.expires_at.astimezone(enterprise_zone(current_app.config))
    response = make_response(
        render_template(
            "console/admin/staff_code.html",
            issued=issued,
            user=user,
            sealed=sealed,
            expires=f"{local:%Y-%m-%d %H:%M %Z}",
            reads_reports=keys.needs_identity(user),
            key_removed=issued.key_change is keys.KeyChange.removed,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _issue(user: StaffUser) -> enrolment.IssuedCode:
    hours = current_app.config["ENROLMENT_HOURS"]
    return enrolment.issue_code(get_session(), user, utcnow(), hours=hours)


def _new_page(form: StaffForm, status: int = 200):
    return render_template("console/admin/staff_new.html", form=form, roles=list(Role)), status


@bp.get("/staff/new")
@role_required(Role.admin)
def new_staff():
    return _new_page(_staff_form())


@bp.post("/staff/")
@role_required(Role.admin)
def add_staff():
    session = get_session()
    form = _staff_form()
    if not form.validate_on_submit():
        return _new_page(form, 400)
    try:
        unit = staff_service.unit_for_staff(session, form.unit.data)
        office = staff_service.office_for_staff(session, form.office.data)
        user = staff_service.create_user(
            session,
            form.username.data or "",
            form.display_name.data or "",
            None,
            form.roles.data or [],
            unit=unit,
            office=office,
        )
    except staff_service.StaffError as exc:
        session.rollback()
        _show_error(form, exc)
        return _new_page(form, 400)
    audited("added; enrolment code issued", subject=user)
    issued = _issue(user)
    session.commit()
    return _issued_page(issued, user)


def _user_page(
    user: StaffUser,
    roles_form: RolesForm | None = None,
    email_form: EmailForm | None = None,
    error: str | None = None,
    status: int = 200,
):
    if roles_form is None:
        roles_form = RolesForm(prefix="roles")
        roles_form.roles.data = sorted(r.value for r in user.roles)
        roles_form.office.data = user.office.unit.code if user.office else NONE
    roles_form.office.choices = _office_choices()
    if email_form is None:
        email_form = EmailForm(prefix="email", data={"email": user.email or ""})
    return render_template(
        "console/admin/staff_user.html",
        user=user,
        roles=list(Role),
        roles_form=roles_form,
        email_form=email_form,
        action_form=ActionForm(),
        has_password=staff_service.has_password(user),
        is_me=user.id == current_staff().id,
        error=error,
    ), status


@bp.get("/staff/<int:user_id>")
@role_required(Role.admin)
def staff_user(user_id: int):
    return _user_page(_user_or_404(user_id))


@bp.post("/staff/<int:user_id>/roles")
@role_required(Role.admin)
def staff_roles(user_id: int):
    session = get_session()
    user = _user_or_404(user_id)
    form = RolesForm(prefix="roles")
    form.office.choices = _office_choices()
    if not form.validate_on_submit():
        return _user_page(user, roles_form=form, status=400)
    if user.id == current_staff().id and Role.admin.value not in (form.roles.data or []):
        form.roles.errors = [_("You cannot take the administrator role from yourself.")]
        return _user_page(user, roles_form=form, status=400)
    try:
        office = staff_service.office_for_staff(session, form.office.data)
        change = staff_service.set_roles(session, user, form.roles.data or [], office=office)
    except staff_service.StaffError as exc:
        session.rollback()
        _show_error(form, exc)
        return _user_page(_user_or_404(user_id), roles_form=form, status=400)
    audited("roles: " + ",".join(sorted(r.value for r in user.roles)), subject=user)
    session.commit()
    text = _("The roles of %(item)s are saved; their console sessions ended.", item=ITEM)
    if change is keys.KeyChange.missing:
        text += " " + _(
            "They read reports and have no key yet: it is made at their next sign-in, and until "
            "then no report is encrypted to them."
        )
    confirm(text, url_for(".staff_user", user_id=user.id), user.display_name)
    return redirect(url_for(".staff_user", user_id=user.id))


@bp.post("/staff/<int:user_id>/email")
@role_required(Role.admin)
def staff_email(user_id: int):
    session = get_session()
    user = _user_or_404(user_id)
    form = EmailForm(prefix="email")
    if not form.validate_on_submit():
        return _user_page(user, email_form=form, status=400)
    try:
        changed = staff_service.set_email(session, user, form.email.data)
    except staff_service.InvalidEmail:
        session.rollback()
        form.email.errors = [_("Enter an e-mail address such as name@example.cn, or nothing.")]
        return _user_page(_user_or_404(user_id), email_form=form, status=400)
    if changed:
        audited("e-mail address set" if user.email else "e-mail address removed", subject=user)
    session.commit()
    confirm(
        _("The digest address of %(item)s is saved.", item=ITEM),
        url_for(".staff_user", user_id=user.id),
        user.display_name,
    )
    return redirect(url_for(".staff_user", user_id=user.id))


def _posted_action(user_id: int) -> StaffUser:
    if not ActionForm().validate_on_submit():
        abort(400)
    return _user_or_404(user_id)


@bp.post("/staff/<int:user_id>/disable")
@role_required(Role.admin)
def disable_staff(user_id: int):
    return _set_active(user_id, False)


@bp.post("/staff/<int:user_id>/enable")
@role_required(Role.admin)
def enable_staff(user_id: int):
    return _set_active(user_id, True)


def _set_active(user_id: int, active: bool):
    session = get_session()
    user = _posted_action(user_id)
    if user.id == current_staff().id and not active:
        message = _("You cannot disable your own account: ask another administrator.")
        return _user_page(user, error=message, status=400)
    try:
        staff_service.set_active(session, user.username, active)
    except staff_service.StaffError as exc:
        session.rollback()
        message = str(STAFF_ERRORS[exc.reason][1])
        return _user_page(_user_or_404(user_id), error=message, status=400)
    audited("enabled" if active else "disabled", subject=user)
    session.commit()
    if active:
        text = _("The account %(item)s is enabled again.", item=ITEM)
    else:
        text = _("The account %(item)s is disabled; its console sessions ended.", item=ITEM)
    confirm(text, url_for(".staff_user", user_id=user.id), user.display_name)
    return redirect(url_for(".staff_user", user_id=user.id))


@bp.post("/staff/<int:user_id>/signout")
@role_required(Role.admin)
def signout_staff(user_id: int):
    session = get_session()
    user = _posted_action(user_id)
    ended = staff_service.end_all_sessions(session, user)
    audited("signed out of every session", subject=user)
    session.commit()
    confirm(
        _("%(count)s console sessions of %(item)s were ended.", count=ended, item=ITEM),
        url_for(".staff_user", user_id=user.id),
        user.display_name,
    )
    if user.id == current_staff().id:
        return redirect(url_for("session.login"))
    return redirect(url_for(".staff_user", user_id=user.id))


@bp.get("/staff/<int:user_id>/reset")
@role_required(Role.admin)
def confirm_reset(user_id: int):
    """What a reset does, said before it is done: for a reader of reports, how many reports
    only a colleague's grant or the recovery key will open for them again."""
    user = _user_or_404(user_id)
    return render_template(
        "console/admin/staff_reset.html",
        user=user,
        action_form=ActionForm(),
        sealed=keys.reports_sealed_to(get_session(), user),
        has_key=keys.has_identity(user),
    )


@bp.post("/staff/<int:user_id>/reset")
@role_required(Role.admin)
def reset_staff(user_id: int):
    session = get_session()
    user = _posted_action(user_id)
    sealed = keys.reports_sealed_to(session, user)
    issued = _issue(user)
    audited("reset; enrolment code issued", subject=user)
    session.commit()
    return _issued_page(issued, user, sealed)
