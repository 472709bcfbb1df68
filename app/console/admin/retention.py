"""Console administration of retention: each report category's period, in whole years after
a case's conclusion, and how many concluded cases the purge will take within a year."""

from __future__ import annotations

from flask import current_app, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField

from app.console.admin.views import bp
from app.console.confirm import ITEM, confirm
from app.db import get_session
from app.i18n import today
from app.models import Role
from app.security.auth import current_staff, role_required
from app.services import audit
from app.services.reports import retention
from app.web.forms import Sent
from app.web.reports import category_names

PERIOD_ERRORS = {
    "years_missing": _l("Enter a number of years, or leave it empty for the default."),
    "years_not_whole": _l("Enter the period as a whole number of years, such as 5."),
    "years_out_of_range": _l(
        "A retention period is from %(low)s to %(high)s years.",
        low=retention.MIN_YEARS,
        high=retention.MAX_YEARS,
    ),
}
FIELD_MAX = 40  # characters of what is typed that the page shows back


def _field_name(code: str) -> str:
    return f"years_{code}"


def _retention_form() -> FlaskForm:
    """A form with one field per category: its own period, or empty for the default."""

    class RetentionForm(FlaskForm):
        pass

    for code in retention.category_codes(get_session()):
        field = StringField(category_names().get(code, code), validators=[Sent()])
        setattr(RetentionForm, _field_name(code), field)
    return RetentionForm(prefix="retention")


def _page(form: FlaskForm, status: int = 200):
    session = get_session()
    default_years = current_app.config["RETENTION_YEARS"]
    rows = []
    shown = retention.periods(session, default_years)
    counts = retention.due_counts(session, today(), default_years)
    for code in retention.category_codes(get_session()):
        rows.append(
            {
                "code": code,
                "name": category_names().get(code, code),
                "field": form[_field_name(code)],
                "years": shown[code],
                "due": counts[code],
            }
        )
    return render_template(
        "console/admin/retention.html", form=form, rows=rows, default_years=default_years
    ), status


@bp.get("/retention")
@role_required(Role.admin)
def retention_page():
    form = _retention_form()
    own = retention.own_periods(get_session())
    for code in retention.category_codes(get_session()):
        if code in own:
            form[_field_name(code)].data = str(own[code])
    return _page(form)


@bp.post("/retention")
@role_required(Role.admin)
def save_retention():
    session = get_session()
    form = _retention_form()
    if not form.validate_on_submit():
        return _page(form, status=400)
    wanted: dict[str, int | None] = {}
    for code in retention.category_codes(get_session()):
        field = form[_field_name(code)]
        typed = (field.data or "").strip()
        if len(typed) > FIELD_MAX:
            field.data = typed[:FIELD_MAX]
        if not typed:
            wanted[code] = None
            continue
        try:
            wanted[code] = retention.parse_years(typed)
        except retention.RetentionError as exc:
            field.errors = [PERIOD_ERRORS[exc.message_key]]
    if any(form[_field_name(code)].errors for code in retention.category_codes(get_session())):
        return _page(form, status=400)
    changed = []
    for code, years in wanted.items():
        if retention.set_period(session, code, years):
            said = "the default" if years is None else f"{years} years"
            changed.append(code)
            audit.record(
                session,
                audit.AuditAction.admin_change,
                actor=current_staff(),
                detail=f"retention of report category {code}: {said}",
            )
    session.commit()
    if changed:
        confirm(
            _("The retention period of %(item)s was saved.", item=ITEM),
            url_for(".retention_page"),
            "、".join(str(category_names().get(code, code)) for code in changed),
        )
    return redirect(url_for(".retention_page"), 303)
