"""Files of a report, encrypted while the request body is parsed.

The public app's request class hands each file part of a report or a reply to the reports
service's ``UploadBatch`` instead of Werkzeug's temporary file: the bytes are encrypted into
the blob store as they arrive (files small enough to clean are held in memory, never on disk).

A file past a limit must not end the parse: the text fields that follow it would be lost,
and the form must come back with everything typed. So a refused file is dropped, the rest of
its bytes are read and thrown away, and the refusal is kept for the view to show. Whatever
the view does not take (an error page, a refused form, an exception) is discarded when the
request ends.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Flask, Request, current_app, request

from app.resources import blob_store
from app.services.reports.errors import UploadRefused
from app.services.reports.uploads import UploadBatch, UploadLimits

# Views whose forms carry files, and the endpoints' request size over the files' limit.
UPLOAD_ENDPOINTS = frozenset({"reports.send", "reports.reply"})
FORM_OVERHEAD = 1024 * 1024
_BATCH = "portal.report_uploads"


class _Dropped(io.RawIOBase):
    """Where the rest of a refused file goes: nowhere."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return memoryview(data).nbytes

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return 0


class _Guarded(io.RawIOBase):
    """One upload; a refusal while writing drops it and is remembered, not raised."""

    def __init__(self, batch: GuardedBatch, upload: Any) -> None:
        super().__init__()
        self._batch = batch
        self._upload = upload

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self._upload is not None:
            try:
                return self._upload.write(data)
            except UploadRefused as refused:  # the service dropped the upload already
                self._batch.refused = self._batch.refused or refused
                self._upload = None
        return memoryview(data).nbytes

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return 0


class GuardedBatch:
    def __init__(self, batch: UploadBatch) -> None:
        self.batch = batch
        self.refused: UploadRefused | None = None
        self.files = 0  # file parts sent, refused ones included
        self.taken = False

    def stream_factory(self, total_length, content_type, filename, content_length=None):
        self.files += 1
        try:
            upload = self.batch.new_file(filename, content_type)
        except UploadRefused as refused:
            self.refused = self.refused or refused
            return _Dropped()
        return _Guarded(self, upload)

    def take(self) -> list:
        """The finished uploads, for the service; from now on they are the service's."""
        self.taken = True
        return self.batch.finish()

    def discard(self) -> None:
        self.taken = True
        self.batch.discard()


def limits(config) -> UploadLimits:
    return UploadLimits(
        max_files=config["REPORT_MAX_FILES"],
        max_file_bytes=config["REPORT_MAX_BYTES"],
        max_total_bytes=config["REPORT_MAX_BYTES"],
        clean_limit=config["REPORT_CLEAN_MAX_BYTES"],
    )


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

    def _get_file_stream(
        self, total_content_length, content_type, filename=None, content_length=None
    ):
        if self.endpoint not in UPLOAD_ENDPOINTS:
            return super()._get_file_stream(
                total_content_length, content_type, filename, content_length
            )
        batch = self.environ.get(_BATCH)
        if batch is None:
            batch = self.environ[_BATCH] = GuardedBatch(
                UploadBatch(blob_store(), limits(current_app.config))
            )
        return batch.stream_factory(total_content_length, content_type, filename, content_length)


def current_batch() -> GuardedBatch | None:
    """The uploads of this request (after its form was read), or None if it sent no file."""
    request.files  # noqa: B018  the body is parsed (and files encrypted) on first access
    return request.environ.get(_BATCH)


def _discard_untaken(_exc: BaseException | None) -> None:
    batch = request.environ.get(_BATCH)
    if batch is not None and not batch.taken:
        batch.discard()


def init_app(app: Flask) -> None:
    app.request_class = PortalRequest
    app.teardown_request(_discard_untaken)
