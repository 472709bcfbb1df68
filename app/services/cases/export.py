"""A case as one age file for offline handling: a tar archive of its documents and a plain-text
index, encrypted to recipients chosen among the case's readers or typed in (``age1...``).

The standard ``age`` CLI opens it (``age -d -i key.txt case.age | tar -x``), and so does
``crypto``. What goes in is a list of documents (``export_documents``): the report's text, each
message and each internal note rendered as UTF-8 text, every file under its original name, and
any other file of the office as it is. The real-name block
never goes in; the index says whether there is one.

Memory stays bounded: the files are decrypted chunk by chunk straight into the archive, and the
archive is encrypted chunk by chunk as it is made (``export_chunks`` yields it, for a streamed
download). Every file is opened once (its header authenticated) before the first byte is made,
so a key that does not open one refuses the export at once rather than halfway.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, BinaryIO

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.models import CaseNote, EnvelopeRole, MessageAuthor, Report, ReportEnvelope, StaffUser
from app.models.audit import DETAIL_MAX
from app.services.audit import AuditAction, record
from app.services.blobs import BlobError, BlobStore
from app.services.cases.access import (
    AccessRefused,
    case_envelopes,
    case_notes,
    case_readers,
    describe,
    require_reader,
)
from app.services.reports import envelopes, places
from app.services.reports.contents import MAX_DOCUMENT_BYTES, attachments_of, decode
from app.services.reports.places import Misplaced
from crypto.age import encrypt
from crypto.errors import CryptoError, NoIdentityMatch
from crypto.keys import Identity, X25519Recipient
from crypto.stream import CHUNK_SIZE

MAX_TYPED_RECIPIENTS = 10
INDEX_NAME = "索引_index.txt"
_BLOCK = tarfile.BLOCKSIZE
# Reporters name their files: in the archive a name keeps its letters, never a path.
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
_MAX_NAME_CHARS = 120
# The report's fields in the order and words of the form (both languages: the archive is read
# offline, by whoever it is handed to).
FIELD_LABELS = [
    ("kind", "类型 Kind"),
    ("category", "问题类别 Category"),
    ("unit_code", "被反映单位 Unit"),
    ("level", "被反映人层级 Level"),
    ("persons", "被反映人 Persons concerned"),
    ("what", "主要问题 What happened"),
    ("when", "时间 When"),
    ("where", "地点 Where"),
    ("witnesses", "证人或线索 Witnesses"),
]
AUTHORS = {MessageAuthor.office: "办理机构 office", MessageAuthor.reporter: "举报人 reporter"}


class ExportRefused(AccessRefused):
    """An export was refused; ``message`` is for the person who tried."""


@dataclass
class ExportDocument:
    """One file of the archive: small rendered text (``data``), or a file of the case
    decrypted into the archive as it is written (``envelope``, ``size`` bytes)."""

    path: str
    description: str
    data: bytes | None = None
    envelope: ReportEnvelope | None = None
    size: int = 0
    sha256: str = field(default="", init=False)

    def __post_init__(self) -> None:
        if self.data is not None:
            self.size = len(self.data)


# --- recipients --------------------------------------------------------------------------------


def export_recipients(
    session: Session, report: Report, reader_ids: Iterable[int], typed: str = ""
) -> list[X25519Recipient]:
    """The recipients of an export: readers of the case chosen by staff id, and the ``age1...``
    keys typed in (one per line, or separated by spaces or commas).

    ExportRefused: none chosen, a chosen id that is no reader of the case now, a typed key
    that is not an age X25519 public key (named by its place in the list).
    """
    readers = case_readers(session, report).readers
    chosen = []
    for staff_id in dict.fromkeys(reader_ids):
        key = readers.get(staff_id)
        if key is None:
            raise ExportRefused(_l("A chosen colleague does not read this case."))
        chosen.append(key)
    pieces = [p for p in re.split(r"[\s,，、]+", unicodedata.normalize("NFKC", typed)) if p]
    if len(pieces) > MAX_TYPED_RECIPIENTS:
        raise ExportRefused(_l("Type at most %(count)s age keys.", count=MAX_TYPED_RECIPIENTS))
    for number, piece in enumerate(pieces, start=1):
        try:
            chosen.append(X25519Recipient.parse(piece))
        except (CryptoError, ValueError):
            raise ExportRefused(
                _l(
                    "Typed key %(number)s is not an age public key: it starts with age1 and is "
                    "62 characters long (made by age-keygen).",
                    number=number,
                )
            ) from None
    unique = list({str(key): key for key in chosen}.values())
    if not unique:
        raise ExportRefused(_l("Choose a colleague or type an age key to export the case to."))
    return unique


# --- the documents -----------------------------------------------------------------------------


def archive_root(report: Report) -> str:
    """The folder that holds everything in the archive."""
    return f"案件_{report.id[:8]}"


def safe_name(name: str) -> str:
    """A reporter's file name as a name inside the archive: no folders, no control characters,
    no leading dots, at most ``_MAX_NAME_CHARS`` characters (the extension kept)."""
    name = _UNSAFE.sub("_", unicodedata.normalize("NFC", name)).strip().lstrip(".")
    if len(name) > _MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot else ""
        name = stem[: _MAX_NAME_CHARS - len(ext) - 1] + ("." + ext if ext else "")
    return name or "file"


def _report_text(document: dict[str, Any], report: Report) -> bytes:
    fields = document.get("fields") or {}
    lines = [
        f"案件编号 Case: {report.id}",
        f"收到日期 Received: {report.received_on.isoformat()}",
        "",
    ]
    for key, label in FIELD_LABELS:
        value = str(fields.get(key, "")).strip()
        if value:
            lines += [f"{label}:", *(f"  {line}" for line in value.splitlines()), ""]
    return ("\n".join(lines).rstrip() + "\n").encode()


def _message_text(document: dict[str, Any], author: MessageAuthor, on: date, seq: int) -> bytes:
    lines = [f"第 {seq} 条消息 Message {seq}", f"{AUTHORS[author]}, {on.isoformat()}", ""]
    lines.append(str(document.get("text", "")))
    return ("\n".join(lines).rstrip() + "\n").encode()


def _note_text(document: dict[str, Any], note: CaseNote) -> bytes:
    lines = [
        f"第 {note.seq} 条内部备注 Internal note {note.seq}",
        f"{note.author.display_name} ({note.author.username}), {note.created_on.isoformat()}",
        "",
        str(document.get("text", "")),
    ]
    return ("\n".join(lines).rstrip() + "\n").encode()


def _read_small(blobs: BlobStore, envelope: ReportEnvelope, identities, kind: str):
    data = envelopes.read_bytes(blobs, envelope, identities, MAX_DOCUMENT_BYTES)
    document = decode(data, kind)
    return document, {info.position: info for info in attachments_of(document)}


def _check_opens(blobs: BlobStore, envelope: ReportEnvelope, identities) -> None:
    """Authenticate the file's header now (and that its blob is there), before streaming."""
    with envelopes.opened(blobs, envelope, identities):
        pass


