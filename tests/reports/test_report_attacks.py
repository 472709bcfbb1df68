"""Trying to break the report channel from outside: traces, forgeries, floods, odd bodies."""

from __future__ import annotations

import io
import logging

import pytest
from sqlalchemy import func, select, text
from werkzeug.test import EnvironBuilder

from app.db import Base
from app.models import DisciplineOffice, Report, ReportEnvelope, Unit, UnitKind
from tests.helpers.forms import csrf_token
from tests.helpers.report_pages import (
    CANARY,
    FILE_CANARY,
    blob_files,
    files_under,
    post_report,
    report_form_data,
)

MARKER_ADDRESS = "198.51.100.211"
MARKER_FORWARDED = "203.0.113.77"
MARKER_AGENT = "MarkerReporterAgent/9.1"
MARKER_REQUEST_ID = "req-marker-4c1d9e"


def test_no_address_agent_request_id_or_plaintext_reaches_disk_or_logs(
    demo_sqlite, sqlite_instance, caplog, capsys
):
    caplog.set_level(logging.DEBUG)
    app = sqlite_instance.app("public", TRUSTED_PROXIES=f"{MARKER_ADDRESS}/32")
    app.testing = False
    client = app.test_client()
    headers = {
        "User-Agent": MARKER_AGENT,
        "X-Forwarded-For": MARKER_FORWARDED,
        "X-Request-Id": MARKER_REQUEST_ID,
    }
    environ = {"REMOTE_ADDR": MARKER_ADDRESS}
    page = client.get("/report/new", headers=headers, environ_base=environ).get_data(as_text=True)
    data = report_form_data(client, csrf_token=csrf_token(page))
    data["attachments"] = [(io.BytesIO(FILE_CANARY * 100), "记录.txt")]
    response = post_report(client, data, headers=headers, environ_base=environ)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    with app.extensions["portal.db"].session() as session:
        report = session.scalars(select(Report)).one()
        # Dates, not times: nothing tied to the report has a time of day.
        assert {type(report.received_on).__name__, type(report.feedback_by).__name__} == {"date"}
        session.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))
    found = files_under(sqlite_instance.path)
    assert any(p.name.endswith("-wal") for p in found)
    for path in found:
        blob = path.read_bytes()
        for marker in (MARKER_ADDRESS, MARKER_FORWARDED, MARKER_AGENT, MARKER_REQUEST_ID):
            assert marker.encode() not in blob, f"{marker} in {path}"
        assert CANARY.encode() not in blob, path
        assert FILE_CANARY not in blob, path
    logged = caplog.text + "".join(capsys.readouterr())
    for marker in (MARKER_ADDRESS, MARKER_FORWARDED, MARKER_AGENT, MARKER_REQUEST_ID, CANARY):
        assert marker not in logged


def test_no_plaintext_in_the_temp_directory_while_files_are_parsed(
    demo_sqlite, sqlite_instance, tmp_path, monkeypatch
):
    import tempfile

    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    # Temporary files may have no name at all (O_TMPFILE): count their making, not the folder.
    made = []
    for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        original = getattr(tempfile, name)

        def spy(*args, _original=original, _name=name, **kwargs):
            made.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(tempfile, name, spy)
    app = sqlite_instance.app("public")
    client = app.test_client()
    data = report_form_data(client)
    # Large enough that Werkzeug would spool it to a temporary file (past 500 KB).
    data["attachments"] = [(io.BytesIO(FILE_CANARY * 200_000), "大文件.bin")]
    made.clear()  # the test client's own spooling of the body it sends is not the server's
    builder = EnvironBuilder(
        path="/report/new", method="POST", data=data, content_type="multipart/form-data"
    )
    environ = builder.get_environ()
    builder.close()
    made.clear()
    try:
        response = client.open(environ, follow_redirects=True)
    finally:
        environ["wsgi.input"].close()
    assert response.status_code == 200
    assert made == [] and files_under(spool) == []
    assert not any(FILE_CANARY in p.read_bytes() for p in blob_files(app))
    with app.extensions["portal.db"].session() as session:
        files = session.scalars(
            select(ReportEnvelope).where(ReportEnvelope.role == "attachment")
        ).all()
        assert len(files) == 1 and files[0].size > len(FILE_CANARY) * 200_000


