"""Console administration of the categories of anonymous reports (``/admin/report-categories``).

Categories are added, renamed in both languages, ordered, retired and offered again; never
deleted, never recoded: a report keeps its category's code for good.
"""

from __future__ import annotations

from flask import abort, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.console.admin.disclosures import _audited
from app.console.admin.forms import ReportCategoryForm, ReportCategoryNamesForm
from app.console.admin.views import bp
from app.console.confirm import ITEM, confirm
from app.db import get_session
from app.i18n import current_language
from app.models import ReportCategoryEntry, Role
from app.models.audit import DETAIL_MAX
from app.models.reports import CATEGORY_CODE_LENGTH
from app.security.auth import role_required
from app.services.reports import categories
from app.web.forms import ActionForm

REFUSALS = {
    "bad_code": _l("Use %(least)s to %(most)s lower-case letters, digits, _ or -."),
    "duplicate": _l("A category with this code exists already: choose another code."),
    "bad_name": _l("Enter both names, each on one line and at most 200 characters."),
    "last_offered": _l(
        "This is the only category the report form offers: offer another one before you retire it."
    ),
}


def audited(detail: str) -> None:
    """``_audited``, with a detail cut to what an audit entry holds (names are long)."""
    _audited(detail if len(detail) <= DETAIL_MAX else detail[: DETAIL_MAX - 1] + "…")


def _refusal(reason: str) -> str:
    return str(REFUSALS.get(reason, REFUSALS["bad_name"])) % {
        "least": 2,
        "most": CATEGORY_CODE_LENGTH,
    }


def _page(form: ReportCategoryForm, status: int = 200, error: str | None = None):
    return render_template(
        "console/admin/report_categories.html",
        categories=categories.list_categories(get_session()),
        form=form,
        action_form=ActionForm(),
        error=error,
    ), status


def _category(code: str) -> ReportCategoryEntry:
    try:
        return categories.category_by_code(get_session(), code)
    except categories.CategoryError:
        abort(404)


def _listed(category: ReportCategoryEntry) -> tuple[str, str]:
    """Where a confirmation links to, and the category's name in the page's language."""
    return (
        url_for(".report_categories", _anchor=f"category-{category.code}"),
        category.name(current_language()),
    )


@bp.get("/report-categories")
@role_required(Role.admin)
def report_categories():
    return _page(ReportCategoryForm(prefix="new"))


@bp.post("/report-categories")
@role_required(Role.admin)
def add_report_category():
    session = get_session()
    form = ReportCategoryForm(prefix="new")
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        category = categories.add_category(
            session, form.code.data, form.name_zh.data, form.name_en.data
        )
    except categories.CategoryError as exc:
        session.rollback()
        field = form.code if exc.reason in ("bad_code", "duplicate") else form.name_zh
        field.errors = [*field.errors, _refusal(exc.reason)]
        return _page(form, status=400)
    audited(f"report category {category.code} added")
    session.commit()
    confirm(
        _("The report category %(item)s was added: the report form offers it now.", item=ITEM),
        *_listed(category),
    )
    return redirect(url_for(".report_categories"))


def _rename_page(category: ReportCategoryEntry, form: ReportCategoryNamesForm, status=200):
    return render_template(
        "console/admin/report_category.html", category=category, form=form
    ), status


@bp.get("/report-categories/<code>")
@role_required(Role.admin)
def report_category(code: str):
    category = _category(code)
    form = ReportCategoryNamesForm(prefix="names", obj=category)
    return _rename_page(category, form)


@bp.post("/report-categories/<code>")
@role_required(Role.admin)
def rename_report_category(code: str):
    session = get_session()
    category = _category(code)
    form = ReportCategoryNamesForm(prefix="names")
    if not form.validate_on_submit():
        return _rename_page(category, form, status=400)
    before = f"{category.name_zh} / {category.name_en}"
    try:
        categories.rename(session, category.code, form.name_zh.data, form.name_en.data)
    except categories.CategoryError as exc:
        session.rollback()
        form.name_zh.errors = [*form.name_zh.errors, _refusal(exc.reason)]
        return _rename_page(_category(code), form, status=400)
    audited(
        f"report category {category.code} renamed from {before} "
        f"to {category.name_zh} / {category.name_en}"
    )
    session.commit()
    confirm(_("The report category was renamed %(item)s.", item=ITEM), *_listed(category))
    return redirect(url_for(".report_categories"))


def _action(code: str) -> ReportCategoryEntry:
    if not ActionForm().validate_on_submit():
        abort(400)
    return _category(code)


@bp.post("/report-categories/<code>/up")
@role_required(Role.admin)
def move_report_category_up(code: str):
    return _move(code, -1)


@bp.post("/report-categories/<code>/down")
@role_required(Role.admin)
def move_report_category_down(code: str):
    return _move(code, 1)


def _move(code: str, step: int):
    session = get_session()
    category = categories.move(session, _action(code).code, step)
    audited(f"report category {category.code} moved {'up' if step < 0 else 'down'}")
    session.commit()
    confirm(_("The report category %(item)s was moved.", item=ITEM), *_listed(category))
    return redirect(url_for(".report_categories"))


@bp.post("/report-categories/<code>/retire")
@role_required(Role.admin)
def retire_report_category(code: str):
    return _set_active(code, False)


@bp.post("/report-categories/<code>/reinstate")
@role_required(Role.admin)
def reinstate_report_category(code: str):
    return _set_active(code, True)


def _set_active(code: str, active: bool):
    session = get_session()
    try:
        category = categories.set_active(session, _action(code).code, active)
    except categories.CategoryError as exc:
        session.rollback()
        form = ReportCategoryForm(prefix="new", formdata=None)
        return _page(form, status=400, error=_refusal(exc.reason))
    audited(f"report category {category.code} {'reinstated' if active else 'retired'}")
    session.commit()
    if active:
        text = _("The report category %(item)s is offered on the report form again.", item=ITEM)
    else:
        text = _(
            "The report category %(item)s was retired: the report form no longer offers it; "
            "reports filed under it keep it.",
            item=ITEM,
        )
    confirm(text, *_listed(category))
    return redirect(url_for(".report_categories"))
