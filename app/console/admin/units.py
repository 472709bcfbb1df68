"""Console administration of the organisation: units and their discipline offices.

Every change goes through ``app.services.units`` (the checks live there) and is an entry on the
audit trail. A refused change shows the form again with what was typed and why (400).
"""

from __future__ import annotations

from flask import abort, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.console.admin.forms import MoveUnitForm, OfficeForm, RenameUnitForm, UnitForm
from app.console.admin.views import audited, bp
from app.console.confirm import ITEM, confirm
from app.db import get_session
from app.form_choices import choice, labels
from app.i18n import current_language, today
from app.models import Role, Unit, UnitKind
from app.security.auth import role_required
from app.services import units
from app.web.forms import ActionForm, parse_id

KIND_NAMES = {
    UnitKind.enterprise: _l("enterprise"),
    UnitKind.subsidiary: _l("subsidiary"),
    UnitKind.department: _l("department"),
    UnitKind.workshop: _l("workshop"),
}
DONE_WORDS = {"close": "closed", "reopen": "reopened", "remove": "removed"}
TOP = ""  # the value of "at the top of the tree" in the lists of units


def unit_label(unit: Unit) -> str:
    return f"{unit.name(current_language())} ({unit.code})"


def _parent_choices(exclude: Unit | None = None) -> list:
    """Open units to put a unit under (not ``exclude`` nor what is below it: the service
    refuses those too, for a request that names one anyway)."""
    session = get_session()
    below = set(units.subtree_ids(session, exclude)) if exclude is not None else set()
    found = [choice(TOP, _("— at the top of the tree —"))]
    found += [
        choice(str(u.id), unit_label(u)) for u in units.open_units(session) if u.id not in below
    ]
    return found


def _unit_form() -> UnitForm:
    form = UnitForm(prefix="unit")
    form.kind.choices = [choice(kind.value, name) for kind, name in KIND_NAMES.items()]
    form.parent.choices = _parent_choices()
    return form


class ChosenUnitMissing(Exception):
    """The unit named by a form is not one of the list (crafted, or removed meanwhile)."""


def _chosen_parent(value: str | None) -> Unit | None:
    """The unit a form's "under" list names; None for the top; ChosenUnitMissing for a value
    that names no unit (an id past 2**63 included)."""
    if not value:
        return None
    unit_id = parse_id(value)
    unit = get_session().get(Unit, unit_id) if unit_id is not None else None
    if unit is None:
        raise ChosenUnitMissing
    return unit


def _chosen_or_none(value: str | None) -> Unit | None:
    try:
        return _chosen_parent(value)
    except ChosenUnitMissing:
        return None


def _unit_or_404(unit_id: int) -> Unit:
    unit = get_session().get(Unit, unit_id) if 0 < unit_id < 2**63 else None
    if unit is None:
        abort(404)
    return unit


def _tree_page(form: UnitForm, status: int = 200):
    session = get_session()
    return render_template(
        "console/admin/units.html",
        roots=units.roots(session),
        form=form,
        kind_names=KIND_NAMES,
    ), status


@bp.get("/units/")
@role_required(Role.admin)
def units_page():
    return _tree_page(_unit_form())


@bp.post("/units/")
@role_required(Role.admin)
def add_unit():
    session = get_session()
    form = _unit_form()
    if not form.validate_on_submit():
        return _tree_page(form, 400)
    try:
        parent = _chosen_parent(form.parent.data)
        unit = units.add_unit(
            session, form.code.data, form.name_zh.data, form.name_en.data, form.kind.data, parent
        )
    except ChosenUnitMissing:
        form.parent.errors.append(_("Choose a unit from the list."))
        return _tree_page(form, 400)
    except units.UnitError as exc:
        session.rollback()
        _field_error(form, exc)
        return _tree_page(form, 400)
    audited(f"unit {unit.code} added")
    session.commit()
    confirm(
        _("The unit %(item)s was added.", item=ITEM),
        url_for(".unit_page", unit_id=unit.id),
        unit_label(unit),
    )
    return redirect(url_for(".units_page"))


def _field_error(form, exc: units.UnitError) -> None:
    field = getattr(form, exc.field, None) if exc.field else None
    if field is None:
        field = next(iter(f for f in form if f.type != "CSRFTokenField"))
    field.errors = [*field.errors, exc.message]


def _unit_page(
    unit: Unit,
    rename: RenameUnitForm | None = None,
    move: MoveUnitForm | None = None,
    office: OfficeForm | None = None,
    error: units.UnitError | None = None,
    status: int = 200,
):
    session = get_session()
    if rename is None:
        rename = RenameUnitForm(prefix="rename", obj=unit)
    if move is None:
        move = MoveUnitForm(prefix="move")
        move.parent.data = str(unit.parent_id) if unit.parent_id else TOP
    move.parent.choices = _parent_choices(unit)
    refused = _chosen_or_none(move.parent.data)
    if refused is not None and move.parent.data not in labels(move.parent.choices):
        # A refused choice (the unit itself, one below it) stays chosen, with its message.
        move.parent.choices.append(choice(str(refused.id), unit_label(refused)))
    if office is None:
        office = OfficeForm(prefix="office")
    return render_template(
        "console/admin/unit.html",
        unit=unit,
        rename_form=rename,
        move_form=move,
        office_form=office,
        action_form=ActionForm(),
        kind_names=KIND_NAMES,
        open_cases=units.open_cases(session, unit),
        error=error,
    ), status


