"""Files of a report, encrypted while the request body is parsed, once the form may have them.

The public app's request class hands each file part of a report or a reply to the reports
service's ``UploadBatch.stream_factory`` instead of Werkzeug's temporary file: the bytes are
encrypted into the blob store as they arrive (files small enough to clean are held in memory,
never on disk). A file past a limit does not end the parse: the batch drops it and keeps the
refusal for the view to show (see the service). Whatever the view does not finish (an error
page, a refused form, an exception) is discarded when the request ends.

Before the first file part, the form must show what lets the server work for it
(``gate.before_files``: its CSRF token, the client's limit, the proof of work or the pass),
in the fields that came before it. The body is parsed here, part by part, so that those are
known when the first file begins: a form that fails, or whose files come first, has every
file part read and dropped, and the view says why (``refusal``).

What the parser holds in memory is bounded: the form's fields together take at most
``FIELD_BYTES`` of the endpoint (its text fields' limits at four bytes a character, and a
margin for the hidden ones); past it the parse stops, before anything more is read, and the
fields read so far come back with the reason (``fields_too_large``). File parts dropped
(past the files' limit, or unread) do not count towards the limit of parts, and past that
limit the parse stops rather than fails: the fields read so far come back, with the reason
(``too_many_parts``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import IO, Any

from flask import Flask, Request, current_app, request
from sqlalchemy.exc import DBAPIError
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser, MultiPartParser
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from app.errors import database_unreachable
from app.public.reports import gate
from app.resources import blob_store
from app.services.reports.messages import MAX_MESSAGE_CHARS
from app.services.reports.submission import TEXT_LIMITS
from app.services.reports.uploads import UploadBatch, UploadLimits

# Views whose forms carry files, and the endpoints' request size over the files' limit.
UPLOAD_ENDPOINTS = frozenset({"reports.send", "reports.reply"})
FORM_OVERHEAD = 1024 * 1024
_BATCH = "portal.report_uploads"
_REFUSAL = "portal.upload_refusal"
_REFUSED_BEFORE = "portal.refused_before_the_body"
_PARSER = "portal.form_parser"
_DATABASE_ERROR = "portal.database_error_while_parsing"
READ_SIZE = 64 * 1024
# The bytes of all the non-file fields of a form together: its text fields at their limits,
# four bytes a character in UTF-8, and a margin for the token, the work, the choices and the
# exclusions. A browser never sends more; a body that does is refused as it passes it.
FIELD_MARGIN = 64 * 1024
FIELD_BYTES = {
    "reports.send": 4 * sum(TEXT_LIMITS.values()) + FIELD_MARGIN,
    "reports.reply": 4 * MAX_MESSAGE_CHARS + FIELD_MARGIN,
}
# File parts dropped unread or past the files' limit cost no memory, only parsing: past this
# many times the limit of parts, the rest of the body is read without being parsed.
DROPPED_PARTS_FACTOR = 10


class GatedMultiPartParser(MultiPartParser):
    """Werkzeug's multipart parser, asking ``allowed(fields so far)`` when the first file
    part begins; refused, every file part is read and dropped, and left out of the files.

    ``field_bytes`` bounds the fields together: past it, ``fields_too_large`` is set and
    nothing more is read (the field it ends is left out). Parts are
    counted against ``max_form_parts`` only when kept (fields, and the first ``max_files``
    files read): past it, ``too_many_parts`` is set and the rest of the body is read unparsed.
    """

    def __init__(self, allowed, field_bytes: int, max_files: int, **options: Any) -> None:
        super().__init__(**options)
        self.allowed = allowed
        self.field_bytes = field_bytes
        self.max_files = max_files
        self.too_many_parts = False
        self.fields_too_large = False

    def _past_parts(self, kept: int, dropped: int) -> bool:
        limit = self.max_form_parts
        if limit is None:
            return False
        return kept > limit or dropped > limit * DROPPED_PARTS_FACTOR

    def parse(
        self, stream: IO[bytes], boundary: bytes, content_length: int | None
    ) -> tuple[MultiDict, MultiDict]:
        decoder = MultipartDecoder(boundary, max_form_memory_size=self.max_form_memory_size)
        fields: list[tuple[str, str]] = []
        files: list[tuple[str, FileStorage]] = []
        allowed: bool | None = None
        part: Field | File | None = None
        chunks: list[bytes] = []
        container: IO[bytes] | None = None
        field_size = fields_size = 0
        kept = dropped = files_read = 0
        read = False
        while True:
            data = stream.read(READ_SIZE)
            if self.too_many_parts:  # the rest is read, and ignored
                if not data:
                    break
                continue
            decoder.receive_data(data or None)
            event = decoder.next_event()
            while not isinstance(event, Epilogue | NeedData):
                if isinstance(event, Field):
                    part, chunks, field_size = event, [], 0
                    kept += 1
                elif isinstance(event, File):
                    part, container = event, None
                    # A file input left empty is a part without a name: nothing to read.
                    if event.filename and allowed is None:
                        allowed = self.allowed(self.cls(fields))
                    read = bool(event.filename and allowed)
                    if read and files_read < self.max_files:
                        kept += 1
                    else:
                        dropped += 1  # unread, or dropped by the batch (past its files)
                if isinstance(event, Field | File) and self._past_parts(kept, dropped):
                    self.too_many_parts = True
                    break
                if isinstance(event, File) and read:
                    container = self.start_file_streaming(event, content_length)
                    files_read += 1
                elif isinstance(event, Data):
                    if isinstance(part, Field):
                        field_size += len(event.data)
                        fields_size += len(event.data)
                        limit = self.max_form_memory_size
                        if limit is not None and field_size > limit:
                            raise RequestEntityTooLarge()
                        if fields_size > self.field_bytes:
                            self.fields_too_large = True
                            return self.cls(fields), self.cls(files)
                        chunks.append(event.data)
                        if not event.more_data:
                            charset = self.get_part_charset(part.headers)
                            fields.append((part.name, b"".join(chunks).decode(charset, "replace")))
                    elif isinstance(part, File) and container is not None:
                        container.write(event.data)
                        if not event.more_data:
                            container.seek(0)
                            storage = FileStorage(
                                container, part.filename, part.name, headers=part.headers
                            )
                            files.append((part.name, storage))
                event = decoder.next_event()
            if not data:  # what follows the last part is read too, and ignored
                break
        return self.cls(fields), self.cls(files)


class GatedFormDataParser(FormDataParser):
    def __init__(self, allowed, field_bytes: int, max_files: int, **options: Any) -> None:
        super().__init__(**options)
        self.allowed = allowed
        self.field_bytes = field_bytes
        self.max_files = max_files
        self.too_many_parts = self.fields_too_large = False

    def _parse_multipart(self, stream, mimetype, content_length, options):  # type: ignore[override]
        parser = GatedMultiPartParser(
            self.allowed,
            self.field_bytes,
            self.max_files,
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
        )
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        form, files = parser.parse(stream, boundary, content_length)
        self.too_many_parts = parser.too_many_parts
        self.fields_too_large = parser.fields_too_large
        return stream, form, files


class PortalRequest(Request):
    """The public app's request: report files go to the encrypting uploads."""

    @property
    def max_content_length(self) -> int | None:  # type: ignore[override]
        if self.endpoint in UPLOAD_ENDPOINTS:
            return current_app.config["REPORT_MAX_BYTES"] + FORM_OVERHEAD
        return super().max_content_length

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        Request.max_content_length.fset(self, value)  # type: ignore[attr-defined]

    def make_form_data_parser(self) -> FormDataParser:
        if self.endpoint not in UPLOAD_ENDPOINTS:
            return super().make_form_data_parser()
        parser = GatedFormDataParser(
            self._files_allowed,
            FIELD_BYTES[self.endpoint],
            current_app.config["REPORT_MAX_FILES"],
            stream_factory=self._get_file_stream,
            max_form_memory_size=self.max_form_memory_size,
            max_content_length=self.max_content_length,
            max_form_parts=self.max_form_parts,
            cls=self.parameter_storage_class,
        )
        self.environ[_PARSER] = parser
        return parser

    def _files_allowed(self, fields: MultiDict) -> bool:
        if self.environ.get(_REFUSED_BEFORE):
            return False
        try:
            refusal = gate.before_files(self.endpoint, fields)
        except DBAPIError as error:
            if not database_unreachable(error):
                raise
            # The database stopped answering: the files are dropped unread and the rest of
            # the body read, so that the view can answer with the form (``current_batch``).
            self.environ[_DATABASE_ERROR] = error
            refusal = gate.Refusal("database")
        if refusal is not None:
            self.environ[_REFUSAL] = refusal
        return refusal is None

    def _get_file_stream(
        self, total_content_length, content_type, filename=None, content_length=None
    ):
        if self.endpoint not in UPLOAD_ENDPOINTS:
            return super()._get_file_stream(
                total_content_length, content_type, filename, content_length
            )
        batch = self.environ.get(_BATCH)
        if batch is None:
            allowed = UploadLimits.from_config(current_app.config)
            if self.endpoint == "reports.reply":  # within what today's replies left
                left = gate.reply_bytes_left() or 0
                allowed = replace(allowed, max_total_bytes=min(allowed.max_total_bytes, left))
            batch = self.environ[_BATCH] = UploadBatch(blob_store(), allowed)
        return batch.stream_factory(total_content_length, content_type, filename, content_length)


