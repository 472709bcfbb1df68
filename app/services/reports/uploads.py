"""Reporters' uploads, encrypted while the request body is parsed: no plaintext on disk, ever.

Werkzeug's form parser asks a stream factory for a file object per file part and writes the
part into it. ``UploadBatch.stream_factory`` (the public app's request class hands it each
file part of a report or a reply) gives it an ``EncryptingUpload``:

- the first bytes tell whether the file is of a kind we clean (JPEG, PNG, WebP, TIFF, PDF,
  Office). Such a file is kept in memory up to the cleaning limit, then cleaned and encrypted
  when it is complete;
- any other file, and one that grows past the cleaning limit, is encrypted chunk by chunk
  straight into the blob store under a fresh file key held in memory: memory stays bounded
  whatever the size. (The report is routed, and the header made, once the form is read.)

One batch holds the files of one report or message. It finishes a file before it starts the
next, so at most one file is ever held in memory. Past a limit the batch drops what it
received of that file: ``new_file`` and the upload's ``write`` raise an UploadRefused error,
while ``stream_factory`` keeps the refusal and lets the parse go on (see there); ``discard``
drops the rest.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.services.blobs import BlobStore
from app.services.disclosures.attachments import safe_filename
from app.services.reports.cleaning import (
    CLEANABLE,
    SNIFF_BYTES,
    Cleaned,
    Cleaning,
    CleanState,
    not_cleaned,
    sniff,
)
from app.services.reports.cleaning_process import DEFAULT_LIMITS, clean
from app.services.reports.envelopes import PayloadBlob, SealedPayload, delete_blobs, seal_payload
from app.services.reports.errors import FileTooLarge, ReportTooLarge, TooManyFiles, UploadRefused

MIB = 1024 * 1024
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$")
DEFAULT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class UploadLimits:
    max_files: int = 10
    max_file_bytes: int = 100 * MIB
    max_total_bytes: int = 100 * MIB  # all the files of one report or message together
    clean_limit: int = 16 * MIB  # files up to this size are cleaned (in memory)
    # Cleaning time of all the files of one report or message together: the receipt must come
    # before a proxy gives up on the request (nginx waits 60 s). Past it, files are stored as
    # sent and called too large to clean.
    clean_seconds: float = 30.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> UploadLimits:
        """The limits of one report or message of the report settings (``REPORT_*``)."""
        return cls(
            max_files=config["REPORT_MAX_FILES"],
            max_file_bytes=config["REPORT_MAX_BYTES"],
            max_total_bytes=config["REPORT_MAX_BYTES"],
            clean_limit=config["REPORT_CLEAN_MAX_BYTES"],
        )


@dataclass(frozen=True)
class Upload:
    """A finished upload: its encrypted payload in the blob store, the rest in memory only."""

    name: str  # as sent, made safe to show (no folders, no control characters)
    content_type: str
    size: int  # of the file as stored (after cleaning), in bytes
    payload: SealedPayload  # blob key, payload size and the file key
    cleaning: Cleaning

    @property
    def blob_key(self) -> str:
        return self.payload.blob_key

    @property
    def file_key(self) -> bytes:
        return self.payload.file_key


def _content_type(declared: str | None, kind: str | None) -> str:
    if kind in CLEANABLE:
        return CLEANABLE[kind]
    value = (declared or "").split(";")[0].strip().lower()
    return value if _CONTENT_TYPE.match(value) else DEFAULT_TYPE


class _Budget:
    """The bytes and files left to one batch."""

    def __init__(self, limits: UploadLimits) -> None:
        self.limits = limits
        self.files = 0
        self.total = 0
        self.clean_seconds = limits.clean_seconds

    def charge(self, n: int) -> None:
        if self.total + n > self.limits.max_total_bytes:
            raise ReportTooLarge(self.limits.max_total_bytes)
        self.total += n


class EncryptingUpload(io.RawIOBase):
    """A writable file for one upload; see the module's docstring. Never readable."""

    def __init__(
        self, blobs: BlobStore, budget: _Budget, filename: str | None, content_type: str | None
    ) -> None:
        super().__init__()
        self._blobs = blobs
        self._budget = budget
        self._limits = budget.limits
        self._raw_name = filename or ""
        self._declared_type = content_type
        self._buffer: bytearray | None = bytearray()  # None once streaming
        self._head = b""
        self._kind: str | None = None
        self._stream: PayloadBlob | None = None
        self._received = 0
        self._result: Upload | None = None
        self.aborted = False

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Take the next bytes of the file; past a limit, drop the file and raise."""
        if self.aborted or self._result is not None:
            raise ValueError("the upload is finished")
        view = memoryview(data).cast("B")
        n = view.nbytes
        try:
            if self._received + n > self._limits.max_file_bytes:
                raise FileTooLarge(self._limits.max_file_bytes)
            self._budget.charge(n)
            self._received += n
            if self._stream is not None:
                self._stream.write(view)
                return n
            assert self._buffer is not None
            self._buffer += view
            if len(self._head) < SNIFF_BYTES:
                self._head = bytes(self._buffer[:SNIFF_BYTES])
                if len(self._head) < SNIFF_BYTES:
                    return n
                self._kind = sniff(self._head)
            if self._kind is None or len(self._buffer) > self._limits.clean_limit:
                self._start_streaming()
        except BaseException:
            self.abort()
            raise
        return n

    def _start_streaming(self) -> None:
        assert self._buffer is not None
        self._stream = PayloadBlob(self._blobs, self._limits.max_file_bytes)
        self._stream.write(self._buffer)
        self._buffer = None

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        # Werkzeug rewinds each file part once written; there is nothing to read back.
        if (offset, whence) != (0, io.SEEK_SET):
            raise io.UnsupportedOperation("an upload cannot be read back")
        return 0

    def tell(self) -> int:
        return self._received

    def readinto(self, buffer: Any) -> int:
        raise io.UnsupportedOperation("an upload cannot be read back")

    def finish(self) -> Upload:
        """Clean (if it is small and of a kind we clean) and encrypt; the blob is durable."""
        if self.aborted:
            raise ValueError("the upload was dropped")
        if self._result is not None:
            return self._result
        try:
            if self._stream is not None:
                payload = self._stream.finish()
                self._stream = None
                cleaning = not_cleaned(self._head)
            else:
                assert self._buffer is not None
                data, self._buffer = bytes(self._buffer), None
                cleaned = self._clean(data)
                del data  # the original may be held no longer than the cleaned copy needs
                payload = seal_payload(self._blobs, cleaned.data)
                cleaning = cleaned.cleaning
                self._kind = cleaning.kind
        except BaseException:
            self.abort()
            raise
        if cleaning.state == CleanState.unsupported:
            self._kind = None
        self._result = Upload(
            name=safe_filename(self._raw_name),
            content_type=_content_type(self._declared_type, self._kind),
            size=payload.plaintext_size,
            payload=payload,
            cleaning=cleaning,
        )
        return self._result

    def _clean(self, data: bytes) -> Cleaned:
        """``clean(data)`` within what is left of the batch's cleaning time."""
        left = self._budget.clean_seconds
        if left <= 0:
            return Cleaned(data, not_cleaned(self._head))  # too large (to clean in time)
        started = time.monotonic()
        try:
            wall = min(DEFAULT_LIMITS.wall_seconds, left)
            return clean(data, replace(DEFAULT_LIMITS, wall_seconds=wall))
        finally:
            self._budget.clean_seconds -= time.monotonic() - started

    def abort(self) -> None:
        """Drop this upload: its buffer, and its blob if one was started or finished."""
        self.aborted = True
        self._buffer = None
        if self._stream is not None:
            self._stream.abort()
            self._stream = None
        if self._result is not None:
            delete_blobs(self._blobs, [self._result.blob_key])

    @property
    def empty_field(self) -> bool:
        """A file input left empty: browsers send a part with no name and no bytes."""
        return not self._raw_name and self._received == 0