def test_csrf_is_required_and_a_refused_post_leaves_no_file(demo, public_app):
    client = public_app.test_client()
    data = report_form_data(client)
    del data["csrf_token"]
    data["attachments"] = [(io.BytesIO(FILE_CANARY), "证据.txt")]
    response = post_report(client, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "表单已过期" in page and CANARY in page  # nothing stored, nothing typed lost
    assert blob_files(public_app) == []
    with public_app.extensions["portal.db"].session() as session:
        assert session.scalars(select(Report)).first() is None


def test_too_many_and_too_large_files_keep_the_form(demo, instance):
    app = instance.app("public", REPORT_MAX_FILES=2, REPORT_MAX_BYTES=1024 * 1024)
    client = app.test_client()
    for files, words in (
        ([(io.BytesIO(b"x" * 10), f"文件{i}.txt") for i in range(3)], "文件过多：最多 2 个"),
        ([(io.BytesIO(b"y" * (1024 * 1024 + 1)), "太大.bin")], "文件过大：合计最多 1 MiB"),
    ):
        data = report_form_data(client)
        data["attachments"] = files
        response = post_report(client, data)
        page = response.get_data(as_text=True)
        assert response.status_code == 400, page[:2000]
        assert words in page and "车间主任 李某" in page and CANARY in page
        assert blob_files(app) == []
    # Past the whole request's limit the body is not read at all.
    data = report_form_data(client)
    data["attachments"] = [(io.BytesIO(b"z" * (3 * 1024 * 1024)), "巨大.bin")]
    response = post_report(client, data)
    assert response.status_code == 413
    assert blob_files(app) == []


@pytest.mark.parametrize(
    "body",
    [
        b'--b\r\nContent-Disposition: form-data; name="what"\r\n\r\n\xe4\xb8',  # cut short
        b"not multipart at all",
        b'--b\r\nContent-Disposition: form-data; name="attachments"; filename="a.txt"\r\n'
        b"\r\nabc",  # a file part that never ends
        b"",
    ],
)
def test_malformed_multipart_bodies_are_refused_cleanly(demo, public_app, body):
    client = public_app.test_client()
    response = client.post(
        "/report/new",
        data=body,
        content_type="multipart/form-data; boundary=b",
        follow_redirects=True,
    )
    assert response.status_code == 400
    assert blob_files(public_app) == []


def test_an_empty_file_input_is_no_attachment_and_a_disguised_file_is_stored_as_sent(
    demo, public_app
):
    client = public_app.test_client()
    data = report_form_data(client)
    data["attachments"] = [
        (io.BytesIO(b""), ""),  # the input left empty, as browsers send it
        (io.BytesIO(b"\xff\xd8\xff\xe0 not really a JPEG"), "照片.jpg"),
    ]
    response = post_report(client, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:2000]
    assert "照片.jpg" in page and "无法读取以清除隐藏信息" in page
    with public_app.extensions["portal.db"].session() as session:
        files = session.scalars(
            select(ReportEnvelope).where(ReportEnvelope.role == "attachment")
        ).all()
        assert len(files) == 1


def test_an_office_that_cannot_read_means_the_channel_is_closed_and_nothing_is_kept(instance):
    app = instance.app("public")
    with app.extensions["portal.db"].session() as session:
        unit = Unit(code="CHM-W1", name_zh="合成车间", name_en="Synthesis", kind=UnitKind.workshop)
        session.add_all([unit, DisciplineOffice(unit=unit, name_zh="纪委", name_en="Office")])
        session.commit()
    client = app.test_client()
    data = report_form_data(client)
    data["attachments"] = [(io.BytesIO(FILE_CANARY), "证据.txt")]
    response = post_report(client, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "目前无法受理针对该单位的举报" in page and CANARY in page
    assert blob_files(app) == []
    with app.extensions["portal.db"].session() as session:
        assert session.scalars(select(Report)).first() is None


def test_a_refused_form_keeps_only_its_own_fields_and_little_memory(demo, public_app):
    client = public_app.test_client()
    data = report_form_data(client, what="")  # refused: what happened is missing
    junk = {f"junk{n}": "垃圾" * 50_000 for n in range(20)}  # 20 fields of 150 KB
    data.update(junk)
    data["persons"] = "甲" * 5000  # past the field's 1,000 characters
    response = post_report(client, data, follow=False)
    assert response.status_code == 303
    store = public_app.extensions["portal.handover.pages"].store
    assert store._bytes < 64 * 1024  # the form's own fields, each cut to its length
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "垃圾" not in page and "甲" * 1000 in page and "甲" * 1001 not in page


def test_pages_no_view_answers_under_report_are_not_kept_either(public_app):
    client = public_app.test_client()
    for response in (client.get("/report/follow-up/reply"), client.get("/report/nothing")):
        assert response.status_code in (404, 405)
        assert response.headers["Cache-Control"] == "no-store"


def test_an_impossible_exclusion_is_marked_on_its_field(demo, public_app):
    client = public_app.test_client()
    response = client.post("/report/new", data=report_form_data(client, excluded=[str(2**63)]))
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    excluded = page[page.index("需要回避的人员") :]
    assert "此项内容无效。" in excluded[: excluded.index("</fieldset>")]


def _rows_per_table(app) -> dict[str, int]:
    with app.extensions["portal.db"].session() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def _kept_for_browsers(app) -> dict[str, int]:
    """How many entries wait in each store of short-lived values a report's POST may fill."""
    return {
        "follow-up sessions": len(app.extensions["portal.followup_sessions"].store),
        "receipts": len(app.extensions["portal.handover.receipts"].store),
        "pages": len(app.extensions["portal.handover.pages"].store),
    }


def test_the_honeypot_answers_with_a_redirect_and_stores_nothing(demo, instance):
    app = instance.app("public")
    client = app.test_client()
    data = report_form_data(client, leave_empty="http://spam.example")
    data["attachments"] = [
        (io.BytesIO(FILE_CANARY), "证据.txt"),  # small: held in memory to be cleaned
        (io.BytesIO(FILE_CANARY * 200_000), "录音.bin"),  # not cleaned: encrypted as it comes
    ]
    rows, kept = _rows_per_table(app), _kept_for_browsers(app)
    assert rows["reports"] == 0 and blob_files(app) == []
    response = post_report(client, data, follow=False)
    assert response.status_code == 303 and response.headers["Location"].endswith("/report/sent")
    assert response.headers.getlist("Set-Cookie") == []  # no receipt, no form handed back
    dropped = client.get(response.headers["Location"])
    assert dropped.status_code == 200 and dropped.headers.getlist("Set-Cookie") == []
    assert CANARY not in dropped.get_data(as_text=True)
    assert _rows_per_table(app) == rows  # no report, envelope, receipt or audit row
    assert blob_files(app) == []  # neither file, whole or in part
    assert _kept_for_browsers(app) == kept
    reporter = app.test_client()
    sent = post_report(reporter, report_form_data(reporter))
    assert sent.status_code == 200 and 'class="receipt-code"' in sent.get_data(as_text=True)