def current_batch() -> UploadBatch | None:
    """The uploads of this request (after its form was read), or None if it sent no file."""
    request.files  # noqa: B018  the body is parsed (and files encrypted) on first access
    error = request.environ.pop(_DATABASE_ERROR, None)
    if error is not None:  # raised once, before the view can store anything without files
        raise error
    return request.environ.get(_BATCH)


def refused_before_the_body() -> None:
    """This request was refused before its body was read (a rate limit): a body read now, to
    show what was typed, has its files dropped unread."""
    request.environ[_REFUSED_BEFORE] = True


def refusal() -> gate.Refusal | None:
    """Why the files of this request were dropped unread (after its form was read), or None."""
    request.files  # noqa: B018
    return request.environ.get(_REFUSAL)


def too_many_parts() -> bool:
    """Whether the form had more parts than are read (after its form was read): what came
    after them was not."""
    request.files  # noqa: B018
    parser = request.environ.get(_PARSER)
    return parser is not None and parser.too_many_parts


def fields_too_large() -> bool:
    """Whether the form's fields were larger than its page's can be (after its form was
    read): what came after the budget was not read."""
    request.files  # noqa: B018
    parser = request.environ.get(_PARSER)
    return parser is not None and parser.fields_too_large


def files_sent() -> bool:
    """Whether this request carried a file, read or dropped (after its form was read)."""
    batch = current_batch()
    return request.environ.get(_REFUSAL) is not None or (batch is not None and batch.files_sent > 0)


def _discard_unfinished(_exc: BaseException | None) -> None:
    batch = request.environ.get(_BATCH)
    if batch is not None and not batch.finished:
        batch.discard()


def init_app(app: Flask) -> None:
    app.request_class = PortalRequest
    app.teardown_request(_discard_unfinished)
