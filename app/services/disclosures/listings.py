"""Lists of disclosures: the public site's filtered pages and the console's work queues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import (
    Disclosure,
    DisclosureCategory,
    PublicState,
    StaffUser,
    Unit,
    WorkState,
)
from app.services import units
from app.services.disclosures import (
    listing_cache,
)
from app.services.disclosures.visibility import Reader, visible_clause


@dataclass
class Filters:
    category: DisclosureCategory | None = None
    unit: Unit | None = None
    period_key: str | None = None
    year: int | None = None
    include_sub_units: bool = True


def list_public(
    session: Session,
    reader: Reader,
    filters: Filters | None = None,
    *,
    page: int = 1,
    per_page: int = 20,
) -> tuple[list[Disclosure], int]:
    """One page of what ``reader`` may see, newest first, and the total count."""
    filters = filters or Filters()
    conditions = [visible_clause(session, reader)]
    if filters.category is not None:
        conditions.append(Disclosure.category_id == filters.category.id)
    if filters.unit is not None:
        if filters.include_sub_units:
            conditions.append(Disclosure.unit_id.in_(units.subtree_ids(session, filters.unit)))
        else:
            conditions.append(Disclosure.unit_id == filters.unit.id)
    if filters.period_key:
        conditions.append(Disclosure.period_key == filters.period_key)
    if filters.year:
        start = datetime(filters.year, 1, 1, tzinfo=UTC)
        conditions.append(Disclosure.published_at >= start)
        conditions.append(Disclosure.published_at < start.replace(year=filters.year + 1))

    def count_and_ids() -> tuple[int, list[int]]:
        total = session.scalar(select(func.count(Disclosure.id)).where(*conditions)) or 0
        ids = session.scalars(
            select(Disclosure.id)
            .where(*conditions)
            .order_by(Disclosure.published_at.desc(), Disclosure.id.desc())
            .limit(per_page)
            .offset(max(0, page - 1) * per_page)
        )
        return total, list(ids)

    key = ("list_public", reader, _filters_key(filters), page, per_page)
    total, ids = listing_cache.memo(session, key, count_and_ids)
    rows = {d.id: d for d in session.scalars(select(Disclosure).where(Disclosure.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows], total


def _filters_key(filters: Filters) -> tuple:
    return (
        filters.category.id if filters.category else None,
        filters.unit.id if filters.unit else None,
        filters.period_key,
        filters.year,
        filters.include_sub_units,
    )


def period_keys_in_use(session: Session, reader: Reader) -> list[str]:
    def compute() -> list[str]:
        keys = session.scalars(
            select(Disclosure.period_key)
            .where(visible_clause(session, reader), Disclosure.period_key.is_not(None))
            .distinct()
        )
        return sorted((k for k in keys if k), reverse=True)

    return listing_cache.memo(session, ("period_keys", reader), compute)


def years_in_use(session: Session, reader: Reader) -> list[int]:
    def compute() -> list[int]:
        # Years in UTC, as the year filter counts them; worked out by the database, which
        # reads them from the listing index instead of sending every date to Python.
        published = Disclosure.published_at
        if session.get_bind().dialect.name == "postgresql":
            published = func.timezone("UTC", published)
        years = session.scalars(
            select(func.extract("year", published))
            .where(visible_clause(session, reader), Disclosure.published_at.is_not(None))
            .distinct()
        )
        return sorted({int(year) for year in years}, reverse=True)

    return listing_cache.memo(session, ("years", reader), compute)


# --- console listings -----------------------------------------------------------------------


def work_queue(session: Session, staff: StaffUser) -> dict[str, list[Disclosure]]:
    """What the console shows a publisher or approver, grouped by where it stands."""
    rows = session.scalars(
        select(Disclosure)
        .where(Disclosure.work_state != WorkState.none)
        .order_by(Disclosure.created_at.desc(), Disclosure.id.desc())
    )
    groups: dict[str, list[Disclosure]] = {
        "draft": [],
        "in_review": [],
        "returned": [],
        "scheduled": [],
    }
    for disclosure in rows:
        if units.staff_covers(staff, disclosure.unit):
            groups[disclosure.work_state.value].append(disclosure)
    return groups


def recent_published(session: Session, staff: StaffUser, limit: int = 50) -> list[Disclosure]:
    rows = session.scalars(
        select(Disclosure)
        .where(Disclosure.public_state != PublicState.unpublished)
        .order_by(Disclosure.published_at.desc(), Disclosure.id.desc())
        .limit(limit * 4)
    )
    return [d for d in rows if units.staff_covers(staff, d.unit)][:limit]


# --- catalogue and overdue items -----------------------------------------------------------
