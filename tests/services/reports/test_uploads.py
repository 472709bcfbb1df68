"""Uploads encrypted while Werkzeug parses the request: cleaned when small, streamed when not,
limits that drop what went past them, and nothing readable left on disk."""

from __future__ import annotations

import io
import os
import tracemalloc

import pytest
from PIL import ExifTags, Image

from app.services.blobs import FilesystemBlobStore
from app.services.reports.cleaning import CleanState
from app.services.reports.errors import FileTooLarge, ReportTooLarge, TooManyFiles
from app.services.reports.uploads import UploadBatch, UploadLimits
from tests.helpers.reports import post_multipart, read_upload

KIB, MIB = 1024, 1024 * 1024


@pytest.fixture
def store(tmp_path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


def _photo_with_gps() -> bytes:
    exif = Image.Exif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (31.0, 13.0, 44.5)
    exif[0x9C9D] = "张三".encode("utf-16-le") + b"\0\0"
    out = io.BytesIO()
    Image.new("RGB", (120, 80), "green").save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_a_photo_is_cleaned_and_encrypted_while_the_form_is_parsed(store):
    photo = _photo_with_gps()
    batch = UploadBatch(store)
    form, _files = post_multipart(
        batch,
        {"files": (io.BytesIO(photo), "现场照片 2026.jpg", "image/jpeg")},
        {"what": "举报内容"},
    )
    assert form["what"] == "举报内容"
    (upload,) = batch.finish()
    assert upload.name == "现场照片 2026.jpg"
    assert upload.content_type == "image/jpeg"
    assert upload.cleaning.state == CleanState.cleaned
    assert "gps" in upload.cleaning.removed
    stored = read_upload(store, upload)
    assert stored.startswith(b"\xff\xd8") and "张三".encode("utf-16-le") not in stored
    assert upload.size == len(stored) < len(photo)
    # On disk, only ciphertext: neither the photo nor the cleaned picture.
    with store.open(upload.blob_key) as blob:
        on_disk = blob.read()
    assert stored not in on_disk and photo[100:200] not in on_disk


def test_a_file_past_the_cleaning_limit_streams_in_bounded_memory(store):
    limits = UploadLimits(clean_limit=64 * KIB, max_file_bytes=64 * MIB, max_total_bytes=64 * MIB)
    batch = UploadBatch(store, limits)
    upload = batch.new_file("监控录像.jpg", "image/jpeg")
    chunk = b"\xff\xd8\xff\xe0" + os.urandom(64 * KIB - 4)
    tracemalloc.start()
    try:
        upload.write(chunk)
        for _ in range(127):  # 8 MiB in all
            upload.write(os.urandom(64 * KIB))
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * MIB, f"{peak} bytes held for an 8 MiB upload"
    (result,) = batch.finish()
    assert result.size == 8 * MIB
    assert result.cleaning.state == CleanState.too_large
    assert result.cleaning.kind == "jpeg"
    assert read_upload(store, result)[: 64 * KIB] == chunk


def test_other_files_stream_at_once_and_are_marked_unsupported(store):
    batch = UploadBatch(store)
    text = "会议记录：\n张三说……\n".encode() * 1000
    post_multipart(
        batch, {"files": (io.BytesIO(text), "会议记录.txt", "text/plain; charset=utf-8")}
    )
    (upload,) = batch.finish()
    assert upload.cleaning.state == CleanState.unsupported
    assert upload.content_type == "text/plain"
    assert read_upload(store, upload) == text


def test_names_and_types_from_the_browser_are_made_harmless(store):
    batch = UploadBatch(store)
    upload = batch.new_file("../../etc/证据\x00.pdf", "text/html<script>")
    upload.write(b"not really a pdf")
    (done,) = batch.finish()
    assert done.name == "证据.pdf"
    assert done.content_type == "application/octet-stream"
    # The type of a file we recognise comes from its content, not from the browser.
    batch = UploadBatch(store)
    upload = batch.new_file("x.txt", "text/plain")
    upload.write(_photo_with_gps())
    assert batch.finish()[0].content_type == "image/jpeg"


def test_an_empty_file_input_is_no_upload(store):
    batch = UploadBatch(store)
    post_multipart(batch, {"files": (io.BytesIO(b""), "", "application/octet-stream")})
    assert batch.finish() == []
    assert list(store.keys()) == []


# A refused file does not end the parse: the fields after it still arrive, so that a form
# sent back keeps everything typed.
AFTER = {"contact": "分机 6021"}


def test_too_many_files_are_refused_and_the_parse_goes_on(store):
    batch = UploadBatch(store, UploadLimits(max_files=2))
    files = {"files": [(io.BytesIO(b"a"), f"{i}.txt", "text/plain") for i in range(3)]}
    form, _files = post_multipart(batch, files, AFTER)
    assert form["contact"] == AFTER["contact"]
    refused = batch.refused
    assert isinstance(refused, TooManyFiles) and batch.files_sent == 3
    assert refused.limit == 2 and refused.message_key == "too_many_files"
    batch.discard()
    assert list(store.keys()) == []


def test_a_file_past_its_limit_is_dropped_at_once(store):
    batch = UploadBatch(store, UploadLimits(max_file_bytes=100 * KIB, clean_limit=10 * KIB))
    data = os.urandom(300 * KIB)
    form, _files = post_multipart(
        batch, {"files": (io.BytesIO(data), "大文件.bin", "application/octet-stream")}, AFTER
    )
    assert isinstance(batch.refused, FileTooLarge) and form["contact"] == AFTER["contact"]
    assert list(store.keys()) == []
    assert batch.finish() == []


def test_a_report_past_its_total_is_refused_and_nothing_stays(store):
    limits = UploadLimits(max_total_bytes=150 * KIB, clean_limit=10 * KIB)
    batch = UploadBatch(store, limits)
    files = {"files": [(io.BytesIO(os.urandom(100 * KIB)), f"{i}.bin", "x/y") for i in range(2)]}
    form, _files = post_multipart(batch, files, AFTER)
    assert isinstance(batch.refused, ReportTooLarge) and form["contact"] == AFTER["contact"]
    batch.discard()
    assert list(store.keys()) == []


def test_only_one_file_is_held_in_memory_at_a_time(store):
    batch = UploadBatch(store)
    first = batch.new_file("一.png", "image/png")
    first.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 1000)  # a PNG that will not parse
    second = batch.new_file("二.txt", "text/plain")
    # Starting the second finished the first: encrypted, its buffer gone.
    assert first._buffer is None and first.finish().cleaning.state == CleanState.unreadable
    second.write(b"second")
    assert [u.name for u in batch.finish()] == ["一.png", "二.txt"]


def test_an_upload_cannot_be_read_back(store):
    batch = UploadBatch(store)
    upload = batch.new_file("a.txt", "text/plain")
    upload.write(b"abc")
    assert upload.seek(0) == 0
    assert not upload.readable()
    with pytest.raises(io.UnsupportedOperation):
        upload.seek(1)
    with pytest.raises(OSError):
        upload.read()
    batch.discard()


def test_past_the_batch_cleaning_time_files_are_stored_as_sent_and_said_so(store):
    """Ten files that each take the cleaning deadline would keep the receipt from the reporter
    past any proxy's patience: the batch has one cleaning time for all its files."""
    photo = _photo_with_gps()
    batch = UploadBatch(store, UploadLimits(clean_seconds=0.0))
    post_multipart(batch, {"files": (io.BytesIO(photo), "现场照片.jpg", "image/jpeg")})
    (upload,) = batch.finish()
    assert upload.cleaning.state == CleanState.too_large
    assert upload.content_type == "image/jpeg"
    assert read_upload(store, upload) == photo
