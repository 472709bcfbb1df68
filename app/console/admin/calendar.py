"""Console administration of the working-day calendar (``/admin/calendar``): a year's public
holidays and make-up workdays, kept in the database (app/services/cases/work_days.py)."""

from __future__ import annotations

from datetime import date

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.console.admin.forms import CalendarYearForm
from app.console.admin.report_categories import audited
from app.console.admin.views import bp
from app.console.confirm import ITEM, confirm
from app.db import get_session
from app.i18n import today
from app.models import Role
from app.security.auth import role_required
from app.services.cases import work_days
from app.services.cases.calendar import package_days, package_knows


def _refusal(exc: work_days.CalendarError) -> str:
    if exc.reason == "bad_date":
        return _(
            "%(value)s is not a date: write dates as YYYY-MM-DD, e.g. 2027-10-01.", value=exc.value
        )
    if exc.reason == "outside_year":
        return _("%(value)s is not in the year chosen.", value=exc.value)
    if exc.reason == "both":
        return _("%(value)s cannot be both a holiday and a make-up workday.", value=exc.value)
    if exc.reason == "conflict":
        return _("This year was saved by someone else at the same moment: look at it again.")
    if exc.reason == "too_many":
        return _("A year has no more than 366 days.")
    return _(
        "Enter a year from %(first)s to %(last)s.",
        first=work_days.FIRST_YEAR,
        last=work_days.LAST_YEAR,
    )


def _years() -> list[dict]:
    """Every year some source gives, newest first, with where its days come from."""
    stored = {found.year: found for found in work_days.stored_years(get_session())}
    configured = current_app.extensions["portal.deadline_rules"].calendar.overrides
    shown = []
    for year in sorted(set(stored) | set(configured), reverse=True):
        found = stored.get(year)
        days = found or configured[year]
        shown.append(
            {
                "year": year,
                "source": "database" if found else "config",
                "holidays": sorted(days.holidays),
                "workdays": sorted(days.workdays),
                "config_too": found is not None and year in configured,
                "package": package_knows(year),
            }
        )
    return shown


def _page(form: CalendarYearForm, status: int = 200, chosen: int | None = None, from_package=False):
    this_year = today().year
    return render_template(
        "console/admin/calendar.html",
        form=form,
        years=_years(),
        chosen=chosen,
        from_package=from_package,
        package_knows=package_knows,
        package_years=[y for y in range(this_year - 1, this_year + 3) if package_knows(y)],
        this_year=this_year,
        first_year=work_days.FIRST_YEAR,
        last_year=work_days.LAST_YEAR,
    ), status


def _lines(days) -> str:
    return "\n".join(day.isoformat() for day in sorted(days))


@bp.get("/calendar")
@role_required(Role.admin)
def calendar():
    form = CalendarYearForm(prefix="cal")
    try:
        year = work_days.parse_year(request.args.get("year", str(today().year)))
    except work_days.CalendarError:
        year = today().year
    form.year.data = str(year)
    stored = {found.year: found for found in work_days.stored_years(get_session())}
    configured = current_app.extensions["portal.deadline_rules"].calendar.overrides
    days = stored.get(year) or configured.get(year)
    from_package = days is None and package_knows(year)
    if from_package:  # the package's days, to start from when the year must change
        days = package_days(year)
    if days is not None:
        form.holidays.data = _lines(days.holidays)
        form.workdays.data = _lines(days.workdays)
    return _page(form, chosen=year, from_package=from_package)


@bp.post("/calendar")
@role_required(Role.admin)
def save_calendar():
    session = get_session()
    form = CalendarYearForm(prefix="cal")
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        year = work_days.parse_year(form.year.data)
    except work_days.CalendarError as exc:
        form.year.errors = [*form.year.errors, _refusal(exc)]
        return _page(form, status=400)
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()
    refused = False
    for field in (form.holidays, form.workdays):
        try:
            parsed = work_days.parse_days(year, field.data)
        except work_days.CalendarError as exc:
            field.errors = [*field.errors, _refusal(exc)]
            refused = True
            continue
        if field is form.holidays:
            holidays = parsed
        else:
            workdays = parsed
    if refused:
        return _page(form, status=400, chosen=year)
    try:
        kept = work_days.save_year(session, year, holidays, workdays)
    except work_days.CalendarError as exc:
        session.rollback()
        form.workdays.errors = [*form.workdays.errors, _refusal(exc)]
        return _page(form, status=400, chosen=year)
    if kept:
        detail = (
            f"working-day calendar {year} set: {len(holidays)} holidays "
            f"({', '.join(d.isoformat() for d in sorted(holidays))}), {len(workdays)} workdays "
            f"({', '.join(d.isoformat() for d in sorted(workdays))})"
        )
        text = _(
            "The days of %(item)s are saved: deadlines computed from now on count them.", item=ITEM
        )
    else:
        detail = f"working-day calendar {year} removed from the database"
        text = _(
            "%(item)s has no days in the database any more: it comes from config.toml or the "
            "chinese-calendar package again.",
            item=ITEM,
        )
    audited(detail)
    session.commit()
    confirm(text, url_for(".calendar", year=year), str(year))
    return redirect(url_for(".calendar", year=year))