@contextmanager
def _refused_unless_read(place) -> Iterator[None]:
    """Turn what reading one file of the case can raise into the export's refusal naming it."""
    try:
        yield
    except NoIdentityMatch:
        raise ExportRefused(
            _l(
                "Your key does not open %(file)s of this case, so the case cannot be "
                "exported with it.",
                file=describe(place),
            )
        ) from None
    except (Misplaced, CryptoError, BlobError, OSError, ValueError, KeyError, TypeError):
        raise ExportRefused(
            _l(
                "A file of this case (%(file)s) is damaged or not where it belongs, so the "
                "case cannot be exported. Ask an administrator to run: portal reports fsck",
                file=describe(place),
            )
        ) from None


def export_documents(
    session: Session, blobs: BlobStore, report: Report, identities: Sequence[Identity]
) -> tuple[list[ExportDocument], bool]:
    """The documents of the case in archive order, opened with ``identities``; and whether
    the case has a real-name block (which is never exported).

    ExportRefused when a file does not open with these keys, is damaged or misplaced.
    """
    root = archive_root(report)
    documents: list[ExportDocument] = []
    has_identity = False
    report_files: dict[int, Any] = {}
    message_files: dict[int, dict[int, Any]] = {}
    # The texts first: they name the files that follow them.
    ordered = sorted(case_envelopes(session, report), key=lambda e: e.role != EnvelopeRole.text)
    for envelope in ordered:
        place = places.of_row(envelope)
        with _refused_unless_read(place):
            if envelope.role == EnvelopeRole.identity:
                has_identity = True
                continue
            message = envelope.message
            if envelope.role == EnvelopeRole.text and message is None:
                document, report_files = _read_small(blobs, envelope, identities, "report")
                documents.append(
                    ExportDocument(
                        f"{root}/01_举报内容_report.txt",
                        "举报内容 the report",
                        data=_report_text(document, report),
                    )
                )
            elif envelope.role == EnvelopeRole.text and message is not None:
                document, message_files[message.seq] = _read_small(
                    blobs, envelope, identities, "message"
                )
                documents.append(
                    ExportDocument(
                        f"{root}/03_往来消息_thread/{message.seq:03d}_消息_message.txt",
                        f"第 {message.seq} 条消息 message {message.seq} "
                        f"({AUTHORS[message.author]}, {message.created_on.isoformat()})",
                        data=_message_text(
                            document, message.author, message.created_on, message.seq
                        ),
                    )
                )
            else:
                _check_opens(blobs, envelope, identities)
                size = envelopes.stored_plaintext_size(blobs, envelope)
                if envelope.role == EnvelopeRole.attachment:
                    infos = report_files if message is None else message_files.get(message.seq, {})
                    info = infos.get(envelope.position)
                    name = safe_name(info.name) if info else f"file-{envelope.position + 1}"
                    if message is None:
                        folder = f"{root}/02_举报附件_files"
                        what = f"举报附件 file {envelope.position + 1} of the report"
                    else:
                        folder = f"{root}/03_往来消息_thread/{message.seq:03d}_附件_files"
                        what = f"第 {message.seq} 条消息的附件 file of message {message.seq}"
                    path = f"{folder}/{envelope.position + 1:02d}_{name}"
                else:  # a file of the office's own (notes): as it is
                    seq = message.seq if message is not None else 0
                    path = f"{root}/05_其他_other/{envelope.role}_{seq}_{envelope.position + 1}"
                    what = f"{envelope.role}"
                documents.append(ExportDocument(path, what, envelope=envelope, size=size))
    for note in case_notes(session, report):
        place = places.of_row(note)  # type: ignore[arg-type]
        with _refused_unless_read(place):
            data = envelopes.read_bytes(blobs, note, identities, MAX_DOCUMENT_BYTES)  # type: ignore[arg-type]
            document = decode(data, "note")
        documents.append(
            ExportDocument(
                f"{root}/04_内部备注_notes/{note.seq:03d}_备注_note.txt",
                f"第 {note.seq} 条内部备注 internal note {note.seq}",
                data=_note_text(document, note),
            )
        )
    # Report's text first, then its files, then the thread in order (as listed above), then
    # the internal notes and the office's other files.
    documents.sort(key=lambda d: d.path)
    return documents, has_identity


