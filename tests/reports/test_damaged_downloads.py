"""A reporter's download of a file whose payload was swapped or damaged on the server: the page
that says so (409), never a 500, and never a truncated file that passes for the whole."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app.models import EnvelopeRole, Report, StaffUser
from app.public.reports import followup_views
from app.services.reports.messages import post_office_message
from app.services.reports.submission import submit
from crypto.errors import PayloadError
from crypto.receipts import derive_receipt
from crypto.stream import CHUNK_SIZE
from tests.helpers.reports import PARAMS, PEPPER, TODAY, flip_byte, form, upload_files

WORDS = "请核对附件中的报销明细，如有出入请在回复中说明。"
DAMAGED_ZH = "此文件无法打开"
# 280 KB of Chinese text: five chunks of the payload.
LINE = "二〇二四年差旅费报销明细：张某某，北京至上海往返机票，金额四千二百元。\n"
LEDGER = (LINE * 4000).encode()[:280_000]


def _report_with_a_file(db, blobs, org, data: bytes):
    with db() as session:
        done = submit(session, blobs, PEPPER, form(what="报销问题举报"), [], TODAY, PARAMS)
    with db() as session:
        report = session.get(Report, done.report_id)
        inspector = session.get(StaffUser, org.staff["mch.insp1"])
        files = upload_files(blobs, [("报销明细.txt", "text/plain", data)])
        post_office_message(session, blobs, report, inspector, WORDS, files, TODAY)
        envelope_of = {e.role: e.id for e in report.messages[0].envelopes}
    identity = derive_receipt(done.code, PEPPER, PARAMS.current_params).identity
    return done, envelope_of, identity


def _client(public_app, done, identity):
    token = public_app.extensions["portal.followup_sessions"].start(done.report_id, identity)
    client = public_app.test_client()
    client.set_cookie("portal_followup", token, path="/report/")
    return client


def _blob_key(db, envelope_id: str) -> str:
    with db() as session:
        return session.execute(
            text("SELECT blob_key FROM report_envelopes WHERE id = :id"), {"id": envelope_id}
        ).scalar_one()


def _flip(blobs, key: str, offset: int) -> None:
    flip_byte(blobs, key, offset)


def _url(envelope_id: str) -> str:
    return f"/report/follow-up/files/{envelope_id}?name=报销明细.txt"


def test_a_file_whose_payload_was_swapped_is_refused_not_a_server_error(db, org, blobs, public_app):
    done, files, identity = _report_with_a_file(db, blobs, org, LEDGER)
    client = _client(public_app, done, identity)
    whole = client.get(_url(files[EnvelopeRole.attachment]))
    assert whole.status_code == 200 and whole.data == LEDGER
    # The file's header stays, the payload becomes the message text's, and the other way.
    attachment, message_text = files[EnvelopeRole.attachment], files[EnvelopeRole.text]
    keys = {e: _blob_key(db, e) for e in (attachment, message_text)}
    with db() as session:
        moves = [(attachment, "0" * 32), (message_text, keys[attachment])]
        for envelope_id, key in [*moves, (attachment, keys[message_text])]:
            session.execute(
                text("UPDATE report_envelopes SET blob_key = :k WHERE id = :id"),
                {"k": key, "id": envelope_id},
            )
    download = client.get(_url(attachment))
    body = download.get_data(as_text=True)
    assert download.status_code == 409 and DAMAGED_ZH in body
    assert "Content-Disposition" not in download.headers and LEDGER[:30] not in download.data
    page = client.get("/report/follow-up")
    assert page.status_code == 200 and DAMAGED_ZH in page.get_data(as_text=True)


def test_a_file_damaged_far_from_its_start_is_refused_whole(db, org, blobs, public_app):
    done, files, identity = _report_with_a_file(db, blobs, org, LEDGER)
    attachment = files[EnvelopeRole.attachment]
    _flip(blobs, _blob_key(db, attachment), 200_000)
    download = _client(public_app, done, identity).get(_url(attachment))
    assert download.status_code == 409 and DAMAGED_ZH in download.get_data(as_text=True)
    assert LEDGER[:30] not in download.data and "Content-Disposition" not in download.headers


def test_a_large_file_is_checked_at_its_start_and_aborted_at_later_damage(
    db, org, blobs, public_app, monkeypatch
):
    monkeypatch.setattr(followup_views, "CHECKED_BEFORE_SENDING", CHUNK_SIZE)
    done, files, identity = _report_with_a_file(db, blobs, org, LEDGER)
    attachment = files[EnvelopeRole.attachment]
    client = _client(public_app, done, identity)
    whole = client.get(_url(attachment))
    assert whole.content_length == len(LEDGER) and whole.data == LEDGER  # streamed, undamaged
    key = _blob_key(db, attachment)
    _flip(blobs, key, 100)  # the first chunk: refused before anything is sent
    download = client.get(_url(attachment))
    assert download.status_code == 409 and DAMAGED_ZH in download.get_data(as_text=True)
    _flip(blobs, key, 100)
    _flip(blobs, key, 200_000)  # past what is checked: the download is cut off, not ended
    download = client.get(_url(attachment))
    # Announced whole: cut short of it, the download fails in the browser (and through a
    # proxy that reads the answer up to its end).
    assert download.status_code == 200 and download.content_length == len(LEDGER)
    with pytest.raises(PayloadError):
        download.get_data()