class _Dropped(io.RawIOBase):
    """Where the rest of a refused file part goes: nowhere."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return memoryview(data).nbytes

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return 0


class _Guarded(io.RawIOBase):
    """One file part's upload; a refusal while writing drops it and is kept, not raised."""

    def __init__(self, batch: UploadBatch, upload: EncryptingUpload) -> None:
        super().__init__()
        self._batch = batch
        self._upload: EncryptingUpload | None = upload

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self._upload is not None:
            try:
                return self._upload.write(data)
            except UploadRefused as refused:  # the upload dropped itself already
                self._batch.refused = self._batch.refused or refused
                self._upload = None
        return memoryview(data).nbytes

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return 0


class UploadBatch:
    """The uploads of one report (or message), with their limits. Not shared across requests."""

    def __init__(self, blobs: BlobStore, limits: UploadLimits | None = None) -> None:
        self._blobs = blobs
        self._budget = _Budget(limits or UploadLimits())
        self._uploads: list[EncryptingUpload] = []
        self.refused: UploadRefused | None = None  # the first refusal of a file part
        self.files_sent = 0  # file parts given to stream_factory, refused ones included
        self.finished = False  # the uploads went to the caller with ``finish``

    def new_file(self, filename: str | None, content_type: str | None) -> EncryptingUpload:
        """A file object for the next upload; the one before it is finished first."""
        if self._uploads and not self._uploads[-1].aborted:
            self._uploads[-1].finish()
        if self._budget.files >= self._budget.limits.max_files:
            raise TooManyFiles(self._budget.limits.max_files)
        upload = EncryptingUpload(self._blobs, self._budget, filename, content_type)
        self._uploads.append(upload)
        self._budget.files += 1
        return upload

    def stream_factory(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None,
        content_length: int | None = None,
    ) -> Any:
        """Werkzeug's stream factory: a file object for each file part.

        A part past a limit must not end the parse: the text fields after it would be lost,
        and a refused form must come back with everything typed. So the part is dropped, the
        rest of its bytes are read and thrown away, and the first refusal is kept in
        ``refused`` for the caller to show.
        """
        self.files_sent += 1
        try:
            upload = self.new_file(filename, content_type)
        except UploadRefused as refused:
            self.refused = self.refused or refused
            return _Dropped()
        return _Guarded(self, upload)

    def finish(self) -> list[Upload]:
        """Every upload, finished, in the order sent (empty file inputs left out); from now on
        they are the caller's (``submit`` deletes their blobs if it stores nothing)."""
        done = []
        for upload in self._uploads:
            if upload.empty_field:
                upload.abort()
            if not upload.aborted:
                done.append(upload.finish())
        self.finished = True
        return done

    def discard(self) -> None:
        """Drop every upload of the batch and its blob."""
        for upload in self._uploads:
            upload.abort()
