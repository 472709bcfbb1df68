"""Files of a report, encrypted while the request body is parsed.

The public app's request class hands each file part of a report or a reply to the reports
service's ``UploadBatch.stream_factory`` instead of Werkzeug's temporary file: the bytes are
encrypted into the blob store as they arrive (files small enough to clean are held in memory,
never on disk). A file past a limit does not end the parse: the batch drops it and keeps the
refusal for the view to show (see the service). Whatever the view does not finish (an error
page, a refused form, an exception) is discarded when the request ends.
"""

from __future__ import annotations

from flask import Flask, Request, current_app, request

from app.resources import blob_store
from app.services.reports.uploads import UploadBatch, UploadLimits

# Views whose forms carry files, and the endpoints' request size over the files' limit.
UPLOAD_ENDPOINTS = frozenset({"reports.send", "reports.reply"})
FORM_OVERHEAD = 1024 * 1024
_BATCH = "portal.report_uploads"


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
            batch = self.environ[_BATCH] = UploadBatch(blob_store(), limits(current_app.config))
        return batch.stream_factory(total_content_length, content_type, filename, content_length)


def current_batch() -> UploadBatch | None:
    """The uploads of this request (after its form was read), or None if it sent no file."""
    request.files  # noqa: B018  the body is parsed (and files encrypted) on first access
    return request.environ.get(_BATCH)


def _discard_unfinished(_exc: BaseException | None) -> None:
    batch = request.environ.get(_BATCH)
    if batch is not None and not batch.finished:
        batch.discard()


def init_app(app: Flask) -> None:
    app.request_class = PortalRequest
    app.teardown_request(_discard_unfinished)
