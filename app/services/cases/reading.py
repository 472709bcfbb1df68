"""Opening a case: the report, its thread, its notes and files, decrypted with the reader's
keys for this call only, and the real name for an office head who gives a reason.

Every opening is on the audit trail (case open, real-name open with its reason, download).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from app.models import EnvelopeRole, Report, ReportEnvelope, StaffUser
from app.services.blobs import BlobStore
from app.services.cases import trail
from app.services.cases.errors import CaseError, CaseNotPermitted
from app.services.cases.notes import ShownNote, read_notes
from app.services.cases.readers import is_head_of, readable_case
from app.services.cases.workflow import mark_seen
from app.services.reports.contents import AttachmentInfo
from app.services.reports.errors import FileDamaged, FileProblem, NotAllowed
from app.services.reports.messages import ThreadMessage, read_thread
from app.services.reports.places import Misplaced
from app.services.reports.reading import ReportText, file_problem, read_document, read_report
from crypto.errors import NoIdentityMatch
from crypto.keys import Identity

MAX_REASON_CHARS = 200


@dataclass(frozen=True)
class OpenedCase:
    text: ReportText | None  # None: these keys do not open it, or ``problem``
    problem: FileProblem | None
    thread: list[ThreadMessage]
    notes: list[ShownNote]
    has_identity: bool  # a real name was given (only heads may open it)


def open_case(
    session: Session,
    blobs: BlobStore,
    staff: StaffUser,
    report: Report,
    identities: Sequence[Identity],
    today: date,
) -> OpenedCase:
    """Decrypt what the case page shows, remember what ``staff`` saw, audit the opening."""
    if readable_case(session, staff, report.id) is None:
        raise CaseNotPermitted("not_a_reader")
    text, problem = None, None
    try:
        text = read_report(blobs, report, identities)
    except NotAllowed:
        pass
    except (Misplaced, FileDamaged) as refused:
        problem = FileProblem(refused.message_key)
    opened = OpenedCase(
        text=text,
        problem=problem,
        thread=read_thread(blobs, report, identities),
        notes=read_notes(session, blobs, report, identities),
        has_identity=any(e.role == EnvelopeRole.identity for e in report.envelopes),
    )
    mark_seen(session, staff, report, today)
    trail.record(session, "case_open", actor=staff, case_id=report.id)
    session.flush()
    return opened


@dataclass(frozen=True)
class RealName:
    name: str
    contact: str


def check_reason(reason: object) -> str:
    if not isinstance(reason, str):
        raise CaseError("reason_required")
    reason = " ".join(reason.split())
    if not reason:
        raise CaseError("reason_required")
    if len(reason) > MAX_REASON_CHARS:
        raise CaseError("reason_too_long")
    return reason


def open_real_name(
    session: Session,
    blobs: BlobStore,
    staff: StaffUser,
    report: Report,
    identities: Sequence[Identity],
    reason: str,
) -> RealName:
    """The reporter's name and contact, for an office head of the case who gives a reason
    (audited with it). CaseNotPermitted for anyone else; CaseError for no reason, no real
    name, or a block these keys do not open."""
    if readable_case(session, staff, report.id) is None or not is_head_of(session, staff, report):
        raise CaseNotPermitted("head_only")
    reason = check_reason(reason)
    blocks = [e for e in report.envelopes if e.role == EnvelopeRole.identity]
    if len(blocks) != 1:
        raise CaseError("no_real_name")
    try:
        document, _ = read_document(blobs, blocks[0], identities, "identity")
    except NoIdentityMatch:
        raise CaseError("real_name_not_for_key") from None
    except (Misplaced, FileDamaged):
        raise CaseError("real_name_damaged") from None
    trail.record(session, "real_name_open", actor=staff, case_id=report.id, detail=reason)
    session.flush()
    return RealName(str(document.get("name", "")), str(document.get("contact", "")))


def attachment_of(
    session: Session,
    blobs: BlobStore,
    staff: StaffUser,
    report: Report,
    envelope_id: str,
    identities: Sequence[Identity],
) -> tuple[ReportEnvelope, AttachmentInfo]:
    """The attachment row ``envelope_id`` of the case and what its text says of it (name,
    type), read with ``identities``. CaseNotPermitted when ``staff`` may not see the case;
    CaseError("no_such_file") when it is no attachment of this case or its text does not
    list it; ("file_" + problem) when it is not where it belongs."""
    if readable_case(session, staff, report.id) is None:
        raise CaseNotPermitted("not_a_reader")
    envelope = next((e for e in report.envelopes if e.id == envelope_id), None)
    if envelope is None or envelope.role != EnvelopeRole.attachment:
        raise CaseError("no_such_file")
    problem = file_problem(envelope)
    if problem is not None:
        raise CaseError(f"file_{problem.value}")
    if envelope.message is None:
        texts = [
            e for e in report.envelopes if e.role == EnvelopeRole.text and e.message_id is None
        ]
        kind = "report"
    else:
        texts = [e for e in envelope.message.envelopes if e.role == EnvelopeRole.text]
        kind = "message"
    text = next((e for e in texts if file_problem(e) is None), None)
    if text is None:
        raise CaseError("no_such_file")
    try:
        _document, infos = read_document(blobs, text, identities, kind)
    except NoIdentityMatch:
        raise CaseError("not_for_key") from None
    except (Misplaced, FileDamaged):
        raise CaseError("file_damaged") from None
    info = next((i for i in infos if i.position == envelope.position), None)
    if info is None:
        raise CaseError("no_such_file")
    return envelope, info


def record_download(session: Session, staff: StaffUser, report: Report, envelope_id: str) -> None:
    trail.record(session, "attachment_download", actor=staff, case_id=report.id, detail=envelope_id)
    session.flush()
