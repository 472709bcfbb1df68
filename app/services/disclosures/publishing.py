"""The public record: nothing published is edited in place.

``publish``, ``amend`` and ``retract`` each write a new ``DisclosureRevision`` and append its
leaf to the disclosure log; the review workflow only decides when they are called. An importer
of historical items calls ``import_published`` (or ``publish`` with ``at=``) directly.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import (
    Action,
    CongressStatus,
    Disclosure,
    DisclosureRevision,
    PublicState,
    PublishedFile,
    StaffUser,
    StepAction,
    WorkState,
)
from app.services.disclosures import (
    drafting,
    steps,
)
from app.services.disclosures import log as disclosure_log
from app.services.disclosures.drafting import DraftFields
from app.services.disclosures.errors import DisclosureError, WrongState
from app.services.sanitize import markdown_to_text
from app.services.search import index as search_index


def whole_second(at: datetime) -> datetime:
    """``at`` in UTC in whole seconds: the canonical record must read back the same on every
    database."""
    return at.astimezone(UTC).replace(microsecond=0)


def _new_revision(
    session: Session,
    disclosure: Disclosure,
    action: Action,
    at: datetime,
    approver: StaffUser | None,
) -> DisclosureRevision:
    session.flush()  # the ids of the disclosure and of new attachments go into the record
    number = disclosure.revision_count + 1
    # The number is claimed before anything is read for the record: a request that read the
    # item before another one published it is refused here, and on SQLite the write lock is
    # held before the log's next index is read.
    if not steps.claim(
        session, disclosure, Disclosure.revision_count == number - 1, revision_count=number
    ):
        raise WrongState(_l("This item was changed at the same moment. Reload the page."))
    congress = disclosure.congress_status
    if congress is None and disclosure.congress_requested and action != Action.retract:
        congress = CongressStatus.awaiting
    revision = DisclosureRevision(
        disclosure_id=disclosure.id,
        number=number,
        action=action,
        title=disclosure.title.strip(),
        body=disclosure.body if action != Action.retract else "",
        reason=disclosure.reason.strip() if action != Action.publish else "",
        category_code=disclosure.category.code,
        unit_code=disclosure.unit.code,
        scope=disclosure.scope,
        period_key=disclosure.period_key,
        published_at=whole_second(at),
        attachments=tuple(
            PublishedFile(a.id, a.filename, a.sha256) for a in disclosure.attachments
        ),
        decision_record=disclosure.decision_record if action != Action.retract else None,
        congress_status=congress,
        congress_opinion=disclosure.congress_opinion if congress is not None else None,
        author_id=disclosure.work_author_id,
        approver_id=approver.id if approver else None,
        log_index=-1,
        leaf_hash="",
    )
    for attachment in disclosure.attachments:
        attachment.published = True
    disclosure_log.append(session, revision)
    session.refresh(disclosure, ["revisions"])
    disclosure.revision_count = revision.number
    disclosure.congress_status = congress
    disclosure.work_state = WorkState.none
    disclosure.reason = ""
    steps.record(
        session,
        disclosure,
        {
            Action.publish: StepAction.published,
            Action.amend: StepAction.amended,
            Action.retract: StepAction.retracted,
        }[action],
        approver,
        at=revision.published_at,
    )
    return revision


def _refresh_public_copy(disclosure: Disclosure, revision: DisclosureRevision) -> None:
    disclosure.public_title = revision.title
    disclosure.search_body = markdown_to_text(revision.body)
    search_index.refresh(disclosure)


def publish(
    session: Session,
    disclosure: Disclosure,
    *,
    at: datetime | None = None,
    approver: StaffUser | None = None,
) -> DisclosureRevision:
    """First publication of ``disclosure``'s working copy at ``at`` (default: now).

    Importers pass the historical date as ``at``; the log records it in the leaf.
    """
    if disclosure.public_state != PublicState.unpublished:
        raise WrongState(_l("This item is published already."))
    at = at or utcnow()
    disclosure.work_action = Action.publish
    revision = _new_revision(session, disclosure, Action.publish, at, approver)
    disclosure.public_state = PublicState.published
    disclosure.published_at = revision.published_at
    _refresh_public_copy(disclosure, revision)
    return revision


def _check_change(disclosure: Disclosure, missing_reason: object) -> None:
    """An amendment or a retraction applies to a published item and carries its reason."""
    if disclosure.public_state != PublicState.published:
        raise WrongState(_l("Only a published item can be amended or retracted."))
    if not disclosure.reason.strip():
        raise DisclosureError(missing_reason)


def amend(
    session: Session,
    disclosure: Disclosure,
    *,
    at: datetime | None = None,
    approver: StaffUser | None = None,
) -> DisclosureRevision:
    """A new visible revision of a published item from the working copy (with its reason)."""
    _check_change(disclosure, _l("Give the reason for the change."))
    revision = _new_revision(session, disclosure, Action.amend, at or utcnow(), approver)
    disclosure.revised_at = revision.published_at
    _refresh_public_copy(disclosure, revision)
    return revision


def retract(
    session: Session,
    disclosure: Disclosure,
    *,
    at: datetime | None = None,
    approver: StaffUser | None = None,
) -> DisclosureRevision:
    """Replace a published item by a retraction notice; its history stays readable."""
    _check_change(disclosure, _l("Give the reason for the retraction."))
    revision = _new_revision(session, disclosure, Action.retract, at or utcnow(), approver)
    disclosure.public_state = PublicState.retracted
    disclosure.retracted_at = revision.published_at
    disclosure.search_body = ""
    search_index.refresh(disclosure)
    return revision


def import_published(
    session: Session,
    fields: DraftFields,
    published_at: datetime,
    *,
    author: StaffUser | None = None,
    approver: StaffUser | None = None,
) -> Disclosure:
    """Create and publish an item at a given (historical) date, without the review steps."""
    # Published at once, at the historical date: nothing to schedule.
    disclosure = drafting.new_disclosure(session, replace(fields, scheduled_at=None), author)
    steps.record(session, disclosure, StepAction.imported, author, at=whole_second(published_at))
    session.flush()
    publish(session, disclosure, at=published_at, approver=approver)
    return disclosure


def revision_attachment_ids(revision: DisclosureRevision) -> list[int]:
    return [file.id for file in revision.attachments]