@bp.get("/units/<int:unit_id>")
@role_required(Role.admin)
def unit_page(unit_id: int):
    return _unit_page(_unit_or_404(unit_id))


@bp.post("/units/<int:unit_id>/rename")
@role_required(Role.admin)
def rename_unit(unit_id: int):
    session = get_session()
    unit = _unit_or_404(unit_id)
    form = RenameUnitForm(prefix="rename")
    if not form.validate_on_submit():
        return _unit_page(unit, rename=form, status=400)
    before = unit_label(unit)
    try:
        units.rename_unit(session, unit, form.name_zh.data, form.name_en.data)
    except units.UnitError as exc:
        session.rollback()
        _field_error(form, exc)
        return _unit_page(_unit_or_404(unit_id), rename=form, status=400)
    audited(f"unit {unit.code} renamed")
    session.commit()
    confirm(
        _("The unit %(before)s is now called %(item)s.", before=before, item=ITEM),
        url_for(".unit_page", unit_id=unit.id),
        unit_label(unit),
    )
    return redirect(url_for(".unit_page", unit_id=unit.id))


@bp.post("/units/<int:unit_id>/move")
@role_required(Role.admin)
def move_unit(unit_id: int):
    session = get_session()
    unit = _unit_or_404(unit_id)
    form = MoveUnitForm(prefix="move")
    if not form.validate_on_submit():
        return _unit_page(unit, move=form, status=400)
    try:
        parent = _chosen_parent(form.parent.data)
        units.move_unit(session, unit, parent)
    except ChosenUnitMissing:
        form.parent.errors.append(_("Choose a unit from the list."))
        return _unit_page(unit, move=form, status=400)
    except units.UnitError as exc:
        session.rollback()
        _field_error(form, exc)
        return _unit_page(_unit_or_404(unit_id), move=form, status=400)
    audited(f"unit {unit.code} moved under {parent.code if parent else 'the top'}")
    session.commit()
    confirm(
        _(
            "The unit %(item)s was moved. Reports sent from now on are routed by its new "
            "place; cases received before stay with their office.",
            item=ITEM,
        ),
        url_for(".unit_page", unit_id=unit.id),
        unit_label(unit),
    )
    return redirect(url_for(".unit_page", unit_id=unit.id))


@bp.post("/units/<int:unit_id>/close")
@role_required(Role.admin)
def close_unit(unit_id: int):
    return _unit_action(unit_id, "close")


@bp.post("/units/<int:unit_id>/reopen")
@role_required(Role.admin)
def reopen_unit(unit_id: int):
    return _unit_action(unit_id, "reopen")


@bp.post("/units/<int:unit_id>/remove")
@role_required(Role.admin)
def remove_unit(unit_id: int):
    return _unit_action(unit_id, "remove")


def _unit_action(unit_id: int, action: str):
    if not ActionForm().validate_on_submit():
        abort(400)
    session = get_session()
    unit = _unit_or_404(unit_id)
    label, code = unit_label(unit), unit.code
    try:
        if action == "close":
            units.close_unit(session, unit, today())
        elif action == "reopen":
            units.reopen_unit(session, unit)
        else:
            units.remove_unit(session, unit)
    except units.UnitError as exc:
        session.rollback()
        return _unit_page(_unit_or_404(unit_id), error=exc, status=400)
    audited(f"unit {code} {DONE_WORDS[action]}")
    session.commit()
    if action == "remove":
        confirm(_("The unit %(unit)s was removed.", unit=label))
        return redirect(url_for(".units_page"))
    if action == "close":
        text = _(
            "The unit %(item)s is closed: it keeps its history and takes nothing new.", item=ITEM
        )
    else:
        text = _("The unit %(item)s is open again.", item=ITEM)
    confirm(text, url_for(".unit_page", unit_id=unit_id), label)
    return redirect(url_for(".unit_page", unit_id=unit_id))


@bp.post("/units/<int:unit_id>/office")
@role_required(Role.admin)
def add_office(unit_id: int):
    session = get_session()
    unit = _unit_or_404(unit_id)
    form = OfficeForm(prefix="office")
    if not form.validate_on_submit():
        return _unit_page(unit, office=form, status=400)
    try:
        units.add_office(session, unit, form.office_zh.data, form.office_en.data)
    except units.UnitError as exc:
        session.rollback()
        _field_error(form, exc)
        return _unit_page(_unit_or_404(unit_id), office=form, status=400)
    audited(f"discipline office added at unit {unit.code}")
    session.commit()
    confirm(
        _(
            "The unit %(item)s has a discipline office. It takes reports once it has a "
            "recovery key and an inspector with a key.",
            item=ITEM,
        ),
        url_for(".unit_page", unit_id=unit.id),
        unit_label(unit),
    )
    return redirect(url_for(".unit_page", unit_id=unit.id))
