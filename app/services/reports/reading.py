"""Reading a report's documents with the keys a reader holds, for one call only: the report's
text and the list of its files here, the thread in messages.py.

Every file is opened only at the place it names (places.py). What cannot be shown comes back
as an error with a message key for the view to phrase, never as a server error: a file at a
place it does not name is Misplaced, one that is missing, altered or unreadable FileDamaged.
A text's list of files is checked against the rows (``listed_files``): a file listed with no
row at its place, and a row the list does not account for, are shown as such, never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from app.models import EnvelopeRole, Report, ReportEnvelope
from app.services.blobs import BlobError, BlobStore
from app.services.reports import places
from app.services.reports.contents import (
    MAX_DOCUMENT_BYTES,
    AttachmentInfo,
    attachments_of,
    decode,
)
from app.services.reports.envelopes import read_bytes
from app.services.reports.errors import FileDamaged, FileProblem, NotAllowed
from app.services.reports.places import Misplaced
from crypto.errors import CryptoError, HeaderError, NoIdentityMatch
from crypto.keys import Identity


@dataclass(frozen=True)
class ListedFile:
    """A file as its text lists it; ``problem`` set: it is not offered (see places.py).

    ``envelope_id`` None: no row is at its place (``missing``); ``info`` None: a row that its
    text does not list (``misplaced``: another's file moved here), so nothing names it.
    """

    envelope_id: str | None
    info: AttachmentInfo | None
    problem: FileProblem | None = None


def read_document(
    blobs: BlobStore, envelope: ReportEnvelope, identities: Sequence[Identity], kind: str
) -> tuple[dict[str, Any], list[AttachmentInfo]]:
    """The JSON document of ``kind`` in a row's file, and the attachments it lists.

    Raises Misplaced (the file names another place), NoIdentityMatch (not for these keys)
    or FileDamaged (missing blob, altered header or payload, not a document of ``kind``).
    """
    try:
        data = read_bytes(blobs, envelope, identities, MAX_DOCUMENT_BYTES)
    except (Misplaced, NoIdentityMatch):
        raise
    except (CryptoError, BlobError, OSError, ValueError) as exc:
        raise FileDamaged(f"envelope {envelope.id}: {type(exc).__name__}") from None
    try:
        document = decode(data, kind)
        return document, attachments_of(document)
    except (ValueError, KeyError, TypeError) as exc:
        raise FileDamaged(f"envelope {envelope.id}: not a {kind} document") from exc


def file_problem(envelope: ReportEnvelope) -> FileProblem | None:
    """Why a file is not offered, as far as its header tells without a key; None: it may be."""
    try:
        places.check(envelope)
    except Misplaced:
        return FileProblem.misplaced
    except HeaderError:
        return FileProblem.damaged
    return None


def listed_files(
    infos: Iterable[AttachmentInfo], envelopes: Iterable[ReportEnvelope]
) -> tuple[ListedFile, ...]:
    """The files a text lists, each with the attachment row at its position, then every row
    of ``envelopes`` left over.

    ``envelopes`` are the rows of the text's files (its message's, or the report's
    attachments), less the text itself. A listed file with no attachment row at its position
    is ``missing`` (moved away or deleted); of several rows at one position the one in its
    place is taken. A row left over (moved here from elsewhere, at a position the text does
    not list, of another role) is ``misplaced``: never dropped without a word.
    """
    left = sorted(envelopes, key=lambda e: e.id)
    listed = []
    for info in infos:
        here = [
            (file_problem(e), e)
            for e in left
            if e.role == EnvelopeRole.attachment and e.position == info.position
        ]
        if not here:
            listed.append(ListedFile(None, info, FileProblem.missing))
            continue
        problem, row = next((found for found in here if found[0] is None), here[0])
        left.remove(row)
        listed.append(ListedFile(row.id, info, problem))
    listed.extend(ListedFile(row.id, None, FileProblem.misplaced) for row in left)
    return tuple(listed)


@dataclass(frozen=True)
class ReportText:
    """What the reporter wrote in the form (less the real-name block) and the files sent."""

    fields: dict[str, str]
    attachments: tuple[ListedFile, ...]


def read_report(blobs: BlobStore, report: Report, identities: Sequence[Identity]) -> ReportText:
    """The report's text, decrypted with ``identities`` for this call only.

    Raises NotAllowed when these keys do not open it, Misplaced when the text at the report's
    row is another's (moved or swapped), FileDamaged when it is missing or altered.
    """
    texts = [e for e in report.envelopes if e.role == EnvelopeRole.text and e.message_id is None]
    if len(texts) != 1:
        raise FileDamaged(f"report {report.id} has {len(texts)} texts")
    try:
        document, infos = read_document(blobs, texts[0], identities, "report")
    except NoIdentityMatch:
        raise NotAllowed("these keys do not open the report") from None
    files = [
        e for e in report.envelopes if e.message_id is None and e.role == EnvelopeRole.attachment
    ]
    fields = document.get("fields")
    if not isinstance(fields, dict):
        raise FileDamaged(f"envelope {texts[0].id}: not a report document")
    return ReportText({str(k): str(v) for k, v in fields.items()}, listed_files(infos, files))
