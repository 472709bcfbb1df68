"""The working copy: drafting a new item, starting an amendment or a retraction, submitting it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.models import (
    Action,
    Disclosure,
    DisclosureCategory,
    PublicState,
    Scope,
    StaffUser,
    StepAction,
    Unit,
    WorkState,
)
from app.services import audit
from app.services.audit import AuditAction
from app.services.blobs import BlobStore
from app.services.disclosures import (
    steps,
)
from app.services.disclosures.attachments import remove_attachment
from app.services.disclosures.decisions import DecisionRecord, needs_record
from app.services.disclosures.errors import DisclosureError, WrongState
from app.services.periods import (
    FIRST_YEAR,
    LAST_YEAR,
    PERIOD_KEY_RE,
)

TITLE_MAX = 300
BODY_MAX = 100_000


@dataclass
class DraftFields:
    title: str
    body: str
    category: DisclosureCategory
    unit: Unit
    scope: Scope = Scope.everyone
    period_key: str | None = None
    scheduled_at: datetime | None = None
    # The collective decision's record (checked against the quorum by ``decisions``), and
    # whether the workers' congress is asked to review the item once published.
    decision: DecisionRecord | None = None
    congress_requested: bool = False


def is_one_line(text: str) -> bool:
    """No line break of any kind (``str.splitlines`` knows them all) inside ``text``."""
    return len(text.strip().splitlines()) <= 1


def check_fields(fields: DraftFields) -> None:
    if not fields.title.strip():
        raise DisclosureError(_l("Enter a title."))
    if not is_one_line(fields.title):
        # A second line would end up in the indexed text and the search snippets.
        raise DisclosureError(_l("The title must be one line."))
    if len(fields.title) > TITLE_MAX or len(fields.body) > BODY_MAX:
        raise DisclosureError(_l("The title or the text is too long."))
    if not fields.category.active:
        raise DisclosureError(_l("Choose a category from the list."))
    if fields.period_key and not PERIOD_KEY_RE.match(fields.period_key):
        raise DisclosureError(_l("Write the period as 2026, 2026-H1, 2026-Q2 or 2026-05."))
    if fields.scheduled_at is not None:
        check_year(fields.scheduled_at)


def check_year(day: date | datetime) -> None:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise DisclosureError(
            _l("Enter a date between %(first)s and %(last)s.", first=FIRST_YEAR, last=LAST_YEAR)
        )


def new_disclosure(session: Session, fields: DraftFields, author: StaffUser | None) -> Disclosure:
    """A checked, unpublished item in draft from ``fields``, added to the session."""
    check_fields(fields)
    disclosure = Disclosure(
        author_id=author.id if author else None,
        work_author_id=author.id if author else None,
        work_state=WorkState.draft,
        work_action=Action.publish,
        title=fields.title.strip(),
        body=fields.body,
        category=fields.category,
        unit=fields.unit,
        scope=fields.scope,
        period_key=fields.period_key or None,
        scheduled_at=fields.scheduled_at,
        decision_record=fields.decision.as_json() if fields.decision else None,
        congress_requested=fields.congress_requested,
    )
    session.add(disclosure)
    return disclosure


def create_draft(session: Session, author: StaffUser, fields: DraftFields) -> Disclosure:
    """A new, unpublished disclosure in draft, owned by ``author``."""
    steps.require_unit(author, fields.unit)
    if fields.unit.closed:
        raise DisclosureError(_l("The unit is closed: choose an open unit."))
    disclosure = new_disclosure(session, fields, author)
    steps.record(session, disclosure, StepAction.created, author)
    session.flush()
    _audit_supervision(session, disclosure, author, None, False)
    return disclosure


def _audit_supervision(
    session: Session,
    disclosure: Disclosure,
    actor: StaffUser,
    old_record: str | None,
    old_requested: bool,
) -> None:
    """An audit entry for each change to the decision record or to the request for the
    workers' congress's review of a working copy."""
    if disclosure.decision_record != old_record:
        audit.record(
            session,
            AuditAction.decision_record,
            actor=actor,
            detail=f"disclosure {disclosure.id}: "
            + ("record removed" if disclosure.decision_record is None else "record saved"),
        )
    if bool(disclosure.congress_requested) != old_requested:
        audit.record(
            session,
            AuditAction.congress_review,
            actor=actor,
            detail=f"disclosure {disclosure.id}: "
            + ("review requested" if disclosure.congress_requested else "request withdrawn"),
        )


def editable(disclosure: Disclosure) -> bool:
    return disclosure.work_state in (WorkState.draft, WorkState.returned)


def update_draft(
    session: Session,
    disclosure: Disclosure,
    actor: StaffUser,
    fields: DraftFields,
    reason: str = "",
) -> None:
    """Change the working copy while it is a draft or returned for changes.

    For an amendment only the title, the text and the reason change: the category, unit and
    audience of a published item stay as published.
    """
    if not editable(disclosure):
        raise WrongState(_l("Only a draft or a returned item can be edited."))
    steps.require_unit(actor, disclosure.unit)
    old_record, old_requested = disclosure.decision_record, bool(disclosure.congress_requested)
    if disclosure.work_action == Action.publish:
        steps.require_unit(actor, fields.unit)
        check_fields(fields)
        disclosure.category = fields.category
        disclosure.unit = fields.unit
        disclosure.scope = fields.scope
        disclosure.period_key = fields.period_key or None
        disclosure.scheduled_at = fields.scheduled_at
    else:
        fields.category = disclosure.category
        check_fields(fields)
    if disclosure.work_action != Action.retract:
        disclosure.title = fields.title.strip()
        disclosure.body = fields.body
        disclosure.decision_record = fields.decision.as_json() if fields.decision else None
        # Once the congress has the item, its secretary records the review: the request stays.
        disclosure.congress_requested = fields.congress_requested or (
            disclosure.congress_status is not None
        )
    disclosure.reason = reason
    steps.record(session, disclosure, StepAction.edited, actor)
    _audit_supervision(session, disclosure, actor, old_record, old_requested)


def start_amendment(
    session: Session, disclosure: Disclosure, actor: StaffUser, reason: str = ""
) -> None:
    """Open a working copy of a published item, starting from its current text."""
    _start_change(session, disclosure, actor, Action.amend, reason)


def request_retraction(
    session: Session, disclosure: Disclosure, actor: StaffUser, reason: str
) -> None:
    """Ask for a published item to be retracted; an approver decides, as for any change."""
    if not reason.strip():
        raise DisclosureError(_l("Give the reason for the retraction."))
    _start_change(session, disclosure, actor, Action.retract, reason)
    disclosure.work_state = WorkState.in_review
    steps.record(session, disclosure, StepAction.submitted, actor)


def _check_no_change(disclosure: Disclosure) -> None:
    if disclosure.public_state != PublicState.published:
        raise WrongState(_l("Only a published item can be amended or retracted."))
    if disclosure.work_state != WorkState.none:
        raise WrongState(_l("This item already has a change in progress."))


def _start_change(
    session: Session, disclosure: Disclosure, actor: StaffUser, action: Action, reason: str
) -> None:
    _check_no_change(disclosure)
    steps.require_unit(actor, disclosure.unit)
    if not steps.claim(
        session,
        disclosure,
        Disclosure.public_state == PublicState.published,
        Disclosure.work_state == WorkState.none,
        work_state=WorkState.draft,
    ):
        _check_no_change(disclosure)  # read again: says what another request just did
        raise WrongState(_l("This item already has a change in progress."))
    current = disclosure.revisions[-1]
    disclosure.title = current.title
    disclosure.body = current.body
    disclosure.decision_record = _last_record(disclosure)
    disclosure.reason = reason.strip()
    disclosure.work_action = action
    disclosure.work_author_id = actor.id
    steps.record(
        session,
        disclosure,
        StepAction.amendment_started if action == Action.amend else StepAction.retraction_requested,
        actor,
        reason.strip(),
    )


def discard_change(
    session: Session, disclosure: Disclosure, actor: StaffUser, blobs: BlobStore
) -> None:
    """Drop a pending amendment or retraction with the files added to it (rows and blobs).

    The published page stays as it is, and so do the files its revisions list.
    """
    nothing_to_discard = _l("There is no change to discard.")
    if (
        disclosure.public_state == PublicState.unpublished
        or disclosure.work_state == WorkState.none
    ):
        raise WrongState(nothing_to_discard)
    steps.require_unit(actor, disclosure.unit)
    if not steps.claim(
        session,
        disclosure,
        Disclosure.public_state != PublicState.unpublished,
        Disclosure.work_state != WorkState.none,
        work_state=WorkState.none,
    ):
        raise WrongState(nothing_to_discard)
    for attachment in [a for a in disclosure.attachments if not a.published]:
        remove_attachment(session, blobs, attachment, actor)
    current = disclosure.revisions[-1]
    disclosure.title = current.title
    disclosure.body = current.body
    disclosure.decision_record = _last_record(disclosure)
    disclosure.reason = ""
    steps.record(session, disclosure, StepAction.discarded, actor)


def _last_record(disclosure: Disclosure) -> str | None:
    """The decision record as last published (a retraction's notice carries none)."""
    for revision in reversed(disclosure.revisions):
        if revision.action != Action.retract:
            return revision.decision_record
    return None


def submit_for_review(session: Session, disclosure: Disclosure, actor: StaffUser) -> None:
    not_editable = _l("Only a draft or a returned item can be submitted.")
    if not editable(disclosure):
        raise WrongState(not_editable)
    steps.require_unit(actor, disclosure.unit)
    if not disclosure.title.strip():
        raise DisclosureError(_l("Enter a title."))
    if disclosure.work_action != Action.publish and not disclosure.reason.strip():
        raise DisclosureError(_l("Give the reason for the change."))
    # A new "three importants and one large" item needs its record; an amendment of one
    # published before records were kept may go out without (it can add one).
    if (
        disclosure.work_action == Action.publish
        and needs_record(disclosure.category.code)
        and disclosure.decision_record is None
    ):
        raise DisclosureError(
            _l("A disclosure of this category needs the record of its collective decision.")
        )
    if not steps.claim(
        session,
        disclosure,
        Disclosure.work_state.in_((WorkState.draft, WorkState.returned)),
        work_state=WorkState.in_review,
    ):
        raise WrongState(not_editable)
    steps.record(session, disclosure, StepAction.submitted, actor)
