"""Review: who may approve a working copy, returning it, approving it, scheduled publication."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import (
    Action,
    Disclosure,
    DisclosureRevision,
    DisclosureStep,
    StaffUser,
    StepAction,
    WorkState,
)
from app.services.disclosures import log as disclosure_log
from app.services.disclosures import (
    steps,
)
from app.services.disclosures.errors import DisclosureError, NotAllowed, WrongState
from app.services.disclosures.publishing import amend, publish, retract
from app.services.signed_log import LogKeys

_CONTENT_STEPS = frozenset(
    {
        StepAction.created,
        StepAction.edited,
        StepAction.amendment_started,
        StepAction.retraction_requested,
        StepAction.imported,
        StepAction.attachment_added,
        StepAction.attachment_removed,
    }
)
_WORKING_COPY_ENDS = frozenset({StepAction.approved, StepAction.discarded})


def contributors(session: Session, disclosure: Disclosure) -> set[int]:
    """Staff who wrote or changed the working copy since it was last approved or discarded.

    That is the author of each edit of the title or text, whoever started the amendment or
    retraction, and whoever attached a file to it or removed one from it.
    """
    ids = {disclosure.work_author_id} if disclosure.work_author_id else set()
    steps = session.execute(
        select(DisclosureStep.action, DisclosureStep.actor_id)
        .where(DisclosureStep.disclosure_id == disclosure.id)
        .order_by(DisclosureStep.id.desc())
    )
    for action, actor_id in steps:
        if action in _WORKING_COPY_ENDS:
            break
        if action in _CONTENT_STEPS and actor_id is not None:
            ids.add(actor_id)
    ids.update(
        a.uploaded_by_id
        for a in disclosure.attachments
        if not a.published and a.uploaded_by_id is not None
    )
    return ids


def may_review(session: Session, disclosure: Disclosure, approver: StaffUser) -> bool:
    """Nobody approves their own words: not an author or editor of what is to be published."""
    if disclosure.work_action == Action.publish and approver.id == disclosure.author_id:
        return False
    return approver.id not in contributors(session, disclosure)


_NOT_IN_REVIEW = _l("This item is not waiting for review.")
_OWN_WORK = _l("You cannot review your own work; another approver must do it.")


def _check_reviewer(session: Session, disclosure: Disclosure, approver: StaffUser) -> None:
    if disclosure.work_state != WorkState.in_review:
        raise WrongState(_NOT_IN_REVIEW)
    if not may_review(session, disclosure, approver):
        raise NotAllowed(_OWN_WORK)
    steps.require_unit(approver, disclosure.unit)


def _take_for_review(
    session: Session, disclosure: Disclosure, approver: StaffUser, decision: WorkState
) -> None:
    """Move an item waiting for review to ``decision``, or refuse if it no longer waits."""
    if not steps.claim(
        session, disclosure, Disclosure.work_state == WorkState.in_review, work_state=decision
    ):
        raise WrongState(_NOT_IN_REVIEW)
    # Asked again now that the item is held: whoever changed it just before it was submitted
    # again may be this approver.
    if not may_review(session, disclosure, approver):
        raise NotAllowed(_OWN_WORK)


def return_for_changes(
    session: Session, disclosure: Disclosure, approver: StaffUser, comment: str
) -> None:
    _check_reviewer(session, disclosure, approver)
    if not comment.strip():
        raise DisclosureError(_l("Say what should change."))
    _take_for_review(session, disclosure, approver, WorkState.returned)
    steps.record(session, disclosure, StepAction.returned, approver, comment.strip())


def approve(
    session: Session,
    disclosure: Disclosure,
    approver: StaffUser,
    comment: str = "",
    *,
    now: datetime | None = None,
) -> DisclosureRevision | None:
    """Approve the working copy: publish, amend or retract now, or schedule a first publication.

    Returns the new revision, or None when it was scheduled for later.
    """
    now = now or utcnow()
    _check_reviewer(session, disclosure, approver)
    later = _goes_out_later(disclosure, now)
    _take_for_review(
        session, disclosure, approver, WorkState.scheduled if later else WorkState.none
    )
    steps.record(session, disclosure, StepAction.approved, approver, comment.strip(), at=now)
    if _goes_out_later(disclosure, now):
        disclosure.work_state = WorkState.scheduled
        steps.record(session, disclosure, StepAction.scheduled, approver, at=now)
        return None
    return _apply(session, disclosure, approver, now)


def _goes_out_later(disclosure: Disclosure, now: datetime) -> bool:
    return (
        disclosure.work_action == Action.publish
        and disclosure.scheduled_at is not None
        and disclosure.scheduled_at > now
    )


def _apply(
    session: Session, disclosure: Disclosure, approver: StaffUser | None, at: datetime
) -> DisclosureRevision:
    if disclosure.work_action == Action.publish:
        return publish(session, disclosure, at=at, approver=approver)
    if disclosure.work_action == Action.amend:
        return amend(session, disclosure, at=at, approver=approver)
    return retract(session, disclosure, at=at, approver=approver)


def due_for_publication(
    session: Session, now: datetime | None = None, limit: int = 100
) -> list[int]:
    """Ids of approved items whose scheduled time has come (cheap: one indexed query)."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(Disclosure.id)
            .where(Disclosure.work_state == WorkState.scheduled, Disclosure.scheduled_at <= now)
            .order_by(Disclosure.scheduled_at, Disclosure.id)
            .limit(limit)
        )
    )


def publish_due(session: Session, now: datetime | None = None) -> list[DisclosureRevision]:
    """Publish every scheduled item whose time has come, each at its scheduled time.

    Safe to run from several processes at once: each item is claimed (scheduled -> none) in
    one conditional update before it is published, so exactly one of them publishes it; on
    PostgreSQL rows another process holds are skipped rather than waited for.
    """
    now = now or utcnow()
    published = []
    for disclosure_id in due_for_publication(session, now):
        query = select(Disclosure).where(Disclosure.id == disclosure_id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        disclosure = session.scalar(query.execution_options(populate_existing=True))
        if disclosure is None or not steps.claim(
            session,
            disclosure,
            Disclosure.work_state == WorkState.scheduled,
            work_state=WorkState.none,
        ):
            continue
        approver_id = session.scalar(
            select(DisclosureStep.actor_id)
            .where(
                DisclosureStep.disclosure_id == disclosure.id,
                DisclosureStep.action == StepAction.approved,
            )
            .order_by(DisclosureStep.id.desc())
            .limit(1)
        )
        approver = session.get(StaffUser, approver_id) if approver_id else None
        at = disclosure.scheduled_at or now
        published.append(publish(session, disclosure, at=at, approver=approver))
    return published


def publish_due_and_sign(
    session: Session, log_keys: LogKeys, now: datetime | None = None
) -> list[DisclosureRevision]:
    """Publish what is due (``publish_due``), commit, and sign a checkpoint covering it.

    Cheap when nothing is due: one indexed query, and the signing key is not touched (only
    the console and the ``portal`` command hold it).
    """
    now = now or utcnow()
    if not due_for_publication(session, now, limit=1):
        return []
    published = publish_due(session, now)
    session.commit()
    disclosure_log.sign_checkpoint(session, log_keys.signer, log_keys.origin)
    session.commit()
    return published


# --- the public record: revisions and log leaves --------------------------------------------
