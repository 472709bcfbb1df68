"""Disclosure attachments: what may be uploaded, checked by content, and safe file names."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import BinaryIO

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.models import Disclosure, DisclosureAttachment, StaffUser, StepAction
from app.services.blobs import BlobStore, BlobTooLarge, StoredBlob
from app.services.disclosures import steps

ZIP = b"PK\x03\x04"
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(frozen=True)
class FileKind:
    content_type: str
    inline: bool  # shown in the browser (images, PDF) rather than downloaded


KINDS: dict[str, FileKind] = {
    "pdf": FileKind("application/pdf", True),
    "png": FileKind("image/png", True),
    "jpg": FileKind("image/jpeg", True),
    "jpeg": FileKind("image/jpeg", True),
    "gif": FileKind("image/gif", True),
    "webp": FileKind("image/webp", True),
    "csv": FileKind("text/csv", False),
    "docx": FileKind(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", False
    ),
    "xlsx": FileKind("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", False),
    "pptx": FileKind(
        "application/vnd.openxmlformats-officedocument.presentationml.presentation", False
    ),
    "odt": FileKind("application/vnd.oasis.opendocument.text", False),
    "ods": FileKind("application/vnd.oasis.opendocument.spreadsheet", False),
    "doc": FileKind("application/msword", False),
    "xls": FileKind("application/vnd.ms-excel", False),
    "ppt": FileKind("application/vnd.ms-powerpoint", False),
}
ZIP_EXTENSIONS = {"docx", "xlsx", "pptx", "odt", "ods"}
OLE_EXTENSIONS = {"doc", "xls", "ppt"}


class AttachmentError(Exception):
    """An upload was refused; ``message`` tells the publisher what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(str(message))
        self.message = message


def safe_filename(name: str) -> str:
    """A display name with no path in it: no folders, NULs, control characters or dot-files.

    Leading dots and spaces go however they are mixed, and so do characters NFKC folds into
    them (a full-width "．" is "."), so no name starts with a dot even after normalising.
    A name that was only an extension (".pdf", "  ．．pdf") becomes "attachment.pdf"; other
    names keep what follows the dots (".招标结果" is "招标结果").
    """
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    lead = 0
    while lead < len(name) and all(
        c == "." or c.isspace() for c in unicodedata.normalize("NFKC", name[lead])
    ):
        lead += 1
    had_dot = "." in unicodedata.normalize("NFKC", name[:lead])
    name = name[lead:].rstrip()
    if had_dot and re.fullmatch(r"[0-9A-Za-z]{1,9}", name):  # what is left is an extension
        name = f"attachment.{name}"
    if len(name) > 120:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:110] + dot + ext[:9]) if dot else name[:120]
    return name or "attachment"


def extension_of(name: str) -> str:
    _stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot else ""


def matches_content(ext: str, head: bytes) -> bool:
    """Does the content start the way a file with this extension must?"""
    if ext == "pdf":
        return head.startswith(b"%PDF-")
    if ext == "png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if ext in ("jpg", "jpeg"):
        return head.startswith(b"\xff\xd8\xff")
    if ext == "gif":
        return head.startswith((b"GIF87a", b"GIF89a"))
    if ext == "webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if ext in ZIP_EXTENSIONS:
        return head.startswith(ZIP)
    if ext in OLE_EXTENSIONS:
        return head.startswith(OLE)
    if ext == "csv":
        if b"\x00" in head or head.startswith((ZIP, OLE, b"%PDF")) or not head.strip():
            return False
        for encoding in ("utf-8", "gb18030"):
            try:
                # The head may end inside a multi-byte character: allow a few bytes short.
                head[: len(head) - 3 if len(head) == 4096 else len(head)].decode(encoding)
            except UnicodeDecodeError:
                continue
            return b"<" not in head[:1] and b"<script" not in head.lower()
        return False
    return False


def store_file(
    blobs: BlobStore, filename: str, stream: BinaryIO, max_bytes: int
) -> tuple[str, FileKind, StoredBlob]:
    """Store an upload's content if its name and content agree on an allowed type.

    Returns the safe name, its kind and the stored blob; raises AttachmentError (and keeps
    nothing) otherwise. ``add_attachment`` adds the row; the bulk import adds many at once.
    """
    name = safe_filename(filename)
    ext = extension_of(name)
    kind = KINDS.get(ext)
    if kind is None:
        raise AttachmentError(
            _l("This file type is not accepted. Upload PDF, images, office documents or CSV.")
        )
    try:
        stored = blobs.put(stream, max_bytes)
    except BlobTooLarge:
        raise AttachmentError(
            _l("The file is larger than %(size)s MB.", size=max(1, max_bytes // (1024 * 1024)))
        ) from None
    if stored.size == 0 or not matches_content(ext, stored.head):
        blobs.delete(stored.key)
        raise AttachmentError(
            _l("The file's content does not match its type (.%(ext)s). Check the file.", ext=ext)
        )
    return name, kind, stored


def add_attachment(
    session: Session,
    blobs: BlobStore,
    disclosure: Disclosure,
    uploader: StaffUser | None,
    filename: str,
    stream: BinaryIO,
    max_bytes: int,
) -> DisclosureAttachment:
    """Store an upload if its name and content agree on an allowed type; refuse it otherwise.

    A staff member's upload is recorded as a workflow step: a file added to the working copy
    changes what an approver publishes, so its uploader is one of the copy's contributors
    (``reviewing.contributors``).
    """
    blobs = blobs.bound(session)  # its blobs in this transaction, where they can be
    name, kind, stored = store_file(blobs, filename, stream, max_bytes)
    attachment = DisclosureAttachment(
        disclosure=disclosure,
        filename=name,
        content_type=kind.content_type,
        size=stored.size,
        sha256=stored.sha256,
        blob_key=stored.key,
        uploaded_by_id=uploader.id if uploader else None,
    )
    session.add(attachment)
    if uploader is not None:  # an importer's files belong to its "imported" step
        steps.record(session, disclosure, StepAction.attachment_added, uploader, name)
    return attachment


def is_inline(attachment: DisclosureAttachment) -> bool:
    kind = KINDS.get(extension_of(attachment.filename))
    return bool(kind and kind.inline)


def remove_attachment(
    session: Session, blobs: BlobStore, attachment: DisclosureAttachment, actor: StaffUser | None
) -> None:
    """Delete an attachment that no published revision lists yet, recording who removed it.

    The row goes in one conditional DELETE: a file that a request just before published (or
    removed) is refused, never taken out from under a revision that lists it.
    """
    if attachment.published:
        raise AttachmentError(_l("A published attachment stays; amend the disclosure instead."))
    disclosure, name, blob_key = attachment.disclosure, attachment.filename, attachment.blob_key
    removed = session.execute(
        delete(DisclosureAttachment).where(
            DisclosureAttachment.id == attachment.id, DisclosureAttachment.published.is_(False)
        )
    ).rowcount
    session.expire(disclosure, ["attachments"])
    if removed != 1:
        raise AttachmentError(
            _l("This file has just been published or removed. Reload the page to see it.")
        )
    steps.record(session, disclosure, StepAction.attachment_removed, actor, name)
    blobs.delete(blob_key)
