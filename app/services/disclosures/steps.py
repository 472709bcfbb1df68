"""The steps of a disclosure's workflow: recording them and claiming the row for one."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.models import (
    Disclosure,
    DisclosureStep,
    StaffUser,
    StepAction,
    Unit,
)
from app.services import units
from app.services.disclosures.errors import NotAllowed


def record(
    session: Session,
    disclosure: Disclosure,
    action: StepAction,
    actor: StaffUser | None,
    comment: str = "",
    at: datetime | None = None,
) -> None:
    session.add(
        DisclosureStep(
            disclosure=disclosure,
            action=action,
            actor=actor,
            comment=comment,
            at=at or utcnow(),
        )
    )


def require_unit(staff: StaffUser, unit: Unit) -> None:
    if not units.staff_covers(staff, unit):
        raise NotAllowed(_l("You can only work on disclosures of your own unit and its sub-units."))


def claim(
    session: Session, disclosure: Disclosure, *conditions: ColumnElement[bool], **values: object
) -> bool:
    """Set ``values`` on the disclosure's row if it still meets ``conditions``; True if it did.

    One conditional UPDATE, made before the work that depends on the state: of two requests
    that race for the same step, exactly one changes the row. PostgreSQL makes the second
    wait for the first's row lock, then checks the conditions again; on SQLite this first
    write takes the database's write lock, so what the transaction reads next is the latest.
    The disclosure is read again afterwards: what was loaded before may already be old.
    """
    session.flush()
    changed = session.execute(
        update(Disclosure)
        .where(Disclosure.id == disclosure.id, *conditions)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.expire(disclosure)
    return changed == 1


# --- the working copy -----------------------------------------------------------------------
