"""Files of a reply to the reporter, encrypted while the request body is parsed.

The console's request hands each file part of the reply form to the reports service's
``UploadBatch`` (as the public site does for reports): the bytes go encrypted into the blob
store as they arrive and never touch a temporary file. What the view does not hand on is
discarded when the request ends.
"""

from __future__ import annotations

from flask import Flask, Request, current_app, request

from app.resources import blob_store
from app.services.reports.uploads import UploadBatch, UploadLimits

UPLOAD_ENDPOINTS = frozenset({"cases.reply"})
_BATCH = "portal.case_uploads"


class CaseRequest(Request):
    """The console's request: the reply form's files go to the encrypting uploads."""

    @property
    def max_content_length(self) -> int | None:  # type: ignore[override]
        if self.endpoint in UPLOAD_ENDPOINTS:
            return current_app.config["REPORT_MAX_BYTES"] + 1024 * 1024
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
            limits = UploadLimits.from_config(current_app.config)
            batch = self.environ[_BATCH] = UploadBatch(blob_store(), limits)
        return batch.stream_factory(total_content_length, content_type, filename, content_length)


def current_batch() -> UploadBatch | None:
    request.files  # noqa: B018  the body is parsed (and files encrypted) on first access
    return request.environ.get(_BATCH)


def _discard_unfinished(_exc: BaseException | None) -> None:
    batch = request.environ.get(_BATCH)
    if batch is not None and not batch.finished:
        batch.discard()


def init_app(app: Flask) -> None:
    app.request_class = CaseRequest
    app.teardown_request(_discard_unfinished)
