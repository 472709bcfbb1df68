"""Internal notes: what the office writes for itself about a case, encrypted to the case's
readers and the office's recovery key (as the report is), never to the reporter.

A note is an age file like a report's (header in ``case_notes``, payload in the blob store) and
names its place (report, role ``note``, position = its number), so a note moved onto another
case's row or swapped with another note does not open (places.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import CaseNote, EnvelopeRole, Report, StaffUser
from app.services.blobs import BlobStore
from app.services.cases import trail
from app.services.cases.changes import touch
from app.services.cases.errors import CaseError, CaseNotPermitted
from app.services.cases.readers import readable_case
from app.services.reports.contents import note_document
from app.services.reports.envelopes import delete_blobs, seal_payload
from app.services.reports.errors import FileDamaged, FileProblem, ReportInvalid
from app.services.reports.messages import check_message, office_recipients
from app.services.reports.places import Misplaced, Place
from app.services.reports.reading import read_document
from crypto.errors import NoIdentityMatch
from crypto.keys import Identity

MAX_NOTE_CHARS = 20_000


def add_note(
    session: Session,
    blobs: BlobStore,
    staff: StaffUser,
    report: Report,
    text: str,
    today: date,
) -> CaseNote:
    """Encrypt and add a note (flushed, not committed). CaseError("note_required" or
    "note_too_long") for the text; CaseNotPermitted for someone who may not see the case."""
    blobs = blobs.bound(session)  # its blobs in this transaction, where they can be
    if readable_case(session, staff, report.id) is None:
        raise CaseNotPermitted("not_a_reader")
    try:
        text = check_message(text, [])
    except ReportInvalid as invalid:
        raise CaseError(f"note_{invalid.errors['text']}") from None
    recipients = office_recipients(session, report)  # readers and recovery: no reporter
    session.execute(select(Report.id).where(Report.id == report.id).with_for_update())
    last = session.scalar(select(func.max(CaseNote.seq)).where(CaseNote.report_id == report.id))
    seq = (last or 0) + 1
    payload = seal_payload(blobs, note_document(text))
    try:
        place = Place(report.id, EnvelopeRole.note, 0, seq)
        note = CaseNote(
            report_id=report.id,
            seq=seq,
            author_id=staff.id,
            created_on=today,
            header=payload.header(recipients, place),
            blob_key=payload.blob_key,
            size=payload.size,
        )
        session.add(note)
        session.flush()
        touch(session, report.id)
        trail.record(session, "note", actor=staff, case_id=report.id, detail=f"note {seq}")
        session.flush()
    except BaseException:
        delete_blobs(blobs, [payload.blob_key])
        raise
    return note


@dataclass(frozen=True)
class ShownNote:
    """A note as a reader sees it; ``text`` None: these keys do not open it, or ``problem``."""

    seq: int
    author: str
    created_on: date
    text: str | None
    problem: FileProblem | None = None


def notes_of(session: Session, report: Report) -> list[CaseNote]:
    return list(
        session.scalars(
            select(CaseNote).where(CaseNote.report_id == report.id).order_by(CaseNote.seq)
        )
    )


def read_notes(
    session: Session, blobs: BlobStore, report: Report, identities: Sequence[Identity]
) -> list[ShownNote]:
    """The case's notes, decrypted with ``identities`` for this call only."""
    shown = []
    for note in notes_of(session, report):
        head = (note.seq, note.author.display_name, note.created_on)
        try:
            document, _ = read_document(blobs, note, identities, "note")  # type: ignore[arg-type]
        except NoIdentityMatch:
            shown.append(ShownNote(*head, None))
            continue
        except (Misplaced, FileDamaged) as refused:
            shown.append(ShownNote(*head, None, FileProblem(refused.message_key)))
            continue
        text = document.get("text")
        if not isinstance(text, str):
            shown.append(ShownNote(*head, None, FileProblem.damaged))
            continue
        shown.append(ShownNote(*head, text))
    return shown
