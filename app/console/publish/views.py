"""Console: drafting, review and publication of disclosures, and answering questions."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app.console.confirm import ITEM, confirm
from app.console.publish.forms import AnswerForm, DraftForm, ReasonForm, ReviewForm
from app.db import get_session
from app.form_choices import choice
from app.i18n import current_language, today
from app.models import (
    Action,
    Disclosure,
    DisclosureAttachment,
    DisclosureQuestion,
    PublicState,
    Role,
    Scope,
    WorkState,
)
from app.resources import blob_store
from app.security.auth import current_staff, role_required
from app.services import units
from app.services.disclosures import (
    catalogue,
    categories,
    decisions,
    drafting,
    errors,
    listings,
    reviewing,
)
from app.services.disclosures import questions as question_service
from app.services.disclosures.attachments import AttachmentError, add_attachment, remove_attachment
from app.web import runtime
from app.web.disclosures import local_time, send_attachment
from app.web.forms import ActionForm

bp = Blueprint("publish", __name__, url_prefix="/publish")

STAFF_ROLES = (Role.publisher, Role.approver)


def _disclosure_or_404(disclosure_id: int) -> Disclosure:
    disclosure = get_session().get(Disclosure, disclosure_id)
    staff = current_staff()
    if disclosure is None or staff is None or not units.staff_covers(staff, disclosure.unit):
        abort(404)
    return disclosure


def _sign_checkpoint() -> None:
    """After a change to the log, sign a checkpoint that covers it."""
    runtime.refresh_checkpoint(get_session())


@bp.get("/")
@role_required(*STAFF_ROLES)
def dashboard():
    session = get_session()
    staff = current_staff()
    runtime.publish_due(session)
    return render_template(
        "console/publish/dashboard.html",
        queue=listings.work_queue(session, staff),
        published=listings.recent_published(session, staff),
        questions=question_service.pending_questions(session, staff),
        statuses=[
            s
            for s in catalogue.catalogue_status(session, today())
            if units.staff_covers(staff, s.entry.unit)
        ],
        link_for=lambda disclosure_id: url_for(".item", disclosure_id=disclosure_id),
    )


def _fill_choices(form: DraftForm) -> None:
    session = get_session()
    lang = current_language()
    form.category.choices = [
        choice(c.code, c.name(lang)) for c in categories.list_categories(session, active_only=True)
    ]
    form.unit.choices = [
        choice(u.code, f"{u.name(lang)} ({u.code})")
        for u in units.for_staff(session, current_staff(), open_only=True)
    ]


def _local_to_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=runtime.local_zone()).astimezone(UTC)


def _fields_from(form: DraftForm) -> drafting.DraftFields:
    """The form's values as service fields; unknown codes become form errors."""
    session = get_session()
    category = categories.category_by_code(session, form.category.data or "")
    unit = units.by_code(session, form.unit.data or "")
    if category is None or not category.active:
        form.category.errors.append(_("Choose a category from the list."))
    if unit is None:
        form.unit.errors.append(_("Choose a unit from the list."))
    if category is None or unit is None or not category.active:
        raise errors.DisclosureError(_("Check the marked fields."))
    return drafting.DraftFields(
        decision=_decision_from(form),
        congress_requested=bool(form.congress_requested.data),
        title=form.title.data or "",
        body=form.body.data or "",
        category=category,
        unit=unit,
        scope=Scope(form.scope.data),
        period_key=(form.period_key.data or "").strip() or None,
        scheduled_at=_local_to_utc(form.scheduled_at.data),
    )


def _decision_from(form: DraftForm) -> decisions.DecisionRecord | None:
    """The decision record typed on the form (None if none was), checked against the quorum;
    a refusal is marked on its field."""
    typed = {
        "meeting_kind": form.meeting_kind.data or "",
        "meeting_date": form.meeting_date.data,
        "present": form.members_present.data or "",
        "absent": form.members_absent.data or "",
        "decision": form.decision_text.data or "",
    }
    if decisions.is_empty(**typed):
        return None
    try:
        return decisions.build_record(
            **typed,
            dissents=form.dissents.data or "",
            quorum=decisions.Quorum.parse(current_app.config["DECISION_QUORUM"]),
            today=today(),
        )
    except decisions.DecisionError as exc:
        if exc.field is not None:
            form[exc.field].errors = [*form[exc.field].errors, str(exc.message)]
        raise


