"""A stand-in for ``app.services.audit`` (the audit trail) while it is not in this tree: the
contract's ``AuditAction`` and ``record``, keeping the entries in a list the tests read.

Used only when the real module does not import (tests/conftest.py); once it does, the tests
run against it.
"""

from __future__ import annotations

import enum
import types
from dataclasses import dataclass


class AuditAction(enum.StrEnum):
    sign_in = "sign_in"
    sign_in_failed = "sign_in_failed"
    session_end = "session_end"
    unseal = "unseal"
    password_change = "password_change"
    enrolment = "enrolment"
    inbox_view = "inbox_view"
    case_open = "case_open"
    real_name_open = "real_name_open"
    attachment_download = "attachment_download"
    status_change = "status_change"
    label = "label"
    note = "note"
    reply = "reply"
    assignment = "assignment"
    grant = "grant"
    recusal = "recusal"
    transfer = "transfer"
    decision = "decision"
    recovery = "recovery"
    export = "export"
    admin_change = "admin_change"


@dataclass(frozen=True)
class Entry:
    action: AuditAction
    actor: str | None
    case_id: str | None
    subject: str | None
    detail: str


def make_module() -> types.ModuleType:
    module = types.ModuleType("app.services.audit")
    module.AuditAction = AuditAction
    module.entries = []

    def record(session, action, *, actor, case_id=None, subject=None, detail=""):
        entry = Entry(
            AuditAction(action),
            actor.username if actor is not None else None,
            case_id,
            subject.username if subject is not None else None,
            detail,
        )
        module.entries.append(entry)
        return entry

    module.record = record
    return module
