"""What the console's first page shows a publisher and an approver: their work, not a name card.

A publisher sees the working copies they wrote that wait on them (returned for changes, with
the reviewer's reason; drafts not yet submitted) and those that wait on a reviewer. An
approver sees what waits for their review: never their own work (``reviewing.may_review``),
which another approver must review. Each only within the units the person covers, so that
every item listed opens.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Disclosure, DisclosureStep, StaffUser, StepAction, WorkState
from app.services import units
from app.services.disclosures.reviewing import may_review

# A first page lists what is waiting, not an archive: past this, the work queue has the rest.
MAX_ITEMS = 100


@dataclass(frozen=True)
class Waiting:
    """A working copy and the last step that put it where it stands (its reason, by whom and
    when), if one was recorded."""

    disclosure: Disclosure
    step: DisclosureStep | None = None

    @property
    def reason(self) -> str:
        return self.step.comment if self.step is not None else ""

    @property
    def since(self) -> datetime | None:
        return self.step.at if self.step is not None else None


@dataclass(frozen=True)
class PublisherWork:
    returned: list[Waiting] = field(default_factory=list)  # back to the publisher, with why
    drafts: list[Waiting] = field(default_factory=list)  # not yet submitted
    in_review: list[Waiting] = field(default_factory=list)  # with a reviewer

    @property
    def empty(self) -> bool:
        return not (self.returned or self.drafts or self.in_review)


def _last_step(
    session: Session, disclosure: Disclosure, actions: Collection[StepAction]
) -> DisclosureStep | None:
    return session.scalar(
        select(DisclosureStep)
        .where(DisclosureStep.disclosure_id == disclosure.id, DisclosureStep.action.in_(actions))
        .order_by(DisclosureStep.id.desc())
        .limit(1)
    )


_PUT_THERE = {
    WorkState.returned: (StepAction.returned,),
    WorkState.in_review: (StepAction.submitted,),
    WorkState.draft: (
        StepAction.created,
        StepAction.edited,
        StepAction.amendment_started,
        StepAction.retraction_requested,
        StepAction.imported,
    ),
}


def publisher_work(session: Session, publisher: StaffUser) -> PublisherWork:
    """The working copies ``publisher`` wrote (or started as an amendment or retraction) that
    are not yet out, newest first."""
    rows = session.scalars(
        select(Disclosure)
        .where(
            Disclosure.work_author_id == publisher.id,
            Disclosure.work_state.in_(tuple(_PUT_THERE)),
        )
        .order_by(Disclosure.created_at.desc(), Disclosure.id.desc())
        .limit(MAX_ITEMS)
    )
    work = PublisherWork()
    lists = {
        WorkState.returned: work.returned,
        WorkState.draft: work.drafts,
        WorkState.in_review: work.in_review,
    }
    for disclosure in rows:
        if units.staff_covers(publisher, disclosure.unit):
            step = _last_step(session, disclosure, _PUT_THERE[disclosure.work_state])
            lists[disclosure.work_state].append(Waiting(disclosure, step))
    return work


def waiting_for_approval(session: Session, approver: StaffUser) -> list[Waiting]:
    """What ``approver`` may review now, the longest waiting first: in review, in a unit they
    cover, and not their own work."""
    rows = session.scalars(
        select(Disclosure)
        .where(Disclosure.work_state == WorkState.in_review)
        .order_by(Disclosure.id)
        .limit(MAX_ITEMS * 4)
    )
    waiting = [
        Waiting(disclosure, _last_step(session, disclosure, (StepAction.submitted,)))
        for disclosure in rows
        if units.staff_covers(approver, disclosure.unit)
        and may_review(session, disclosure, approver)
    ]
    waiting.sort(key=lambda item: (item.since is None, item.since or datetime.min))
    return waiting[:MAX_ITEMS]
