"""Every read and every decision on a case leaves an entry on the audit trail.

The trail is ``app.services.audit`` (its own signed log). It is looked up when an entry is
written, so that this package does not depend on it at import: without it, the operation is
refused (AuditUnavailable, fail closed) rather than done without a trace. Call ``record`` in
the transaction of the action it records.
"""

from __future__ import annotations

import importlib

from sqlalchemy.orm import Session

from app.models import StaffUser
from app.services.cases.errors import AuditUnavailable


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
    try:
        audit = importlib.import_module("app.services.audit")
    except ModuleNotFoundError as exc:
        raise AuditUnavailable("the audit trail is not installed") from exc
    audit.record(
        session,
        audit.AuditAction[action],
        actor=actor,
        case_id=case_id,
        subject=subject,
        detail=detail,
    )
