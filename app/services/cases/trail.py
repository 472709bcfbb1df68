"""Every read and every decision on a case leaves an entry on the audit trail
(``app.services.audit``), in the transaction of the action it records."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.models import StaffUser
from app.services import audit


def record(
    session: Session,
    action: str,
    *,
    actor: StaffUser | None,
    case_id: str | None = None,
    subject: StaffUser | None = None,
    detail: str = "",
) -> None:
    """Append the entry ``action`` (an AuditAction's name) to the audit trail."""
    audit.record(
        session,
        audit.AuditAction[action],
        actor=actor,
        case_id=case_id,
        subject=subject,
        detail=detail,
    )
