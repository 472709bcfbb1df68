"""What a test's actions wrote into the audit trail, read back from the log itself."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select

from app.models import AuditEntry
from app.services import audit


@dataclass(frozen=True)
class Entry:
    action: str
    actor: str | None  # username, None for an unknown account
    case_id: str | None
    subject: str | None
    detail: str


class AuditEntries:
    """The entries appended after this object was made, in log order, each time it is read."""

    def __init__(self, db) -> None:
        self.db = db
        with db() as session:
            self.start = audit.log_size(session)

    def __iter__(self) -> Iterator[Entry]:
        with self.db() as session:
            rows = session.scalars(
                select(AuditEntry)
                .where(AuditEntry.log_index >= self.start)
                .order_by(AuditEntry.log_index)
            )
            entries = [
                Entry(
                    row.action,
                    row.actor_username or None,
                    row.case_id,
                    row.subject_username,
                    row.detail,
                )
                for row in rows
            ]
        return iter(entries)

    def __len__(self) -> int:
        return len(list(self))
