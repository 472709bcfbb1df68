"""Console: the workers' congress's secretary lists the items awaiting review and records it."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.console.confirm import ITEM, confirm
from app.console.congress.forms import ReviewRecordForm
from app.db import get_session
from app.models import CongressStatus, Disclosure, PublicState, Role
from app.security.auth import current_staff, role_required
from app.services import units
from app.services.disclosures import congress, errors
from app.web import runtime

bp = Blueprint("congress", __name__, url_prefix="/congress")


def _disclosure_or_404(disclosure_id: int) -> Disclosure:
    disclosure = get_session().get(Disclosure, disclosure_id)
    staff = current_staff()
    if (
        disclosure is None
        or staff is None
        or disclosure.public_state != PublicState.published
        or disclosure.congress_status is None
        or not units.staff_covers(staff, disclosure.unit)
    ):
        abort(404)
    return disclosure


@bp.get("/")
@role_required(Role.congress_secretary)
def index():
    items = congress.for_secretary(get_session(), current_staff())
    return render_template(
        "console/congress/index.html",
        waiting=[d for d in items if d.congress_status != CongressStatus.reviewed],
        reviewed=[d for d in items if d.congress_status == CongressStatus.reviewed],
    )


@bp.route("/<int:disclosure_id>", methods=["GET", "POST"])
@role_required(Role.congress_secretary)
def item(disclosure_id: int):
    disclosure = _disclosure_or_404(disclosure_id)
    form = ReviewRecordForm()
    if request.method == "GET":
        form.status.data = disclosure.congress_status.value
        form.opinion.data = disclosure.congress_opinion
    error = None
    if form.validate_on_submit():
        session = get_session()
        try:
            status = CongressStatus(form.status.data)
        except ValueError:
            form.status.errors = [*form.status.errors, _("Choose the status of the review.")]
            error = _("Check the marked fields. Nothing you typed is lost.")
        else:
            try:
                congress.record_review(
                    session, disclosure, current_staff(), status, form.opinion.data or ""
                )
            except errors.DisclosureError as exc:
                session.rollback()
                error = exc.message
            else:
                session.commit()
                runtime.refresh_checkpoint(session)
                confirm(
                    _("The review of %(item)s by the workers' congress was recorded.", item=ITEM),
                    url_for(".item", disclosure_id=disclosure.id),
                    disclosure.public_title,
                )
                return redirect(url_for(".index"))
    elif request.method == "POST" and form.csrf_token.errors:
        abort(400)
    status_code = 400 if request.method == "POST" else 200
    return render_template(
        "console/congress/item.html", d=disclosure, form=form, error=error
    ), status_code