def _fill_decision(form: DraftForm, disclosure: Disclosure) -> None:
    """The working copy's decision record and review request, on the form to edit."""
    form.congress_requested.data = disclosure.congress_requested
    record = decisions.read_record(disclosure.decision_record)
    if record is None:
        return
    form.meeting_kind.data = record.meeting_kind.value
    form.meeting_date.data = record.meeting_date
    form.members_present.data = "\n".join(record.present)
    form.members_absent.data = "\n".join(record.absent)
    form.decision_text.data = record.decision
    form.dissents.data = record.dissents


def _edit_context() -> dict[str, object]:
    quorum = decisions.Quorum.parse(current_app.config["DECISION_QUORUM"])
    return {"decision_quorum": quorum.describe()}


def _store_uploads(form: DraftForm, disclosure: Disclosure) -> bool:
    """Keep every valid upload; put the reason for each refused one on the form."""
    session = get_session()
    ok = True
    for upload in form.attachments.data or []:
        if not getattr(upload, "filename", None):
            continue
        try:
            add_attachment(
                session,
                blob_store(),
                disclosure,
                current_staff(),
                upload.filename,
                upload.stream,
                current_app.config["ATTACHMENT_MAX_BYTES"],
            )
        except AttachmentError as exc:
            form.attachments.errors = [*form.attachments.errors, str(exc.message)]
            ok = False
    return ok


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.publisher)
def new():
    form = DraftForm()
    _fill_choices(form)
    error = None
    if form.validate_on_submit():
        session = get_session()
        try:
            fields = _fields_from(form)
            disclosure = drafting.create_draft(session, current_staff(), fields)
        except errors.DisclosureError as exc:
            error = exc.message
            session.rollback()
        else:
            if _store_uploads(form, disclosure):
                if form.save_and_submit.data:
                    try:
                        drafting.submit_for_review(session, disclosure, current_staff())
                    except errors.DisclosureError as exc:
                        error = exc.message
                if error is None:
                    session.commit()
                    if form.save_and_submit.data:
                        _confirm(
                            disclosure, _("%(item)s was saved and submitted for review.", item=ITEM)
                        )
                    else:
                        _confirm(disclosure, _("The draft %(item)s was saved.", item=ITEM))
                    return redirect(url_for(".item", disclosure_id=disclosure.id))
            # A refused upload: nothing is saved and the form shows what was typed.
            for attachment in disclosure.attachments:
                blob_store().delete(attachment.blob_key)
            session.rollback()
    status = 400 if request.method == "POST" else 200
    return render_template(
        "console/publish/edit.html", form=form, error=error, d=None, **_edit_context()
    ), status


@bp.route("/<int:disclosure_id>/edit", methods=["GET", "POST"])
@role_required(Role.publisher)
def edit(disclosure_id: int):
    disclosure = _disclosure_or_404(disclosure_id)
    if not drafting.editable(disclosure):
        abort(409)
    form = DraftForm(obj=None if request.method == "POST" else disclosure)
    _fill_choices(form)
    if request.method == "GET":
        form.category.data = disclosure.category.code
        form.unit.data = disclosure.unit.code
        form.scope.data = disclosure.scope.value
        form.reason.data = disclosure.reason
        _fill_decision(form, disclosure)
        if disclosure.scheduled_at:
            form.scheduled_at.data = disclosure.scheduled_at.astimezone(
                runtime.local_zone()
            ).replace(tzinfo=None)
    error = None
    if form.validate_on_submit():
        session = get_session()
        try:
            fields = _fields_from(form)
            drafting.update_draft(
                session, disclosure, current_staff(), fields, reason=form.reason.data or ""
            )
            uploaded = _store_uploads(form, disclosure)
            if uploaded and form.save_and_submit.data:
                drafting.submit_for_review(session, disclosure, current_staff())
        except errors.DisclosureError as exc:
            error = exc.message
            session.rollback()
        else:
            session.commit()
            if uploaded:
                if form.save_and_submit.data:
                    text = _(
                        "Your changes to %(item)s were saved and submitted for review.", item=ITEM
                    )
                else:
                    text = _("Your changes to %(item)s were saved.", item=ITEM)
                _confirm(disclosure, text)
                return redirect(url_for(".item", disclosure_id=disclosure.id))
    status = 400 if request.method == "POST" else 200
    return render_template(
        "console/publish/edit.html", form=form, error=error, d=disclosure, **_edit_context()
    ), status


