"""The handling rules: status changes, assignment, labels, replies, and what each reader saw.

Misconduct: received -> acknowledged -> under_assessment -> disposal_decided -> concluded;
the step to disposal_decided is taken by a collective decision only (decisions.py).
Criticism and suggestion: received -> acknowledged -> answered.

Each function checks that the staff member may do it, changes the case, bumps its counter of
changes (``touch``), records the audit entry in the same transaction, and flushes; the caller
commits. Nothing here reads or writes report content, but ``reply`` (through
``post_office_message``), which encrypts.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import date

from sqlalchemy.orm import Session

from app.models import (
    Case,
    CaseLabel,
    CaseView,
    Report,
    ReportKind,
    ReportMessage,
    ReportStatus,
    Role,
    StaffUser,
)
from app.models.cases import MAX_LABEL_CHARS
from app.services.blobs import BlobStore
from app.services.cases import deadlines, trail
from app.services.cases.changes import touch
from app.services.cases.deadlines import DeadlineRules
from app.services.cases.errors import CaseError, CaseNotPermitted
from app.services.cases.readers import case_readers, readable_case
from app.services.reports.messages import post_office_message
from app.services.reports.uploads import Upload

MAX_LABELS = 10

# The status a case may be moved to by hand from each status, by kind.
NEXT = {
    ReportKind.misconduct: {
        ReportStatus.received: (ReportStatus.acknowledged,),
        ReportStatus.acknowledged: (ReportStatus.under_assessment,),
        ReportStatus.under_assessment: (),  # a disposal is decided together (decisions.py)
        ReportStatus.disposal_decided: (ReportStatus.concluded,),
        ReportStatus.concluded: (),
    },
    ReportKind.criticism: {
        ReportStatus.received: (ReportStatus.acknowledged,),
        ReportStatus.acknowledged: (ReportStatus.answered,),
        ReportStatus.answered: (),
    },
}


def case_of(report: Report) -> Case:
    """The report's case (every report has one: made with it, or by migration 0013)."""
    if report.case is None:
        raise CaseError("no_case", report.id)
    return report.case


def _reader(session: Session, staff: StaffUser, report: Report) -> Case:
    if readable_case(session, staff, report.id) is None:
        raise CaseNotPermitted("not_a_reader")
    return case_of(report)


def mark_seen(session: Session, staff: StaffUser, report: Report, today: date) -> None:
    """Remember the case's counter ``staff`` has now seen (opening the case page)."""
    case = case_of(report)
    view = session.get(CaseView, (report.id, staff.id))
    if view is None:
        session.add(
            CaseView(
                report_id=report.id, staff_id=staff.id, seen_version=case.version, seen_on=today
            )
        )
    else:
        view.seen_version = max(view.seen_version, case.version)
        view.seen_on = today
    session.flush()


def allowed_statuses(report: Report) -> tuple[ReportStatus, ...]:
    return NEXT.get(report.kind, {}).get(report.status, ())


def change_status(
    session: Session,
    staff: StaffUser,
    report: Report,
    to: ReportStatus,
    today: date,
    rules: DeadlineRules,
) -> ReportStatus:
    """Move the case one step on; returns the status it had. CaseError("status_not_next")
    when the rules do not lead there from here."""
    case = _reader(session, staff, report)
    before = report.status
    if to not in allowed_statuses(report):
        raise CaseError("status_not_next", f"{before} -> {to}")
    report.status = to
    if to in deadlines.DONE:
        deadlines.concluded(report, case, today, rules)
    else:
        deadlines.refresh(report, case)
    touch(session, report.id)
    trail.record(
        session,
        "status_change",
        actor=staff,
        case_id=report.id,
        detail=f"{before.value} -> {to.value}",
    )
    session.flush()
    return before


def assign(
    session: Session, staff: StaffUser, report: Report, assignee_id: int | None
) -> StaffUser | None:
    """Make ``assignee_id`` (a reader of the case; None: nobody) the one who handles it.

    Only an office head of the case assigns."""
    case = _reader(session, staff, report)
    if not staff.has_role(Role.office_head):
        raise CaseNotPermitted("head_only")
    assignee = None
    if assignee_id is not None:
        assignee = next((s for s in case_readers(session, report) if s.id == assignee_id), None)
        if assignee is None or not assignee.has_role(Role.inspector, Role.office_head):
            raise CaseError("assignee_not_reader")
    if case.assignee_id == (assignee.id if assignee else None):
        return assignee
    case.assignee_id = assignee.id if assignee else None
    touch(session, report.id)
    trail.record(
        session,
        "assignment",
        actor=staff,
        case_id=report.id,
        subject=assignee,
        detail="assigned" if assignee else "unassigned",
    )
    session.flush()
    return assignee


def clean_label(text: object) -> str:
    """A label as stored: NFC, spaces collapsed; CaseError when empty, too long or odd."""
    if not isinstance(text, str):
        raise CaseError("label_invalid")
    label = " ".join(unicodedata.normalize("NFC", text).split())
    if not label:
        raise CaseError("label_required")
    if len(label) > MAX_LABEL_CHARS:
        raise CaseError("label_too_long")
    if any(unicodedata.category(ch)[0] == "C" for ch in label):
        raise CaseError("label_invalid")
    return label


def add_label(session: Session, staff: StaffUser, report: Report, text: str) -> str:
    case = _reader(session, staff, report)
    label = clean_label(text)
    if any(row.name == label for row in case.labels):
        return label
    if len(case.labels) >= MAX_LABELS:
        raise CaseError("too_many_labels")
    case.labels.append(CaseLabel(name=label))
    touch(session, report.id)
    # The trail says that a label changed, never its words: a label is the case's content, and
    # the trail outlives the case (app/services/reports/retention.py).
    trail.record(session, "label", actor=staff, case_id=report.id, detail="added")
    session.flush()
    return label


def remove_label(session: Session, staff: StaffUser, report: Report, text: str) -> str | None:
    case = _reader(session, staff, report)
    row = next((row for row in case.labels if row.name == text), None)
    if row is None:
        return None
    case.labels.remove(row)
    touch(session, report.id)
    trail.record(session, "label", actor=staff, case_id=report.id, detail="removed")
    session.flush()
    return row.name


def reply(
    session: Session,
    blobs: BlobStore,
    staff: StaffUser,
    report: Report,
    text: str,
    uploads: Sequence[Upload],
    today: date,
) -> ReportMessage:
    """A message to the reporter, with files (``post_office_message``: encrypted to the
    readers, the recovery key and the reporter). The first acknowledges the report; one
    after the report was taken up, or after its conclusion, is the notice a real-name
    reporter is owed."""
    try:
        case = _reader(session, staff, report)
    except CaseError:
        from app.services.reports.envelopes import delete_blobs

        delete_blobs(blobs, [upload.blob_key for upload in uploads])
        raise
    before = report.status
    message = post_office_message(session, blobs, report, staff, text, uploads, today)
    deadlines.office_wrote(report, case, today)  # the message itself counted as a change
    if report.status != before:
        # The first message acknowledges the report: a status change the auditor must see.
        trail.record(
            session,
            "status_change",
            actor=staff,
            case_id=report.id,
            detail=f"{before.value} -> {report.status.value}",
        )
    trail.record(
        session,
        "reply",
        actor=staff,
        case_id=report.id,
        detail=f"message {message.seq}, {len(uploads)} files",
    )
    session.flush()
    return message
