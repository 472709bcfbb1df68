"""Envelopes: header in the row, payload in the blob store; joined, a standard age file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from app.models import EnvelopeRole, Report, ReportEnvelope
from app.services.blobs import FilesystemBlobStore
from app.services.reports import envelopes
from app.services.reports.envelopes import PayloadBlob, payload_size, seal_payload
from app.services.reports.places import Place
from app.services.reports.submission import submit
from crypto.errors import HeaderError, HmacError, NoIdentityMatch, PayloadError
from crypto.keys import X25519Identity
from crypto.stream import CHUNK_SIZE
from tests.helpers.crypto_tools import age
from tests.helpers.reports import PARAMS, PEPPER, TODAY, form

TEXT = "举报人反映：采购部王某收受供应商回扣，金额约五万元。".encode() * 5000  # several chunks


@pytest.fixture
def store(tmp_path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


def _row(payload, recipients, header: bytes | None = None) -> ReportEnvelope:
    """A file of a report that is not stored: its row, as the database would give it back."""
    report_id = "5a" * 16
    place = Place(report_id, EnvelopeRole.text)
    return ReportEnvelope(
        id="e0" * 16,
        report_id=report_id,
        role=EnvelopeRole.text,
        position=0,
        header=header if header is not None else payload.header(recipients, place),
        blob_key=payload.blob_key,
        size=payload.size,
    )


def _digest(store: FilesystemBlobStore, key: str) -> str:
    with store.open(key) as blob:
        return hashlib.sha256(blob.read()).hexdigest()


def test_a_payload_written_before_its_readers_are_known_opens_for_them(store):
    writer = PayloadBlob(store, len(TEXT))
    for start in range(0, len(TEXT), 10_000):
        writer.write(TEXT[start : start + 10_000])
    payload = writer.finish()
    assert payload.plaintext_size == len(TEXT)
    assert payload.size == payload_size(len(TEXT))
    assert "file_key" not in repr(payload)
    inspector, recovery = X25519Identity.generate(), X25519Identity.generate()
    row = _row(payload, [inspector.recipient, recovery.recipient])
    for identity in (inspector, recovery):
        assert envelopes.read_bytes(store, row, [identity], 10**7) == TEXT
    with pytest.raises(NoIdentityMatch):
        envelopes.read_bytes(store, row, [X25519Identity.generate()], 10**7)


def test_rewrap_changes_the_header_only(store):
    payload = seal_payload(store, TEXT)
    first, granted = X25519Identity.generate(), X25519Identity.generate()
    row = _row(payload, [first.recipient])
    before = _digest(store, payload.blob_key)
    new_header = envelopes.rewrap(row.header, [first], [first.recipient, granted.recipient])
    assert _digest(store, payload.blob_key) == before
    assert new_header != row.header
    assert envelopes.read_bytes(store, _row(payload, [], new_header), [granted], 10**7) == TEXT
    with pytest.raises(NoIdentityMatch):
        envelopes.read_bytes(store, row, [granted], 10**7)


def test_granting_access_to_a_stored_report_leaves_its_blobs_untouched(db, org, blobs):
    with db() as session:
        submitted = submit(session, blobs, PEPPER, form(), [], TODAY, PARAMS)
    outsider = org.keys["grp.insp1"]
    with db() as session:
        report = session.get(Report, submitted.report_id)
        (text,) = [e for e in report.envelopes if e.role == EnvelopeRole.text]
        before = _digest(blobs, text.blob_key)
        with pytest.raises(NoIdentityMatch):
            envelopes.read_bytes(blobs, text, [outsider], 10**6)
        envelopes.rewrap_envelope(
            text, [org.keys["mch.insp1"]], [org.recovery["MCH"].recipient, outsider.recipient]
        )
    with db() as session:
        text = session.get(ReportEnvelope, text.id)
        assert _digest(blobs, text.blob_key) == before
        document = envelopes.read_bytes(blobs, text, [outsider], 10**6)
        assert "指定供应商".encode() in document
        # mch.insp1 was left out of the new header: recusal is the same operation.
        with pytest.raises(NoIdentityMatch):
            envelopes.read_bytes(blobs, text, [org.keys["mch.insp1"]], 10**6)


def test_a_tampered_header_or_payload_is_refused(store):
    payload = seal_payload(store, TEXT)
    reader = X25519Identity.generate()
    row = _row(payload, [reader.recipient])
    header = row.header
    mac_at = header.rindex(b"--- ") + 4
    forged_mac = header[:mac_at] + (b"A" if header[mac_at : mac_at + 1] != b"A" else b"B")
    forged_mac += header[mac_at + 1 :]
    with pytest.raises((HmacError, HeaderError)):
        envelopes.read_bytes(store, _row(payload, [], forged_mac), [reader], 10**7)
    with pytest.raises(HeaderError):
        wrong_version = b"age-encryption.org/v2\n" + header[22:]
        envelopes.read_bytes(store, _row(payload, [], wrong_version), [reader], 10**7)
    # One flipped bit in the middle of the payload blob.
    path = store.root / payload.blob_key[:2] / payload.blob_key
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(PayloadError):
        envelopes.read_bytes(store, row, [reader], 10**7)
    # A truncated payload.
    path.write_bytes(bytes(data[: 16 + 65_536 + 16]))
    with pytest.raises(PayloadError):
        envelopes.read_bytes(store, row, [reader], 10**7)


def test_a_header_with_data_after_it_does_not_rewrap(store):
    payload = seal_payload(store, b"x")
    reader = X25519Identity.generate()
    header = _row(payload, [reader.recipient]).header
    with pytest.raises(HeaderError):
        envelopes.rewrap(header + b"extra", [reader], [reader.recipient])


def test_blobs_and_their_folders_are_fsynced_before_return(store, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    payload = seal_payload(store, "证据".encode())
    blob_path = store.root / payload.blob_key[:2] / payload.blob_key
    assert str(blob_path) in synced
    assert str(blob_path.parent) in synced  # the new file's entry in its folder
    assert str(store.root) in synced  # the folder was new: its entry in the root
    # A blob's times keep the day only.
    assert int(blob_path.stat().st_mtime) % 86400 == 0


def test_an_aborted_payload_leaves_no_file(store):
    writer = PayloadBlob(store, 1000)
    writer.write(b"half of a file")
    writer.abort()
    assert list(store.keys()) == []


def test_a_payload_past_its_limit_is_dropped(store):
    from app.services.blobs import BlobTooLarge

    writer = PayloadBlob(store, 10)
    with pytest.raises(BlobTooLarge):
        writer.write(b"x" * 70_000)  # sealed chunks pass the blob's limit
        writer.finish()
    assert list(store.keys()) == []


@pytest.mark.agecli
def test_an_exported_file_opens_with_the_age_tool(store, tmp_path: Path):
    payload = seal_payload(store, TEXT)
    reader = X25519Identity.generate()
    header = _row(payload, [reader.recipient, X25519Identity.generate().recipient]).header
    exported = tmp_path / "report.age"
    with envelopes.joined(store, header, payload.blob_key) as src:
        exported.write_bytes(src.read())
    key = tmp_path / "key.txt"
    key.write_text(f"{reader.secret_key_text()}\n")
    result = age("-d", "-i", str(key), str(exported))
    assert result.returncode == 0, result.stderr
    assert result.stdout == TEXT


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 280_000])
def test_the_size_of_a_file_follows_from_its_payload_s(store, size):
    sealed = envelopes.seal_payload(store, "账".encode() * (size // 3) + b"x" * (size % 3))
    assert sealed.size == envelopes.payload_size(size)
    assert envelopes.plaintext_size(sealed.size) == size
