"""What the auditor's pages read of the audit trail: filtered lists and a case's history.

Pages are cut by log index (keyset), not by offset, so the thousandth page of a long trail
costs what the first does. Nothing here reads anything but audit rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from app.models.audit import AuditCheckpoint, AuditEntry
from app.services.audit import AuditAction


@dataclass(frozen=True)
class AuditFilter:
    """Filters that combine (all must hold); None leaves one out."""

    person_id: int | None = None  # the actor or the subject of the entry
    case_id: str | None = None
    action: AuditAction | None = None
    date_from: date | None = None
    date_to: date | None = None

    @property
    def empty(self) -> bool:
        return self == AuditFilter()


@dataclass(frozen=True)
class AuditPage:
    """One page of entries in the list's order (newest first; a case's history oldest first).

    ``next_cursor``: the log index to go on from (``cursor``), ``prev_cursor`` the one to go
    back from (``cursor`` with ``back``); None at either end.
    """

    entries: list[AuditEntry]
    total: int
    next_cursor: int | None
    prev_cursor: int | None


def _filtered(query: Select, wanted: AuditFilter) -> Select:
    if wanted.person_id is not None:
        query = query.where(
            or_(AuditEntry.actor_id == wanted.person_id, AuditEntry.subject_id == wanted.person_id)
        )
    if wanted.case_id is not None:
        query = query.where(AuditEntry.case_id == wanted.case_id)
    if wanted.action is not None:
        query = query.where(AuditEntry.action == wanted.action.value)
    if wanted.date_from is not None:
        query = query.where(AuditEntry.on_date >= wanted.date_from)
    if wanted.date_to is not None:
        query = query.where(AuditEntry.on_date <= wanted.date_to)
    return query


def list_entries(
    session: Session,
    wanted: AuditFilter,
    *,
    cursor: int | None = None,
    back: bool = False,
    per_page: int = 50,
    newest_first: bool = True,
) -> AuditPage:
    """Entries matching ``wanted``, one page: the first, or the one that goes on from
    ``cursor`` (a log index) in the list's order, or back from it when ``back``."""
    total = session.scalar(_filtered(select(func.count()).select_from(AuditEntry), wanted)) or 0
    index = AuditEntry.log_index
    query = _filtered(select(AuditEntry), wanted)
    walk_descending = newest_first != (back and cursor is not None)
    if cursor is not None:
        query = query.where(index < cursor if walk_descending else index > cursor)
    query = query.order_by(index.desc() if walk_descending else index.asc()).limit(per_page + 1)
    rows = list(session.scalars(query))
    more = len(rows) > per_page
    rows = rows[:per_page]
    if cursor is not None and back:
        rows.reverse()
        has_next, has_prev = True, more
    else:
        has_next, has_prev = more, cursor is not None
    if not rows:
        return AuditPage([], total, None, None)
    return AuditPage(
        rows,
        total,
        rows[-1].log_index if has_next else None,
        rows[0].log_index if has_prev else None,
    )


def case_history(
    session: Session,
    case_id: str,
    *,
    cursor: int | None = None,
    back: bool = False,
    per_page: int = 100,
) -> AuditPage:
    """Every entry about one case, oldest first."""
    return list_entries(
        session,
        AuditFilter(case_id=case_id),
        cursor=cursor,
        back=back,
        per_page=per_page,
        newest_first=False,
    )


def recent_checkpoints(session: Session, count: int = 5) -> list[AuditCheckpoint]:
    """The newest signed checkpoints, newest first."""
    query = select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(count)
    return list(session.scalars(query))


def recent_entries(session: Session, count: int = 10) -> list[AuditEntry]:
    """The newest entries, newest first."""
    return list(
        session.scalars(select(AuditEntry).order_by(AuditEntry.log_index.desc()).limit(count))
    )
