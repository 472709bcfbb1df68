"""Trying to break the report channel from outside: traces, forgeries, floods, odd bodies."""

from __future__ import annotations

import io
import logging
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from werkzeug.test import EnvironBuilder

from app.db import Base
from app.models import DisciplineOffice, Report, ReportEnvelope, Unit, UnitKind
from tests.helpers.forms import csrf_token

MARKER_ADDRESS = "198.51.100.211"
MARKER_FORWARDED = "203.0.113.77"
MARKER_AGENT = "MarkerReporterAgent/9.1"
MARKER_REQUEST_ID = "req-marker-4c1d9e"
CANARY = "举报正文金丝雀-a81f"
FILE_CANARY = b"FILE-CANARY-0b9e7d"


def _form(client, **extra) -> dict:
    page = client.get("/report/new").get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(page),
        "kind": "misconduct",
        "category": "misuse_of_funds",
        "unit": "CHM-W1",
        "level": "middle_manager",
        "persons": "车间主任 李某",
        "what": f"挪用班组活动经费。{CANARY}",
        "send": "1",
    }
    data.update(extra)
    return data


def _post(client, data: dict, follow: bool = True, path: str = "/report/new", **kwargs):
    """A multipart POST whose body (spooled to a temporary file when large) is closed after."""
    headers = kwargs.pop("headers", None)
    environ_base = {**client.environ_base, **kwargs.pop("environ_base", {})}
    builder = EnvironBuilder(
        path=path,
        method="POST",
        data=data,
        content_type="multipart/form-data",
        headers=headers,
        environ_base=environ_base,
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    try:
        return client.open(environ, follow_redirects=follow)
    finally:
        environ["wsgi.input"].close()


def _files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _blob_files(app) -> list[Path]:
    return _files_under(Path(app.config["BLOB_PATH"]))


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
    data = _form(client, csrf_token=csrf_token(page))
    data["attachments"] = [(io.BytesIO(FILE_CANARY * 100), "记录.txt")]
    response = _post(client, data, headers=headers, environ_base=environ)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    with app.extensions["portal.db"].session() as session:
        report = session.scalars(select(Report)).one()
        # Dates, not times: nothing tied to the report has a time of day.
        assert {type(report.received_on).__name__, type(report.feedback_by).__name__} == {"date"}
        session.execute(text("PRAGMA wal_checkpoint(PASSIVE)"))
    found = _files_under(sqlite_instance.path)
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
    data = _form(client)
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
    assert made == [] and _files_under(spool) == []
    assert not any(FILE_CANARY in p.read_bytes() for p in _blob_files(app))
    with app.extensions["portal.db"].session() as session:
        files = session.scalars(
            select(ReportEnvelope).where(ReportEnvelope.role == "attachment")
        ).all()
        assert len(files) == 1 and files[0].size > len(FILE_CANARY) * 200_000


def test_csrf_is_required_and_a_refused_post_leaves_no_file(demo, public_app):
    client = public_app.test_client()
    data = _form(client)
    del data["csrf_token"]
    data["attachments"] = [(io.BytesIO(FILE_CANARY), "证据.txt")]
    response = _post(client, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "表单已过期" in page and CANARY in page  # nothing stored, nothing typed lost
    assert _blob_files(public_app) == []
    with public_app.extensions["portal.db"].session() as session:
        assert session.scalars(select(Report)).first() is None


def test_too_many_and_too_large_files_keep_the_form(demo, instance):
    app = instance.app("public", REPORT_MAX_FILES=2, REPORT_MAX_BYTES=1024 * 1024)
    client = app.test_client()
    for files, words in (
        ([(io.BytesIO(b"x" * 10), f"文件{i}.txt") for i in range(3)], "文件过多：最多 2 个"),
        ([(io.BytesIO(b"y" * (1024 * 1024 + 1)), "太大.bin")], "文件过大：合计最多 1 MiB"),
    ):
        data = _form(client)
        data["attachments"] = files
        response = _post(client, data)
        page = response.get_data(as_text=True)
        assert response.status_code == 400, page[:2000]
        assert words in page and "车间主任 李某" in page and CANARY in page
        assert _blob_files(app) == []
    # Past the whole request's limit the body is not read at all.
    data = _form(client)
    data["attachments"] = [(io.BytesIO(b"z" * (3 * 1024 * 1024)), "巨大.bin")]
    response = _post(client, data)
    assert response.status_code == 413
    assert _blob_files(app) == []


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
    assert _blob_files(public_app) == []


def test_an_empty_file_input_is_no_attachment_and_a_disguised_file_is_stored_as_sent(
    demo, public_app
):
    client = public_app.test_client()
    data = _form(client)
    data["attachments"] = [
        (io.BytesIO(b""), ""),  # the input left empty, as browsers send it
        (io.BytesIO(b"\xff\xd8\xff\xe0 not really a JPEG"), "照片.jpg"),
    ]
    response = _post(client, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:2000]
    assert "照片.jpg" in page and "无法读取以清除隐藏信息" in page
    with public_app.extensions["portal.db"].session() as session:
        files = session.scalars(
            select(ReportEnvelope).where(ReportEnvelope.role == "attachment")
        ).all()
        assert len(files) == 1


def test_the_per_client_limit_says_so_and_keeps_what_was_typed(demo, instance):
    app = instance.app("public", RATELIMIT_REPORTS="1 per hour")
    client = app.test_client()
    assert client.post("/report/new", data=_form(client), follow_redirects=True).status_code == 200
    data = _form(client, persons="第二份举报的被反映人")
    data["attachments"] = [(io.BytesIO(FILE_CANARY), "第二份.txt")]
    response = _post(client, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 429
    assert "短时间内提交的举报过多" in page and "请一小时后再试" in page
    assert "第二份举报的被反映人" in page and CANARY in page
    assert not any(FILE_CANARY in p.read_bytes() for p in _blob_files(app))
    # Another reporter is not held back by this one.
    other = app.test_client()
    response = other.post(
        "/report/new",
        data=_form(other),
        environ_base={"REMOTE_ADDR": "198.51.100.9"},
        follow_redirects=True,
    )
    assert response.status_code == 200


def test_forms_without_the_proof_of_work_have_their_own_smaller_budget(demo, instance):
    app = instance.app("public", RATELIMIT_REPORTS_NOSCRIPT_ALL="2 per hour")
    statuses = []
    for number in range(3):
        client = app.test_client()
        environ = {"REMOTE_ADDR": f"198.51.100.{number + 20}"}
        client.get("/report/new", environ_base=environ)
        response = client.post(
            "/report/new", data=_form(client), environ_base=environ, follow_redirects=True
        )
        statuses.append(response.status_code)
    assert statuses == [200, 200, 429]
    # A form with a solved challenge still gets through.
    from app.public.reports.pow import solves

    client = app.test_client()
    page = client.get("/report/new").get_data(as_text=True)
    import itertools
    import re

    challenge = re.search(r'data-pow-challenge="([^"]+)"', page).group(1)
    bits = int(challenge.rpartition(".")[2])
    nonce = next(str(n) for n in itertools.count() if solves(challenge, str(n), bits))
    data = _form(client, pow_challenge=challenge, pow_nonce=nonce)
    assert client.post("/report/new", data=data, follow_redirects=True).status_code == 200


def test_guessing_codes_is_limited_even_for_the_right_code(demo, instance):
    app = instance.app("public", RATELIMIT_RECEIPTS="3 per hour")
    client = app.test_client()
    page = client.post("/report/new", data=_form(client), follow_redirects=True).get_data(
        as_text=True
    )
    import re

    code = "".join(re.findall(r"<span>(\d{4})</span>", page))
    token = csrf_token(client.get("/report/follow-up").get_data(as_text=True))
    tries = [f"{n:020d}" for n in range(3)] + [code]
    statuses = [
        client.post(
            "/report/follow-up", data={"csrf_token": token, "code": c}, follow_redirects=True
        ).status_code
        for c in tries
    ]
    assert statuses == [200, 200, 200, 429]
    assert client.get_cookie("portal_followup", path="/report/") is None


def test_an_office_that_cannot_read_means_the_channel_is_closed_and_nothing_is_kept(instance):
    app = instance.app("public")
    with app.extensions["portal.db"].session() as session:
        unit = Unit(code="CHM-W1", name_zh="合成车间", name_en="Synthesis", kind=UnitKind.workshop)
        session.add_all([unit, DisciplineOffice(unit=unit, name_zh="纪委", name_en="Office")])
        session.commit()
    client = app.test_client()
    data = _form(client)
    data["attachments"] = [(io.BytesIO(FILE_CANARY), "证据.txt")]
    response = _post(client, data)
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "目前无法受理针对该单位的举报" in page and CANARY in page
    assert _blob_files(app) == []
    with app.extensions["portal.db"].session() as session:
        assert session.scalars(select(Report)).first() is None


def test_a_refused_form_keeps_only_its_own_fields_and_little_memory(demo, public_app):
    client = public_app.test_client()
    data = _form(client, what="")  # refused: what happened is missing
    junk = {f"junk{n}": "垃圾" * 50_000 for n in range(20)}  # 20 fields of 150 KB
    data.update(junk)
    data["persons"] = "甲" * 5000  # past the field's 1,000 characters
    response = _post(client, data, follow=False)
    assert response.status_code == 303
    store = public_app.extensions["portal.handover.pages"].store
    assert store._bytes < 64 * 1024  # the form's own fields, each cut to its length
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "垃圾" not in page and "甲" * 1000 in page and "甲" * 1001 not in page


def test_forms_the_service_refuses_do_not_use_up_everyone_s_budget(demo, instance):
    app = instance.app("public", RATELIMIT_REPORTS_NOSCRIPT_ALL="1 per hour")
    for number in range(3):  # unknown units: refused, and not counted
        client = app.test_client()
        environ = {"REMOTE_ADDR": f"198.51.100.{number + 40}"}
        response = client.post(
            "/report/new", data=_form(client, unit="NO-SUCH"), environ_base=environ
        )
        assert response.status_code == 303
        page = client.get(response.headers["Location"], environ_base=environ)
        assert page.status_code == 400 and "请从选项中选择" in page.get_data(as_text=True)
    client = app.test_client()
    response = client.post("/report/new", data=_form(client), follow_redirects=True)
    assert response.status_code == 200 and 'class="receipt-code"' in response.get_data(as_text=True)


def test_pages_no_view_answers_under_report_are_not_kept_either(public_app):
    client = public_app.test_client()
    for response in (client.get("/report/follow-up/reply"), client.get("/report/nothing")):
        assert response.status_code in (404, 405)
        assert response.headers["Cache-Control"] == "no-store"


def test_an_impossible_exclusion_is_marked_on_its_field(demo, public_app):
    client = public_app.test_client()
    response = client.post("/report/new", data=_form(client, excluded=[str(2**63)]))
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    excluded = page[page.index("需要回避的纪检人员") :]
    assert "此项内容无效。" in excluded[: excluded.index("</fieldset>")]


def test_a_flood_of_refused_forms_cannot_push_out_a_waiting_receipt(demo, public_app):
    reporter = public_app.test_client()
    sent = reporter.post("/report/new", data=_form(reporter))
    assert sent.status_code == 303  # the receipt waits for the reporter's GET
    pages = public_app.extensions["portal.handover.pages"].store
    pages._max = 50  # a small store, filled by one visitor's refused forms
    flood = public_app.test_client()
    for _ in range(120):
        flood.post("/report/new", data=_form(flood, what="", persons="垃圾" * 500))
    assert len(pages) <= 50
    page = reporter.get(sent.headers["Location"]).get_data(as_text=True)
    assert len("".join(re.findall(r"<span>(\d{4})</span>", page))) == 20


def test_a_body_past_the_limit_is_answered_with_a_redirect_and_a_reason(demo, instance):
    app = instance.app("public", REPORT_MAX_BYTES=1024 * 1024)
    client = app.test_client()
    data = _form(client)
    data["attachments"] = [(io.BytesIO(b"z" * (3 * 1024 * 1024)), "巨大.bin")]
    response = _post(client, data, follow=False)
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    assert page.status_code == 413 and "1 MiB" in page.get_data(as_text=True)


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
    # Everyone's budget of reports without a proof of work is one: a report the honeypot
    # counted would leave none for the reporter at the end.
    app = instance.app("public", RATELIMIT_REPORTS_NOSCRIPT_ALL="1 per hour")
    client = app.test_client()
    data = _form(client, leave_empty="http://spam.example")
    data["attachments"] = [
        (io.BytesIO(FILE_CANARY), "证据.txt"),  # small: held in memory to be cleaned
        (io.BytesIO(FILE_CANARY * 200_000), "录音.bin"),  # not cleaned: encrypted as it comes
    ]
    rows, kept = _rows_per_table(app), _kept_for_browsers(app)
    assert rows["reports"] == 0 and _blob_files(app) == []
    response = _post(client, data, follow=False)
    assert response.status_code == 303 and response.headers["Location"].endswith("/report/sent")
    assert response.headers.getlist("Set-Cookie") == []  # no receipt, no form handed back
    dropped = client.get(response.headers["Location"])
    assert dropped.status_code == 200 and dropped.headers.getlist("Set-Cookie") == []
    assert CANARY not in dropped.get_data(as_text=True)
    assert _rows_per_table(app) == rows  # no report, envelope, receipt or audit row
    assert _blob_files(app) == []  # neither file, whole or in part
    assert _kept_for_browsers(app) == kept
    reporter = app.test_client()
    sent = _post(reporter, _form(reporter))
    assert sent.status_code == 200 and 'class="receipt-code"' in sent.get_data(as_text=True)


def test_one_client_refused_again_and_again_cannot_fill_the_store_of_forms(demo, instance):
    from app.public.reports.handover import Handover
    from app.services.ephemeral import MemoryStore

    app = instance.app("public", RATELIMIT_RECEIPTS="5 per hour")
    window = time.time()  # one window of the budget, whenever the test runs
    store = MemoryStore(max_entries=30, max_bytes=1 << 20, now=lambda: window)
    app.extensions["portal.handover.pages"] = Handover(store, evict=False, spare=True)
    flooder = app.test_client()
    flooder.environ_base["REMOTE_ADDR"] = "198.51.100.66"
    token = csrf_token(flooder.get("/report/follow-up").get_data(as_text=True))
    for _ in range(40):  # malformed codes, then refused by the limit: each sent back
        response = flooder.post("/report/follow-up", data={"csrf_token": token, "code": "12"})
        assert response.status_code == 303
    assert len(store) == 20  # this client's share, not the whole store
    # Another reporter's refused form still comes back whole.
    reporter = app.test_client()
    reporter.environ_base["REMOTE_ADDR"] = "198.51.100.67"
    response = reporter.post("/report/new", data=_form(reporter, unit="NO-SUCH"))
    page = reporter.get(response.headers["Location"]).get_data(as_text=True)
    assert "请从选项中选择" in page and "挪用班组活动经费" in page


def test_a_page_refused_by_the_default_limit_says_when_without_a_redirect(demo, instance):
    app = instance.app("public", RATELIMIT_DEFAULT="3 per hour")
    client = app.test_client()
    for path in ("/report/follow-up", "/report/new", "/report/"):
        responses = [client.get(f"{path}?lang=en") for _ in range(4)]
        refused = responses[-1]
        assert [r.status_code for r in responses] == [200, 200, 200, 429], path
        page = refused.get_data(as_text=True)
        assert "Location" not in refused.headers and "Wait an hour and try again." in page
        assert "receipt codes" not in page
        assert refused.headers["Cache-Control"] == "no-store"


def test_a_reply_past_the_limit_is_answered_with_a_redirect_and_a_reason(demo, instance):
    app = instance.app("public", REPORT_MAX_BYTES=1024 * 1024)
    client = app.test_client()
    sent = client.post("/report/new", data=_form(client), follow_redirects=True)
    code = "".join(re.findall(r"<span>(\d{4})</span>", sent.get_data(as_text=True)))
    page = client.get("/report/follow-up").get_data(as_text=True)
    entered = client.post("/report/follow-up", data={"csrf_token": csrf_token(page), "code": code})
    assert entered.status_code == 303
    thread = client.get("/report/follow-up").get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(thread),
        "text": "补充一份很大的材料",
        "attachments": [(io.BytesIO(b"z" * (3 * 1024 * 1024)), "巨大的附件.bin")],
    }
    response = _post(client, data, follow=False, path="/report/follow-up/reply")
    assert response.status_code == 303
    shown = client.get(response.headers["Location"])
    assert shown.status_code == 413 and "1 MiB" in shown.get_data(as_text=True)


class _Unreachable:
    """A store whose server is down (Redis not answering)."""

    def put(self, *_args, **_kwargs):
        raise ConnectionError("store unreachable")

    def take(self, *_args):
        raise ConnectionError("store unreachable")


@pytest.mark.parametrize("store", ["full", "unreachable"])
def test_a_form_that_cannot_be_kept_says_so_instead_of_coming_back_empty(demo, instance, store):
    from app.public.reports.handover import Handover
    from app.services.ephemeral import MemoryStore

    app = instance.app("public")
    backend = MemoryStore(max_entries=1, max_bytes=1 << 20) if store == "full" else _Unreachable()
    app.extensions["portal.handover.pages"] = Handover(backend, evict=False, spare=True)
    if store == "full":
        other = app.test_client()
        other.environ_base["REMOTE_ADDR"] = "198.51.100.70"
        other.post("/report/new", data=_form(other, unit="NO-SUCH"))
        assert len(backend) == 1
    for path, data in (
        ("/report/new", lambda c: _form(c, unit="NO-SUCH")),
        ("/report/follow-up", lambda c: {"csrf_token": _form(c)["csrf_token"], "code": "12"}),
    ):
        client = app.test_client()
        response = client.post(path, data=data(client))
        assert response.status_code == 303
        page = client.get(response.headers["Location"])
        shown = page.get_data(as_text=True)
        assert page.status_code == 200 and "无法再次显示" in shown, path
        # Once: the next visit is the plain page.
        assert "无法再次显示" not in client.get(path).get_data(as_text=True)
