"""fsck: orphan blobs go, missing and damaged files are reported, and the CLI says so."""

from __future__ import annotations

import os
import time

import pytest

from app.models import EnvelopeRole, Report
from app.services.blobs import FilesystemBlobStore
from app.services.reports.fsck import fsck, referenced_blob_keys
from app.services.reports.submission import submit
from tests.helpers.reports import PARAMS, PEPPER, TODAY, form, jpeg_bytes, upload_files


def _submit(db, blobs, **changes):
    uploads = upload_files(blobs, [("现场照片.jpg", "image/jpeg", jpeg_bytes())])
    with db() as session:
        return submit(session, blobs, PEPPER, form(**changes), uploads, TODAY, PARAMS)


def _age(blobs, key: str, days: int) -> None:
    then = time.time() - days * 86400
    os.utime(blobs.root / key[:2] / key, (then, then))


def test_a_healthy_store_passes_and_every_file_opens_with_the_recovery_key(db, org, blobs):
    _submit(db, blobs, real_name="李四")
    _submit(db, blobs, unit_code="GRP-FIN")
    with db() as session:
        result = fsck(session, blobs, [org.recovery["MCH"]], min_age=0)
    assert result.ok and result.orphans == []
    assert result.blobs == 5
    assert result.opened == 3  # MCH's report: text, photo, real name
    assert result.not_for_these_keys == 2  # GRP's report


@pytest.fixture
def file_blobs(db) -> FilesystemBlobStore:
    """The filesystem store whatever the database: these tests date and damage its files
    (the PostgreSQL store's own checks: tests/services/test_pg_blobs.py)."""
    return FilesystemBlobStore(db.app.config["BLOB_PATH"])


def test_orphans_are_deleted_once_old_enough_and_never_a_referenced_blob(db, org, file_blobs):
    blobs = file_blobs
    _submit(db, blobs)
    orphan = upload_files(blobs, [("没提交的.txt", "text/plain", "放弃了".encode())])[0].blob_key
    young = upload_files(blobs, [("正在上传.txt", "text/plain", b"...")])[0].blob_key
    _age(blobs, orphan, 3)
    with db() as session:
        referenced = referenced_blob_keys(session)
        for key in referenced:
            _age(blobs, key, 30)
        dry = fsck(session, blobs, delete_orphans=False)
        assert dry.orphans == [orphan] and orphan in set(blobs.keys())
        result = fsck(session, blobs)
    assert result.orphans == [orphan]
    assert set(blobs.keys()) == referenced | {young}


def test_missing_and_damaged_blobs_are_reported(db, org, file_blobs):
    blobs = file_blobs
    done = _submit(db, blobs)
    with db() as session:
        report = session.get(Report, done.report_id)
        text = next(e for e in report.envelopes if e.role == EnvelopeRole.text)
        photo = next(e for e in report.envelopes if e.role == EnvelopeRole.attachment)
        text_id, photo_id = text.id, photo.id
        path = blobs.root / photo.blob_key[:2] / photo.blob_key
        data = bytearray(path.read_bytes())
        data[-5] ^= 0xFF
        path.write_bytes(bytes(data))
        blobs.delete(text.blob_key)
    with db() as session:
        result = fsck(session, blobs, [org.recovery["MCH"]], min_age=0)
    assert not result.ok
    assert result.missing == [text_id]
    assert result.damaged == [(photo_id, "PayloadError")]


def test_the_command_checks_and_tidies(db, org, blobs, tmp_path):
    _submit(db, blobs)
    orphan = upload_files(blobs, [("孤儿.txt", "text/plain", b"orphan")])[0].blob_key
    key_file = tmp_path / "recovery.txt"
    key_file.write_text(f"# 机械公司恢复密钥\n{org.recovery['MCH'].secret_key_text()}\n")
    runner = db.app.test_cli_runner()
    result = runner.invoke(
        args=["reports", "fsck", "--identity", str(key_file), "--min-age-days", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "deleted 1 orphan blobs" in result.output
    assert "2 files decrypted and authenticated" in result.output
    assert orphan not in set(blobs.keys())
    bad_key = tmp_path / "bad.txt"
    bad_key.write_text("not a key")
    result = runner.invoke(args=["reports", "fsck", "--identity", str(bad_key)])
    assert result.exit_code != 0 and "not an age identity file" in result.output


def test_the_command_fails_on_a_missing_blob(db, org, blobs):
    done = _submit(db, blobs)
    with db() as session:
        for envelope in session.get(Report, done.report_id).envelopes:
            blobs.delete(envelope.blob_key)
    result = db.app.test_cli_runner().invoke(args=["reports", "fsck", "--dry-run"])
    assert result.exit_code == 1
    assert "MISSING" in result.output and "FAILED" in result.output