def index_text(
    report: Report, documents: Sequence[ExportDocument], has_identity: bool, today: date
) -> bytes:
    """The plain-text index of the archive (UTF-8): the case, then every file with its size,
    SHA-256 and what it is."""
    lines = [
        "案件导出索引 Case export index",
        f"案件编号 Case: {report.id}",
        f"办理机构 Office: {report.office.name_zh} ({report.office.name_en})",
        f"收到日期 Received: {report.received_on.isoformat()}",
        f"导出日期 Exported: {today.isoformat()}",
        "实名信息 Real name: " + ("有，未导出 exists, not exported" if has_identity else "无 none"),
        "",
        f"文件 Files ({len(documents)}):",
    ]
    for document in documents:
        lines.append(f"{document.path}")
        lines.append(
            f"    {document.size} 字节 bytes  SHA-256 {document.sha256}  {document.description}"
        )
    return ("\n".join(lines) + "\n").encode()


# --- the archive -------------------------------------------------------------------------------


def _member_header(path: str, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(path)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)


def _archive(
    blobs: BlobStore,
    identities: Sequence[Identity],
    report: Report,
    documents: Sequence[ExportDocument],
    has_identity: bool,
    today: date,
) -> Iterator[bytes | memoryview]:
    """The tar archive, piece by piece (a file's plaintext chunk by chunk)."""
    mtime = int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp())
    for document in documents:
        yield _member_header(document.path, document.size, mtime)
        digest = hashlib.sha256()
        if document.data is not None:
            digest.update(document.data)
            yield document.data
            got = len(document.data)
        else:
            assert document.envelope is not None
            got = 0
            with envelopes.opened(blobs, document.envelope, identities) as plaintext:
                for view in plaintext.views():
                    got += len(view)
                    if got > document.size:
                        break
                    digest.update(view)
                    yield view
        if got != document.size:  # the blob changed since it was measured: stop, never lie
            raise ExportRefused(_l("A file of this case changed during the export. Try again."))
        document.sha256 = digest.hexdigest()
        yield _padding(document.size)
    index = index_text(report, documents, has_identity, today)
    yield _member_header(f"{archive_root(report)}/{INDEX_NAME}", len(index), mtime)
    yield index
    yield _padding(len(index))
    yield b"\0" * (2 * _BLOCK)


