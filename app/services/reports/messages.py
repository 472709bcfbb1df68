"""A report's thread: messages between the office and the reporter, each an encrypted text with
its attachments, readable by the report's current readers, the recovery key and the reporter.

The reporter's key is derived from the receipt code (crypto/receipts.py), so a reporter reads
the office's messages with the code alone and nothing about them is kept in between.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import (
    EnvelopeRole,
    MessageAuthor,
    Report,
    ReportExclusion,
    ReportMessage,
    ReportReader,
    ReportStatus,
    StaffUser,
)
from app.services.blobs import BlobStore
from app.services.cases.changes import touch
from app.services.reports.contents import AttachmentInfo, message_document
from app.services.reports.envelopes import delete_blobs, new_envelope, seal_payload
from app.services.reports.errors import (
    ChannelUnavailable,
    FileDamaged,
    FileProblem,
    NotAllowed,
    ReportInvalid,
)
from app.services.reports.places import Misplaced
from app.services.reports.reading import (
    ListedFile,
    file_problem,
    listed_files,
    read_document,
)
from app.services.reports.recipients import parse_key
from app.services.reports.uploads import Upload
from crypto.errors import NoIdentityMatch
from crypto.keys import Identity, X25519Recipient

MAX_MESSAGE_CHARS = 20_000


def check_message(text: str, uploads: Sequence[Upload]) -> str:
    """The text, trimmed; ReportInvalid({"text": key}) when empty (and no file) or too long."""
    if not isinstance(text, str) or "\x00" in text:
        raise ReportInvalid({"text": "invalid"})
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ReportInvalid({"text": "invalid"}) from None
    if len(text) > MAX_MESSAGE_CHARS:
        raise ReportInvalid({"text": "too_long"})
    if not text and not uploads:
        raise ReportInvalid({"text": "required"})
    return text


def office_recipients(session: Session, report: Report) -> list[X25519Recipient]:
    """The report's current readers (active, with a key) and its office's recovery key.

    Never one the reporter kept out, even were a row of readers to name them (a changed
    database): the exclusions win."""
    kept_out = select(ReportExclusion.staff_id).where(ReportExclusion.report_id == report.id)
    rows = session.scalars(
        select(StaffUser.age_recipient)
        .join(ReportReader, ReportReader.staff_id == StaffUser.id)
        .where(
            ReportReader.report_id == report.id,
            StaffUser.active.is_(True),
            StaffUser.id.not_in(kept_out),
        )
        .order_by(StaffUser.id)
    )
    keys = [key for key in map(parse_key, rows) if key is not None]
    recovery = parse_key(report.office.recovery_recipient)
    if recovery is not None:
        keys.append(recovery)
    if not keys:
        raise ChannelUnavailable("nobody in the office can read this report")
    return keys


def store_message(
    session: Session,
    blobs: BlobStore,
    report: Report,
    author: MessageAuthor,
    text: str,
    uploads: Sequence[Upload],
    today: date,
) -> ReportMessage:
    """Encrypt and add a message to the thread (flushed, not committed).

    It goes to the office's readers, the recovery key and the reporter. On an error the
    uploads' blobs and the message's are deleted.
    """
    written = [upload.blob_key for upload in uploads]
    try:
        text = check_message(text, uploads)
        recipients = [*office_recipients(session, report)]
        recipients.append(X25519Recipient.parse(report.reporter_recipient))
        # Two messages at once must not take the same place: the report's row is the lock.
        session.execute(select(Report.id).where(Report.id == report.id).with_for_update())
        last = session.scalar(
            select(func.max(ReportMessage.seq)).where(ReportMessage.report_id == report.id)
        )
        message = ReportMessage(report=report, seq=(last or 0) + 1, author=author, created_on=today)
        session.add(message)
        infos = [
            AttachmentInfo(position, u.name, u.content_type, u.size, u.cleaning)
            for position, u in enumerate(uploads)
        ]
        body = seal_payload(blobs, message_document(text, infos))
        written.append(body.blob_key)
        session.add(new_envelope(report, EnvelopeRole.text, body, recipients, message=message))
        for position, upload in enumerate(uploads):
            session.add(
                new_envelope(
                    report,
                    EnvelopeRole.attachment,
                    upload.payload,
                    recipients,
                    position=position,
                    message=message,
                )
            )
        session.flush()
        touch(session, report.id, by_reporter=author == MessageAuthor.reporter)
    except BaseException:
        delete_blobs(blobs, written)
        raise
    return message


def post_office_message(
    session: Session,
    blobs: BlobStore,
    report: Report,
    staff_user: StaffUser,
    text: str,
    uploads: Sequence[Upload],
    today: date,
) -> ReportMessage:
    """A message from the office to the reporter, by one of the report's readers.

    The first one acknowledges a report that was only received. Flushed, not committed: the
    console commits it with its audit entry. (If that transaction is rolled back, the blobs
    are left without rows; ``portal reports fsck`` removes them.)
    """
    blobs = blobs.bound(session)  # its blobs in this transaction, where they can be
    reader = session.get(ReportReader, (report.id, staff_user.id))
    kept_out = session.get(ReportExclusion, (report.id, staff_user.id)) is not None
    if reader is None or kept_out or not staff_user.active:
        delete_blobs(blobs, [upload.blob_key for upload in uploads])
        raise NotAllowed("only a reader of the report may write to its reporter")
    message = store_message(session, blobs, report, MessageAuthor.office, text, uploads, today)
    if report.status == ReportStatus.received:
        report.status = ReportStatus.acknowledged
    session.flush()
    return message


@dataclass(frozen=True)
class ThreadMessage:
    """One message as a reader sees it. ``text`` None: not shown, because these keys cannot
    open it (``problem`` None) or because of ``problem``."""

    seq: int
    author: MessageAuthor
    created_on: date
    text: str | None
    attachments: tuple[ListedFile, ...] = ()
    problem: FileProblem | None = None


def read_thread(
    blobs: BlobStore, report: Report, identities: Sequence[Identity]
) -> list[ThreadMessage]:
    """The thread, decrypted with ``identities`` for this call only.

    A message these keys cannot open (written before its reader was granted access) is listed
    with ``text`` None. So is one whose file is not at the place it names (moved from another
    report or message, swapped) or is damaged, with its ``problem``; a file in a message's
    list that is not at its place carries its ``problem`` too, and is not to be offered; so
    does a listed file whose row is not there (``missing``) and a row the list does not name
    (``misplaced``, ``info`` None). A message whose text's row is gone is ``missing``.
    """
    thread = []
    for message in report.messages:
        shown = (message.seq, message.author, message.created_on)
        texts = [e for e in message.envelopes if e.role == EnvelopeRole.text]
        if not texts:  # its text's row moved away or deleted: said, not left out
            thread.append(ThreadMessage(*shown, None, problem=FileProblem.missing))
            continue
        # Another message's text moved here too: the one in its place is the text, the other
        # is left over (listed as misplaced, below).
        text_envelope = next((e for e in texts if file_problem(e) is None), texts[0])
        try:
            document, infos = read_document(blobs, text_envelope, identities, "message")
        except NoIdentityMatch:
            thread.append(ThreadMessage(*shown, None))
            continue
        except (Misplaced, FileDamaged) as refused:
            thread.append(ThreadMessage(*shown, None, problem=FileProblem(refused.message_key)))
            continue
        text = document.get("text")
        if not isinstance(text, str):
            thread.append(ThreadMessage(*shown, None, problem=FileProblem.damaged))
            continue
        others = [e for e in message.envelopes if e is not text_envelope]
        thread.append(ThreadMessage(*shown, text, listed_files(infos, others)))
    return thread
