"""The disclosure catalogue: what each unit must publish and when, and what is overdue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import false, select
from sqlalchemy.orm import Session

from app.models import (
    CatalogueEntry,
    Disclosure,
    DisclosureCategory,
    Period,
    PublicState,
    Scope,
    Unit,
)
from app.services.disclosures import (
    drafting,
)
from app.services.disclosures.errors import DisclosureError
from app.services.disclosures.visibility import Reader, scope_clause
from app.services.periods import (
    period_key,
    period_range,
    periods_between,
)


@dataclass
class CatalogueStatus:
    entry: CatalogueEntry
    published: dict[str, int] = field(default_factory=dict)  # period key -> disclosure id
    overdue: list[tuple[str, date]] = field(default_factory=list)  # (period key, due date)
    next_due: tuple[str, date] | None = None


def catalogue_status(
    session: Session,
    today: date,
    *,
    unit: Unit | None = None,
    reader: Reader | None = None,
    entries: Sequence[CatalogueEntry] | None = None,
) -> list[CatalogueStatus]:
    """Each catalogue entry with what was published for its periods and what is overdue.

    With a ``reader``, entries whose audience excludes them are left out altogether, and so
    are items the reader may not see: the public page neither lists nor counts them.
    """
    if entries is None:
        query = select(CatalogueEntry).where(CatalogueEntry.active.is_(True))
        if unit is not None:
            query = query.where(CatalogueEntry.unit_id == unit.id)
        if reader is not None:
            query = query.where(
                scope_clause(session, reader, CatalogueEntry.scope, CatalogueEntry.unit_id)
            )
        entries = list(session.scalars(query.order_by(CatalogueEntry.unit_id, CatalogueEntry.id)))
    result = []
    for entry in entries:
        status = CatalogueStatus(entry)
        keys = periods_between(entry.period, entry.starts_on, today)
        query = select(Disclosure.period_key, Disclosure.id).where(
            Disclosure.category_id == entry.category_id,
            Disclosure.unit_id == entry.unit_id,
            Disclosure.public_state == PublicState.published,
            Disclosure.period_key.in_(keys) if keys else false(),
        )
        if reader is not None:
            # An item the reader may not see is neither linked nor counted for them, even
            # under an entry they may see.
            query = query.where(scope_clause(session, reader))
        published = session.execute(query)
        status.published = {key: disclosure_id for key, disclosure_id in published}
        for key in keys:
            _start, end = period_range(key)
            due = end + timedelta(days=entry.due_days)
            if key in status.published:
                continue
            if due < today:
                status.overdue.append((key, due))
            elif status.next_due is None:
                status.next_due = (key, due)
        if status.next_due is None:
            key = period_key(entry.period, today)
            status.next_due = (key, period_range(key)[1] + timedelta(days=entry.due_days))
        result.append(status)
    return result


def add_catalogue_entry(
    session: Session,
    category: DisclosureCategory,
    unit: Unit,
    period: Period,
    due_days: int,
    starts_on: date,
    scope: Scope = Scope.everyone,
) -> CatalogueEntry:
    existing = session.scalar(
        select(CatalogueEntry).where(
            CatalogueEntry.category_id == category.id, CatalogueEntry.unit_id == unit.id
        )
    )
    if unit.closed:
        raise DisclosureError(_l("The unit is closed: it owes no new disclosures."))
    if existing is not None:
        raise DisclosureError(_l("This unit already has a catalogue entry for this category."))
    if not 0 <= due_days <= 366:
        raise DisclosureError(_l("Days until due must be between 0 and 366."))
    drafting.check_year(starts_on)
    entry = CatalogueEntry(
        category=category,
        unit=unit,
        period=period,
        due_days=due_days,
        starts_on=starts_on,
        scope=scope,
    )
    session.add(entry)
    session.flush()
    return entry


# --- questions ------------------------------------------------------------------------------