@bp.get("/<int:disclosure_id>")
@role_required(*STAFF_ROLES)
def item(disclosure_id: int):
    return _item_page(_disclosure_or_404(disclosure_id))


def _item_page(disclosure: Disclosure, error: str | None = None) -> str:
    return render_template(
        "console/publish/item.html",
        d=disclosure,
        review_form=ReviewForm(),
        reason_form=ReasonForm(),
        action_form=ActionForm(),
        may_review=reviewing.may_review(get_session(), disclosure, current_staff()),
        error=error,
    )


def _confirm(disclosure: Disclosure, text: str) -> None:
    """Confirm ``text`` on the next page, naming the disclosure with a link to its page."""
    label = disclosure.title or disclosure.public_title
    confirm(text, url_for(".item", disclosure_id=disclosure.id), label)


def _run(disclosure: Disclosure, step, done=None) -> object:
    """Run one workflow step; on refusal show the item again with the reason. Once it is
    committed, ``done(result)`` gives the confirmation to show on the next page."""
    session = get_session()
    try:
        result = step(session)
    except (errors.DisclosureError, AttachmentError) as exc:
        session.rollback()
        return _item_page(disclosure, error=exc.message), 400
    session.commit()
    if result is not None:
        _sign_checkpoint()
    if done is not None:
        _confirm(disclosure, done(result))
    return redirect(url_for(".item", disclosure_id=disclosure.id))


