"""Age files in two parts: the header (recipient stanzas and MAC) in a database row, the payload
(nonce and STREAM chunks) in the blob store. Joined, the two are a standard age file.

The payload depends only on the file key and its nonce. So a file can be encrypted before
its readers are known (an upload, while the request is still being parsed): a fresh file key
is drawn, the payload streams into the blob store, the key stays in memory, and the header is
made once the report has been routed. Granting, recusal, transfer and recovery rewrite the
header only (``rewrap_envelope``, which keeps the reporter's key where the reporter reads);
a payload is never rewritten.

Every header names the place of its file (report, role, message, position: places.py), and
a file is opened only at the place it names.

Blobs are durable (file and folder fsynced) when the functions that write them return.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

from app.models import EnvelopeRole, Report, ReportEnvelope, ReportMessage
from app.services.blobs import BlobError, BlobStore, BlobWriter
from app.services.reports import places
from app.services.reports.places import Place
from crypto.age import Decryptor, PayloadWriter, decrypt, make_header, new_file_key, rewrap_header
from crypto.keys import Identity, Recipient, X25519Recipient
from crypto.stream import CHUNK_SIZE, NONCE_SIZE, TAG_SIZE


def payload_size(plaintext_size: int) -> int:
    """The size of the payload of a ``plaintext_size``-byte file: nonce, chunks and tags."""
    chunks = max(1, -(-plaintext_size // CHUNK_SIZE))
    return NONCE_SIZE + plaintext_size + chunks * TAG_SIZE


def plaintext_size(payload_bytes: int) -> int:
    """The size of the file whose whole, undamaged payload is ``payload_bytes`` long (the
    inverse of ``payload_size``; for a payload that cannot be one, what it would hold at most)."""
    sealed = max(0, payload_bytes - NONCE_SIZE)
    chunks = max(1, -(-sealed // (CHUNK_SIZE + TAG_SIZE)))
    return max(0, sealed - chunks * TAG_SIZE)


def stored_plaintext_size(blobs: BlobStore, envelope: ReportEnvelope) -> int:
    """``plaintext_size`` of the payload blob as it is on disk (not as its row says).

    Raises BlobError when it is missing."""
    with blobs.open(envelope.blob_key) as blob:
        return plaintext_size(blob.seek(0, io.SEEK_END))


@dataclass(frozen=True)
class SealedPayload:
    """A payload in the blob store and the file key that opens it (memory only, never stored)."""

    blob_key: str
    size: int  # of the payload blob
    plaintext_size: int
    file_key: bytes = field(repr=False)

    def header(self, recipients: Sequence[Recipient], place: Place) -> bytes:
        """The header that makes this payload an age file for ``recipients``, at ``place``."""
        return make_header(self.file_key, recipients, [place.label()])


class PayloadBlob:
    """Plaintext in; out, into a new blob, the payload of an age file under a fresh file key."""

    def __init__(self, blobs: BlobStore, max_plaintext_bytes: int) -> None:
        self._file_key = new_file_key()
        self._blob: BlobWriter = blobs.create(payload_size(max_plaintext_bytes))
        self._payload = PayloadWriter(self._blob, self._file_key)  # type: ignore[arg-type]
        self.plaintext_size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = self._payload.write(data)
        self.plaintext_size += n
        return n

    def finish(self) -> SealedPayload:
        """Seal the last chunk and make the blob durable."""
        try:
            self._payload.close()
            stored = self._blob.commit()
        except BaseException:
            self._blob.abort()
            raise
        return SealedPayload(stored.key, stored.size, self.plaintext_size, self._file_key)

    def abort(self) -> None:
        """Drop the blob: nothing of it stays on disk."""
        self._blob.abort()


def seal_payload(blobs: BlobStore, plaintext: bytes) -> SealedPayload:
    """Encrypt an in-memory plaintext into a new blob under a fresh file key."""
    writer = PayloadBlob(blobs, len(plaintext))
    try:
        writer.write(plaintext)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


class _Joined(io.RawIOBase):
    """A header and an open payload blob read as one file; closing it closes the blob."""

    def __init__(self, header: bytes, payload: BinaryIO) -> None:
        super().__init__()
        self._header = memoryview(header)
        self._payload = payload

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self._header:
            n = min(len(view), len(self._header))
            view[:n] = self._header[:n]
            self._header = self._header[n:]
            return n
        return self._payload.readinto(view) or 0

    def close(self) -> None:
        if not self.closed:
            self._payload.close()
        super().close()


def joined(blobs: BlobStore, header: bytes, blob_key: str) -> BinaryIO:
    """The whole age file (header, then payload) as one stream; for export and for opening.

    Raises BlobError when the payload blob is missing. Close it when done.
    """
    return io.BufferedReader(_Joined(header, blobs.open(blob_key)), CHUNK_SIZE)  # type: ignore[return-value]


@contextmanager
def opened(
    blobs: BlobStore, envelope: ReportEnvelope, identities: Sequence[Identity]
) -> Iterator[Decryptor]:
    """The plaintext of a row's file, for one of ``identities``, released chunk by chunk.

    A file that names another place than its row's is refused first (Misplaced), before any
    key is tried. The header is parsed and authenticated before this yields (HeaderError,
    NoIdentityMatch, HmacError: a label changed to fit a new place fails here); a damaged
    payload raises PayloadError at the damaged chunk; a missing one, BlobError.
    """
    places.check(envelope)
    with joined(blobs, envelope.header, envelope.blob_key) as src:
        yield decrypt(src, identities, armored=False)


def read_bytes(
    blobs: BlobStore,
    envelope: ReportEnvelope,
    identities: Sequence[Identity],
    max_bytes: int,
) -> bytes:
    """The whole plaintext of a row's small file (as ``opened``); more than ``max_bytes``
    raises ValueError."""
    out = bytearray()
    with opened(blobs, envelope, identities) as plaintext:
        for view in plaintext.views():
            out += view
            if len(out) > max_bytes:
                raise ValueError(f"a file of more than {max_bytes} bytes where a small one was due")
    return bytes(out)


def rewrap(header: bytes, identities: Sequence[Identity], recipients: Sequence[Recipient]) -> bytes:
    """A new header for ``recipients``, opened with one of ``identities``; same payload and
    the same place. For a stored file use ``rewrap_envelope``, which keeps the reporter's key
    where the reporter reads."""
    return rewrap_header(header, identities, recipients, keep_labels=(places.PLACE_TYPE,))


def opens_to_reporter(envelope: ReportEnvelope) -> bool:
    """Whether the reporter's own key is among the readers of this file: every file of the
    thread, and the report's text and files when the reporter kept a copy; never the real
    name."""
    if envelope.role == EnvelopeRole.identity:
        return False
    return envelope.message_id is not None or envelope.report.reporter_copy


def with_reporter(envelope: ReportEnvelope, recipients: Sequence[Recipient]) -> list[Recipient]:
    """``recipients`` with the reporter's key if the file must stay open to the reporter
    (``opens_to_reporter``), and without it if it must not."""
    reporter = X25519Recipient.parse(envelope.report.reporter_recipient)
    others = [recipient for recipient in recipients if recipient != reporter]
    return [*others, reporter] if opens_to_reporter(envelope) else others


def rewrap_envelope(
    envelope: ReportEnvelope, identities: Sequence[Identity], recipients: Sequence[Recipient]
) -> None:
    """Give ``envelope`` a new header for ``recipients`` (grant, recusal, transfer, recovery).

    The office's side changes, the reporter's does not: the reporter's key is kept where the
    file was for the reporter (a message, or the report when a copy was kept) whether or not
    ``recipients`` names it, and never added to the real name (``with_reporter``).

    A file that is not at the place it names is refused (Misplaced): access is never given
    to a file where it does not belong.
    """
    places.check(envelope)
    envelope.header = rewrap(envelope.header, identities, with_reporter(envelope, recipients))


def new_envelope(
    report: Report,
    role: EnvelopeRole,
    payload: SealedPayload,
    recipients: Sequence[Recipient],
    *,
    position: int = 0,
    message: ReportMessage | None = None,
) -> ReportEnvelope:
    """The row of a file of ``report`` (or of one of its messages), for ``recipients``; its
    header names that place, so ``report`` needs its id and ``message`` its number."""
    place = Place(report.id, role, message.seq if message is not None else 0, position)
    return ReportEnvelope(
        report=report,
        message=message,
        role=role,
        position=position,
        header=payload.header(recipients, place),
        blob_key=payload.blob_key,
        size=payload.size,
    )


def delete_blobs(blobs: BlobStore, keys: Iterable[str]) -> None:
    """Remove blobs that no row will point to (best effort: fsck finds any left over)."""
    for key in keys:
        try:
            blobs.delete(key)
        except (BlobError, OSError):
            continue
