"""The workers' congress's review of published disclosures.

A publisher asks for it on the draft or amendment form (``DraftFields.congress_requested``);
once the item is published it is awaiting review. The congress's secretary records where the
review stands and the congress's opinion: each change is a new revision of the item, with its
text as it was, and so a leaf of the disclosure log like any amendment; and an audit entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import (
    Action,
    CongressStatus,
    Disclosure,
    DisclosureRevision,
    PublicState,
    StaffUser,
    StepAction,
)
from app.services import audit, units
from app.services.audit import AuditAction
from app.services.disclosures import log as disclosure_log
from app.services.disclosures import steps
from app.services.disclosures.errors import DisclosureError, NotAllowed, WrongState
from app.services.disclosures.visibility import Reader, visible_clause

OPINION_MAX = 20_000


def record_review(
    session: Session,
    disclosure: Disclosure,
    secretary: StaffUser,
    status: CongressStatus,
    opinion: str,
    *,
    at: datetime | None = None,
    audited: bool = True,
) -> DisclosureRevision:
    """Record the review's ``status`` and the congress's ``opinion`` as a new revision.

    The item must be published and its review asked for; a reviewed item needs the opinion.
    Recording what is recorded already is refused (it would add an entry that says nothing).
    ``at`` and ``audited=False`` are for history written at another date (the demo's, as
    ``publishing.import_published`` writes it): the staff audit trail records what staff do
    on this installation, not invented or imported past.
    """
    opinion = (opinion or "").strip()
    if not units.staff_covers(secretary, disclosure.unit):
        raise NotAllowed(_l("This item belongs to a unit you do not cover."))
    if disclosure.public_state != PublicState.published:
        raise WrongState(_l("Only a published item can be reviewed by the workers' congress."))
    if disclosure.congress_status is None:
        raise WrongState(_l("The workers' congress was not asked to review this item."))
    if len(opinion) > OPINION_MAX:
        raise DisclosureError(_l("The opinion has at most %(max)s characters.", max=OPINION_MAX))
    if status == CongressStatus.reviewed and not opinion:
        raise DisclosureError(_l("Enter the congress's opinion to record the review as done."))
    if status == disclosure.congress_status and opinion == (disclosure.congress_opinion or ""):
        raise DisclosureError(_l("Nothing changed: the review stands as recorded."))
    session.flush()
    current = disclosure.revisions[-1]
    number = disclosure.revision_count + 1
    # As for any revision: claimed first, so two secretaries at the same moment cannot both
    # write revision ``number``.
    if not steps.claim(
        session,
        disclosure,
        Disclosure.revision_count == number - 1,
        Disclosure.public_state == PublicState.published,
        revision_count=number,
    ):
        raise WrongState(_l("This item was changed at the same moment. Reload the page."))
    revision = DisclosureRevision(
        disclosure_id=disclosure.id,
        number=number,
        action=Action.review,
        title=current.title,
        body=current.body,
        reason="",
        category_code=current.category_code,
        unit_code=current.unit_code,
        scope=current.scope,
        period_key=current.period_key,
        published_at=(at or utcnow()).astimezone(UTC).replace(microsecond=0),
        attachments=current.attachments,
        decision_record=current.decision_record,
        congress_status=status,
        congress_opinion=opinion,
        author_id=secretary.id,
        approver_id=None,
        log_index=-1,
        leaf_hash="",
    )
    disclosure_log.append(session, revision)
    session.refresh(disclosure, ["revisions"])
    disclosure.revision_count = revision.number
    disclosure.congress_status = status
    disclosure.congress_opinion = opinion
    steps.record(
        session,
        disclosure,
        StepAction.congress_review,
        secretary,
        status.value,
        at=revision.published_at,
    )
    if audited:
        audit.record(
            session,
            AuditAction.congress_review,
            actor=secretary,
            detail=f"disclosure {disclosure.id}: {status.value}, revision {revision.number}",
        )
    return revision


def for_secretary(session: Session, secretary: StaffUser) -> list[Disclosure]:
    """Published items whose review was asked for, in the units ``secretary`` covers: those
    not yet reviewed first, then the reviewed ones, the latest first in each."""
    rows = session.scalars(
        select(Disclosure)
        .where(
            Disclosure.public_state == PublicState.published,
            Disclosure.congress_status.is_not(None),
        )
        .order_by(Disclosure.published_at.desc(), Disclosure.id.desc())
    )
    found = [d for d in rows if units.staff_covers(secretary, d.unit)]
    return sorted(found, key=lambda d: d.congress_status == CongressStatus.reviewed)


def public_listing(
    session: Session, reader: Reader, *, limit: int = 200
) -> tuple[Sequence[Disclosure], Sequence[Disclosure]]:
    """What the public catalogue lists for ``reader``: the items awaiting (or under) the
    workers' congress's review, and those it has reviewed, the latest first."""

    def query(statuses: tuple[CongressStatus, ...]) -> list[Disclosure]:
        return list(
            session.scalars(
                select(Disclosure)
                .where(
                    visible_clause(session, reader),
                    Disclosure.public_state == PublicState.published,
                    Disclosure.congress_status.in_(statuses),
                )
                .order_by(Disclosure.published_at.desc(), Disclosure.id.desc())
                .limit(limit)
            )
        )

    return (
        query((CongressStatus.awaiting, CongressStatus.under_review)),
        query((CongressStatus.reviewed,)),
    )
