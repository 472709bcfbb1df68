"""Console administration of the offices' recovery keys: who reads, who holds the shares, when
the ceremony was held, and a new ceremony from the browser.

The share sheets are the only copies of an office's recovery key: they are in the answer to
the POST that made them and nowhere else (no flashed message, no log line, no row, no file),
and that answer tells every cache not to keep it. The checks are those of
``portal keys ceremony``: both call ``app.services.recovery``.
"""

from __future__ import annotations

from flask import abort, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.console.admin.forms import CeremonyForm, CheckSharesForm
from app.console.admin.views import audited, bp
from app.console.confirm import ITEM, confirm
from app.db import get_session
from app.i18n import current_language, today
from app.models import DisciplineOffice, Role
from app.security.auth import role_required
from app.services import keys
from app.services.cases.access import recovery_message
from app.services.recovery import (
    MIN_THRESHOLD,
    RecoveryError,
    parse_holders,
    recover_office_identity,
    recovery_ceremony,
)
from crypto.shares import MAX_SHARES

# What a refused ceremony says, and next to which field.
CEREMONY_ERRORS = {
    "too_many_shares": ("count", _l("At most %(max)s shares can be made.", max=MAX_SHARES)),
    "threshold_low": (
        "threshold",
        _l(
            "At least %(min)s shares must be needed: one holder alone must not be able to open "
            "the office's reports.",
            min=MIN_THRESHOLD,
        ),
    ),
    "threshold_high": (
        "threshold",
        _l("The shares needed cannot be more than the shares made."),
    ),
    "holder_count": ("holders", _l("Give one holder name for each share, one name a line.")),
    "holder_empty": ("holders", _l("A holder name is empty: write one name a line.")),
    "holder_name": (
        "holders",
        _l("A holder name must be printable and at most 100 characters."),
    ),
    "has_key": (
        "replace",
        _l(
            "The office has a recovery key already. To make a new one, tick the box to "
            "replace it: reports already received then open only with the old shares."
        ),
    ),
    "raced": (
        "replace",
        _l(
            "Another ceremony for this office stored its key first: check the list and start again."
        ),
    ),
}


def _office_or_404(office_id: int) -> DisciplineOffice:
    office = get_session().get(DisciplineOffice, office_id) if 0 < office_id < 2**63 else None
    if office is None:
        abort(404)
    return office


@bp.get("/keys/")
@role_required(Role.admin)
def keys_page():
    overview = keys.keys_overview(get_session())
    return render_template("console/admin/keys.html", overview=overview)


def _ceremony_page(office: DisciplineOffice, form: CeremonyForm, status: int = 200):
    return render_template("console/admin/ceremony.html", office=office, form=form), status


@bp.get("/keys/<int:office_id>/ceremony")
@role_required(Role.admin)
def ceremony_form(office_id: int):
    form = CeremonyForm(prefix="ceremony")
    if form.threshold.data is None:
        form.threshold.data, form.count.data = 3, 5
    return _ceremony_page(_office_or_404(office_id), form)


@bp.post("/keys/<int:office_id>/ceremony")
@role_required(Role.admin)
def ceremony(office_id: int):
    session = get_session()
    office = _office_or_404(office_id)
    form = CeremonyForm(prefix="ceremony")
    if not form.validate_on_submit():
        return _ceremony_page(office, form, 400)
    had_key = bool(office.recovery_recipient)
    try:
        text = (form.holders.data or "").strip()
        holders = parse_holders(text) if text else None
        sheets = recovery_ceremony(
            session,
            office,
            form.threshold.data,
            form.count.data,
            holders,
            today(),
            replace=bool(form.replace.data),
        )
    except RecoveryError as exc:
        session.rollback()
        name, message = CEREMONY_ERRORS.get(exc.reason, ("threshold", _l("Check the numbers.")))
        field = getattr(form, name)
        field.errors = [*field.errors, message]
        return _ceremony_page(_office_or_404(office_id), form, 400)
    audited(
        f"recovery key {'replaced' if had_key else 'made'} at unit {office.unit.code}: "
        f"{form.threshold.data} of {form.count.data} shares"
    )
    session.commit()
    response = make_response(
        render_template(
            "console/admin/share_sheets.html", office=office, sheets=sheets, had_key=had_key
        )
    )
    # The only copies of the key: no cache, no back button, no proxy may keep this page.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _check_form(office: DisciplineOffice) -> CheckSharesForm:
    form = CheckSharesForm(prefix="check")
    wanted = max(office.recovery_threshold or 0, MIN_THRESHOLD)
    while len(form.shares) < wanted:
        form.shares.append_entry()
    for number, entry in enumerate(form.shares, start=1):
        entry.data = ""  # a password field: never shown back
        entry.label.text = _("Share %(n)s", n=number)
    return form


def _check_page(office: DisciplineOffice, form: CheckSharesForm, error=None, status: int = 200):
    page = render_template("console/admin/check_shares.html", office=office, form=form, error=error)
    return page, status


@bp.get("/keys/<int:office_id>/check")
@role_required(Role.admin)
def check_shares_form(office_id: int):
    office = _office_or_404(office_id)
    return _check_page(office, _check_form(office))


@bp.post("/keys/<int:office_id>/check")
@role_required(Role.admin)
def check_shares(office_id: int):
    """What ``portal keys recover`` does: K shares typed here are combined and proved against
    the office's stored public key; the key lives in this request only and is used for nothing."""
    office = _office_or_404(office_id)
    form = CheckSharesForm(prefix="check")
    if not form.validate_on_submit():
        return _check_page(office, _check_form(office), status=400)
    try:
        recover_office_identity(office, [entry.data or "" for entry in form.shares])
    except RecoveryError as exc:
        return _check_page(office, _check_form(office), recovery_message(exc, office), 400)
    audited(f"recovery key of unit {office.unit.code} checked with its shares")
    get_session().commit()
    confirm(
        _(
            "The shares recover the recovery key of %(item)s: it matches the stored public key. "
            "Nothing was kept.",
            item=ITEM,
        ),
        url_for(".keys_page"),
        office.name(current_language()),
    )
    return redirect(url_for(".keys_page"))