@bp.post("/<int:disclosure_id>/submit")
@role_required(Role.publisher)
def submit(disclosure_id: int):
    disclosure = _disclosure_or_404(disclosure_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    return _run(
        disclosure,
        lambda s: drafting.submit_for_review(s, disclosure, current_staff()),
        lambda _result: _("%(item)s was submitted for review.", item=ITEM),
    )


@bp.post("/<int:disclosure_id>/review")
@role_required(Role.approver)
def review(disclosure_id: int):
    disclosure = _disclosure_or_404(disclosure_id)
    form = ReviewForm()
    if not form.validate_on_submit():
        abort(400)
    comment = form.comment.data or ""
    if form.send_back.data:
        return _run(
            disclosure,
            lambda s: reviewing.return_for_changes(s, disclosure, current_staff(), comment),
            lambda _result: _("%(item)s was returned to its author for changes.", item=ITEM),
        )
    return _run(
        disclosure,
        lambda s: reviewing.approve(s, disclosure, current_staff(), comment),
        lambda revision: _approved_text(disclosure, revision),
    )


def _approved_text(disclosure: Disclosure, revision) -> str:
    """What an approval did: published now, scheduled, amended or retracted."""
    if revision is None:
        return _(
            "%(item)s was approved and will be published at %(time)s.",
            item=ITEM,
            time=local_time(disclosure.scheduled_at),
        )
    if disclosure.public_state == PublicState.retracted:
        return _(
            "%(item)s was approved for retraction: its public page now shows the notice.", item=ITEM
        )
    if revision.number > 1:
        return _("%(item)s was approved: the amended version is published.", item=ITEM)
    return _("%(item)s was approved and published.", item=ITEM)


@bp.post("/<int:disclosure_id>/amend")
@role_required(Role.publisher)
def amend(disclosure_id: int):
    disclosure = _disclosure_or_404(disclosure_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    result = _run(
        disclosure,
        lambda s: drafting.start_amendment(s, disclosure, current_staff()),
        lambda _result: _(
            "An amendment of %(item)s was started: change the text, give the reason and submit "
            "it for review.",
            item=ITEM,
        ),
    )
    if disclosure.work_state == WorkState.draft and disclosure.work_action == Action.amend:
        return redirect(url_for(".edit", disclosure_id=disclosure.id))
    return result


@bp.post("/<int:disclosure_id>/retract")
@role_required(Role.publisher)
def retract(disclosure_id: int):
    disclosure = _disclosure_or_404(disclosure_id)
    form = ReasonForm()
    if not form.validate_on_submit() and form.csrf_token.errors:
        abort(400)
    return _run(
        disclosure,
        lambda s: drafting.request_retraction(
            s, disclosure, current_staff(), form.reason.data or ""
        ),
        lambda _result: _(
            "The retraction of %(item)s was requested: it goes out once an approver approves it.",
            item=ITEM,
        ),
    )


@bp.post("/<int:disclosure_id>/discard")
@role_required(Role.publisher)
def discard(disclosure_id: int):
    disclosure = _disclosure_or_404(disclosure_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    return _run(
        disclosure,
        lambda s: drafting.discard_change(s, disclosure, current_staff(), blob_store()),
        lambda _result: _(
            "The change to %(item)s was discarded; the published page stays as it was.", item=ITEM
        ),
    )


def _attachment_or_404(disclosure: Disclosure, attachment_id: int) -> DisclosureAttachment:
    found = get_session().get(DisclosureAttachment, attachment_id)
    if found is None or found.disclosure_id != disclosure.id:
        abort(404)
    return found


@bp.get("/<int:disclosure_id>/attachments/<int:attachment_id>")
@role_required(*STAFF_ROLES)
def attachment(disclosure_id: int, attachment_id: int):
    disclosure = _disclosure_or_404(disclosure_id)
    return send_attachment(_attachment_or_404(disclosure, attachment_id))


@bp.post("/<int:disclosure_id>/attachments/<int:attachment_id>/delete")
@role_required(Role.publisher)
def delete_attachment(disclosure_id: int, attachment_id: int):
    disclosure = _disclosure_or_404(disclosure_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    found = _attachment_or_404(disclosure, attachment_id)
    if not drafting.editable(disclosure):
        abort(409)

    def remove(session) -> None:
        remove_attachment(session, blob_store(), found, current_staff())

    name = found.filename
    return _run(
        disclosure,
        remove,
        lambda _result: _("The file %(file)s was removed from %(item)s.", file=name, item=ITEM),
    )


@bp.get("/questions")
@role_required(*STAFF_ROLES)
def questions():
    session = get_session()
    pending = question_service.pending_questions(session, current_staff())
    return render_template(
        "console/publish/questions.html",
        questions=pending,
        forms={q.id: AnswerForm(prefix=f"q{q.id}") for q in pending},
    )


@bp.post("/questions/<int:question_id>")
@role_required(*STAFF_ROLES)
def answer(question_id: int):
    session = get_session()
    question = session.get(DisclosureQuestion, question_id)
    staff = current_staff()
    if question is None or not units.staff_covers(staff, question.disclosure.unit):
        abort(404)
    form = AnswerForm(prefix=f"q{question.id}")
    if not form.validate_on_submit():
        abort(400)
    try:
        if form.reject.data:
            question_service.reject_question(session, question, staff)
            text = _("A question on %(item)s was not published.", item=ITEM)
        else:
            question_service.answer_question(
                session, question, staff, form.answer.data or "", today()
            )
            text = _("A question on %(item)s was published with your answer.", item=ITEM)
    except errors.DisclosureError:
        session.rollback()
        abort(400)
    session.commit()
    _confirm(question.disclosure, text)
    return redirect(url_for(".questions"))
