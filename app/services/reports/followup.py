"""Following a report up with its receipt code: open it, read the thread, reply, see progress.

The code is turned into the lookup id and the reporter's key by a memory-hard derivation
(crypto/receipts.py), once under each receipt version in use (receipt_versions.py). A
well-formed code that opens nothing costs the same derivations as one that does, whichever
version its report has, and the answer does not say which part was wrong. The code is never kept:
follow-up sessions (followup_sessions.py) hold the reporter's key sealed under a token that
only the browser has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from app.models import (
    EnvelopeRole,
    MessageAuthor,
    Report,
    ReportEnvelope,
    ReportMessage,
    ReportStatus,
)
from app.services.blobs import BlobStore
from app.services.cases import deadlines
from app.services.cases.deadlines import StepState
from app.services.reports.durability import commit_durably, prepare_durable_commit
from app.services.reports.envelopes import delete_blobs
from app.services.reports.errors import FileDamaged, NotAllowed
from app.services.reports.followup_sessions import FollowupSession, FollowupSessions
from app.services.reports.messages import ThreadMessage, read_thread, store_message
from app.services.reports.places import Misplaced
from app.services.reports.reading import ReportText, file_problem, read_document, read_report
from app.services.reports.receipt_versions import ReceiptVersionRefused, find_by_code
from app.services.reports.uploads import Upload
from crypto.errors import NoIdentityMatch, ReceiptCodeError
from crypto.keys import X25519Identity
from crypto.receipts import RECEIPT_VERSIONS, ReceiptVersions

__all__ = [
    "FollowupSession",
    "FollowupSessions",
    "Opened",
    "Progress",
    "ReceiptVersionRefused",
    "attachment_name",
    "open_by_code",
    "own_report",
    "progress",
    "reply",
    "thread",
]


@dataclass(frozen=True)
class Opened:
    report: Report
    identity: X25519Identity  # the reporter's key: start a follow-up session with it


def open_by_code(
    session: Session,
    pepper: bytes,
    code: str,
    versions: ReceiptVersions = RECEIPT_VERSIONS,
) -> Opened | None:
    """The report a receipt code opens and the reporter's key, or None.

    A code that is not 20 digits is None at once (nothing to derive: it reveals nothing);
    the view may say so using crypto.parse_receipt_code. A well-formed code is derived under
    every receipt version in use. A report found under another version than the one it
    stores raises ReceiptVersionRefused.
    """
    try:
        found = find_by_code(session, pepper, code, versions)
    except ReceiptCodeError:
        return None
    if found is None:
        return None
    return Opened(found.report, found.identity)


def _check_reporter(report: Report, identity: X25519Identity) -> None:
    if report.reporter_recipient != str(identity.recipient):
        raise NotAllowed("this key is not the reporter's")


def thread(
    session: Session, blobs: BlobStore, report: Report, identity: X25519Identity
) -> list[ThreadMessage]:
    """The messages of the thread, decrypted with the reporter's key for this call only."""
    _check_reporter(report, identity)
    return read_thread(blobs, report, [identity])


def own_report(blobs: BlobStore, report: Report, identity: X25519Identity) -> ReportText | None:
    """The report as its reporter sent it (text fields and files, never the real name),
    decrypted with the reporter's key for this call only; None when no copy was kept.

    Raises Misplaced or FileDamaged as ``read_report`` does, and NotAllowed when the key is
    not the reporter's or does not open the copy the report says it has.
    """
    _check_reporter(report, identity)
    if not report.reporter_copy:
        return None
    return read_report(blobs, report, [identity])


def attachment_name(
    blobs: BlobStore, report: Report, identity: X25519Identity, envelope: ReportEnvelope
) -> str | None:
    """The name the message of ``envelope`` (or the report, for one of the report's own
    files) gives this file, read with the reporter's key; None if that text cannot be read
    or does not list it.

    A download link names the file by its id alone: a name in the address would stay in the
    browser's history (a shared workshop PC's), which the name is not."""
    _check_reporter(report, identity)
    if envelope.report_id != report.id:
        return None
    message = envelope.message
    if message is None:
        return _report_file_name(blobs, report, identity, envelope)
    if message.report_id != report.id:
        return None
    texts = [e for e in message.envelopes if e.role == EnvelopeRole.text]
    text = next((e for e in texts if file_problem(e) is None), None)
    if text is None:
        return None
    try:
        _document, infos = read_document(blobs, text, [identity], "message")
    except (NoIdentityMatch, Misplaced, FileDamaged):
        return None
    return next((info.name for info in infos if info.position == envelope.position), None)


def _report_file_name(
    blobs: BlobStore, report: Report, identity: X25519Identity, envelope: ReportEnvelope
) -> str | None:
    try:
        sent = own_report(blobs, report, identity)
    except (NotAllowed, Misplaced, FileDamaged):
        return None
    if sent is None:
        return None
    return next(
        (
            listed.info.name
            for listed in sent.attachments
            if listed.envelope_id == envelope.id and listed.info is not None
        ),
        None,
    )


def reply(
    session: Session,
    blobs: BlobStore,
    report: Report,
    identity: X25519Identity,
    text: str,
    uploads: Sequence[Upload],
    today: date,
) -> ReportMessage:
    """A message from the reporter: to the report's readers, the recovery key and the reporter.

    Committed durably before it returns, as a report is; on any error the uploads' blobs are
    deleted and nothing is stored.
    """
    blobs = blobs.bound(session)  # its blobs in this transaction, where they can be
    written = [upload.blob_key for upload in uploads]
    try:
        _check_reporter(report, identity)
        prepare_durable_commit(session)
        message = store_message(
            session, blobs, report, MessageAuthor.reporter, text, uploads, today
        )
        written += [envelope.blob_key for envelope in message.envelopes]
        commit_durably(session, blobs.day_start(today))
    except BaseException:
        session.rollback()
        delete_blobs(blobs, written)
        raise
    return message


@dataclass(frozen=True)
class Progress:
    """Where a report stands, as dates for the view to phrase ("acknowledged", "due by ...").

    ``steps``: every step the office owes the reporter (app/services/cases/deadlines.py), with
    its date and whether it is met or overdue: the same dates the office's case page shows.
    """

    status: ReportStatus
    received_on: date
    acknowledge_by: date
    feedback_by: date
    acknowledgement_overdue: bool
    feedback_overdue: bool
    steps: tuple[StepState, ...] = ()


def progress(report: Report, today: date) -> Progress:
    """The report's status and its deadlines, and whether any has passed unmet."""
    steps = tuple(deadlines.steps(report, report.case, today)) if report.case else ()
    return Progress(
        status=report.status,
        received_on=report.received_on,
        acknowledge_by=report.acknowledge_by,
        feedback_by=report.feedback_by,
        acknowledgement_overdue=report.status == ReportStatus.received
        and today > report.acknowledge_by,
        feedback_overdue=report.status not in deadlines.DONE and today > report.feedback_by,
        steps=steps,
    )
