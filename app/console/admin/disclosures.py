"""Console administration of disclosure categories and the periodic catalogue."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from app.console.admin.forms import CatalogueForm, CategoryForm
from app.console.admin.views import bp
from app.console.confirm import ITEM, confirm
from app.db import get_session
from app.form_choices import choice
from app.i18n import current_language, today
from app.models import CatalogueEntry, DisclosureCategory, Domain, Period, Role, Scope
from app.security.auth import current_staff, role_required
from app.services import audit, units
from app.services.disclosures import catalogue, categories, errors
from app.web.forms import ActionForm


def _audited(detail: str) -> None:
    """Every administrative change is an entry on the audit trail, in its transaction."""
    audit.record(
        get_session(), audit.AuditAction.admin_change, actor=current_staff(), detail=detail
    )


def _catalogue_form() -> CatalogueForm:
    session = get_session()
    lang = current_language()
    form = CatalogueForm(prefix="entry")
    form.category.choices = [
        choice(c.code, c.name(lang)) for c in categories.list_categories(session)
    ]
    form.unit.choices = [
        choice(u.code, f"{u.name(lang)} ({u.code})") for u in units.open_units(session)
    ]
    if form.starts_on.data is None and request.method == "GET":
        form.starts_on.data = today().replace(month=1, day=1)
    return form


def _page(category_form: CategoryForm, catalogue_form: CatalogueForm, error=None, status=200):
    session = get_session()
    entries = list(session.scalars(select(CatalogueEntry).order_by(CatalogueEntry.id)))
    return render_template(
        "console/admin/disclosures.html",
        categories=categories.list_categories(session, active_only=False),
        entries=entries,
        category_form=category_form,
        catalogue_form=catalogue_form,
        action_form=ActionForm(),
        error=error,
    ), status


@bp.get("/disclosures/")
@role_required(Role.admin)
def disclosures():
    return _page(CategoryForm(prefix="cat"), _catalogue_form())


@bp.post("/disclosures/categories")
@role_required(Role.admin)
def save_category():
    session = get_session()
    form = CategoryForm(prefix="cat")
    if not form.validate_on_submit():
        return _page(form, _catalogue_form(), status=400)
    category = categories.category_by_code(session, form.code.data)
    if category is None:
        category = DisclosureCategory(code=form.code.data, position=100)
        session.add(category)
    category.domain = Domain(form.domain.data)
    category.name_zh = form.name_zh.data
    category.name_en = form.name_en.data
    category.active = bool(form.active.data)
    _audited(f"disclosure category {category.code} saved")
    session.commit()
    confirm(
        _("The category %(item)s was saved.", item=ITEM),
        url_for(".disclosures", _anchor="h-categories"),
        category.name(current_language()),
    )
    return redirect(url_for(".disclosures"))


@bp.post("/disclosures/categories/seed")
@role_required(Role.admin)
def seed_categories():
    if not ActionForm().validate_on_submit():
        abort(400)
    session = get_session()
    categories.ensure_categories(session)
    _audited("standard disclosure categories put in place")
    session.commit()
    confirm(
        _("The standard categories of the disclosure rules are in place: see %(item)s.", item=ITEM),
        url_for(".disclosures", _anchor="h-categories"),
        _("the list of categories"),
    )
    return redirect(url_for(".disclosures"))


@bp.post("/disclosures/catalogue")
@role_required(Role.admin)
def add_entry():
    session = get_session()
    form = _catalogue_form()
    if not form.validate_on_submit():
        return _page(CategoryForm(prefix="cat"), form, status=400)
    category = categories.category_by_code(session, form.category.data)
    unit = units.by_code(session, form.unit.data)
    if category is None or unit is None:
        abort(400)
    try:
        catalogue.add_catalogue_entry(
            session,
            category,
            unit,
            Period(form.period.data),
            form.due_days.data,
            form.starts_on.data,
            Scope(form.scope.data),
        )
    except errors.DisclosureError as exc:
        session.rollback()
        return _page(CategoryForm(prefix="cat"), form, error=exc.message, status=400)
    _audited(f"catalogue item {category.code} of {unit.code} added")
    session.commit()
    confirm(
        _("The periodic item %(item)s was added to the catalogue.", item=ITEM),
        url_for(".disclosures", _anchor="h-catalogue"),
        _entry_label(category, unit),
    )
    return redirect(url_for(".disclosures"))


def _entry_label(category: DisclosureCategory, unit) -> str:
    lang = current_language()
    return f"{category.name(lang)} · {unit.name(lang)}"


@bp.post("/disclosures/catalogue/<int:entry_id>/toggle")
@role_required(Role.admin)
def toggle_entry(entry_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    session = get_session()
    entry = session.get(CatalogueEntry, entry_id)
    if entry is None:
        abort(404)
    entry.active = not entry.active
    _audited(f"catalogue item {entry.id} {'resumed' if entry.active else 'paused'}")
    session.commit()
    if entry.active:
        text = _("The periodic item %(item)s is due again.", item=ITEM)
    else:
        text = _("The periodic item %(item)s was paused: it is no longer due.", item=ITEM)
    label = _entry_label(entry.category, entry.unit)
    confirm(text, url_for(".disclosures", _anchor="h-catalogue"), label)
    return redirect(url_for(".disclosures"))