class _Drain(io.RawIOBase):
    """Where the age writer puts its bytes until they are taken."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts, self.size = [], 0
        return out


@dataclass(frozen=True)
class Export:
    """A case ready to stream: its documents are opened, its recipients checked."""

    report: Report
    documents: list[ExportDocument]
    has_identity: bool
    recipients: list[X25519Recipient]
    file_name: str


def prepare_export(
    session: Session,
    blobs: BlobStore,
    report: Report,
    identities: Sequence[Identity],
    actor: StaffUser,
    recipients: Sequence[X25519Recipient],
) -> Export:
    """Check that ``actor`` reads the case and that ``identities`` open every file of it; the
    export to stream then. ExportRefused (or NotAReader) otherwise."""
    require_reader(session, report, actor)
    if not recipients:
        raise ExportRefused(_l("Choose a colleague or type an age key to export the case to."))
    documents, has_identity = export_documents(session, blobs, report, identities)
    detail = _recipients_detail(session, report, recipients)
    record(session, AuditAction.export, actor=actor, case_id=report.id, detail=detail)
    return Export(report, documents, has_identity, list(recipients), f"case-{report.id[:8]}.age")


def _recipients_detail(
    session: Session, report: Report, recipients: Sequence[X25519Recipient]
) -> str:
    """Whom an export is for, for the audit trail: readers by username, other keys as typed."""
    by_key = {str(key): staff_id for staff_id, key in case_readers(session, report).readers.items()}
    names = []
    for key in recipients:
        staff_id = by_key.get(str(key))
        user = session.get(StaffUser, staff_id) if staff_id is not None else None
        names.append(user.username if user is not None else str(key))
    detail = "to " + ", ".join(names)
    return detail if len(detail) <= DETAIL_MAX else detail[: DETAIL_MAX - 1] + "…"


def export_chunks(
    blobs: BlobStore, export: Export, identities: Sequence[Identity], today: date
) -> Iterator[bytes]:
    """The age file of ``export``, in pieces of about one chunk (64 KiB)."""
    drain = _Drain()
    writer = encrypt(drain, export.recipients)  # type: ignore[arg-type]
    pieces = _archive(
        blobs, identities, export.report, export.documents, export.has_identity, today
    )
    for piece in pieces:
        writer.write(piece)
        if drain.size >= CHUNK_SIZE:
            yield drain.take()
    writer.close()
    yield drain.take()


def write_export(
    blobs: BlobStore,
    export: Export,
    identities: Sequence[Identity],
    today: date,
    dst: BinaryIO,
) -> None:
    """Write the age file of ``export`` to ``dst``."""
    for chunk in export_chunks(blobs, export, identities, today):
        dst.write(chunk)
