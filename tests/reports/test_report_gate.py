"""What a form must show before the server works for it, and floods that cannot close the
channel: no file is cleaned or encrypted for a form without a valid token, within the client's
limit and with work or a ready pass; a flood from one IPv6 network or of forms without script
makes further attempts cost more, and a real reporter's report and code still go through."""

from __future__ import annotations

import io
import itertools
import re

import pytest

import app.services.reports.uploads as uploads
from app.public.reports.pow import solves
from app.services.reports.submission import TEXT_LIMITS
from tests.helpers.forms import csrf_token
from tests.helpers.report_pages import (
    CANARY,
    FILE_CANARY,
    blob_files,
    noscript_pass,
    post_report,
    report_form_data,
)
from tests.helpers.reports import jpeg_bytes

PERSONS = "仓库保管员 赵某"


class Work:
    """Counts the files cleaned and the bytes encrypted while a test runs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.cleaned = 0
        self.written = 0
        clean, write = uploads.clean, uploads.EncryptingUpload.write

        def counted_clean(data, *args, **kwargs):
            self.cleaned += 1
            return clean(data, *args, **kwargs)

        def counted_write(upload, data):
            self.written += 1
            return write(upload, data)

        monkeypatch.setattr(uploads, "clean", counted_clean)
        monkeypatch.setattr(uploads.EncryptingUpload, "write", counted_write)

    @property
    def none(self) -> bool:
        return self.cleaned == 0 and self.written == 0


def _files() -> list:
    """Two files of a kind that is cleaned, and one that is encrypted as it comes."""
    return [
        (io.BytesIO(jpeg_bytes()), "现场照片.jpg"),
        (io.BytesIO(jpeg_bytes()), "仓库照片.jpg"),  # the first is cleaned when this begins
        (io.BytesIO(FILE_CANARY * 20), "账目.txt"),
    ]


def _multipart(parts: list) -> tuple[bytes, str]:
    """A multipart body with its parts in the order given: (file, name) pairs are files of the
    field ``attachments``, (name, value) pairs are fields."""
    boundary = "----边界-gate-7f3a".encode().hex()
    body = b""
    for first, second in parts:
        body += f"--{boundary}\r\n".encode()
        if isinstance(first, io.BytesIO):
            disposition = f'form-data; name="attachments"; filename="{second}"'
            body += f"Content-Disposition: {disposition}\r\n".encode()
            body += b"Content-Type: application/octet-stream\r\n\r\n"
            body += first.getvalue() + b"\r\n"
        else:
            body += f'Content-Disposition: form-data; name="{first}"\r\n\r\n'.encode()
            body += str(second).encode() + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _sent_back(client, response) -> tuple[int, str]:
    assert response.status_code == 303
    page = client.get(response.headers["Location"])
    return page.status_code, page.get_data(as_text=True)


class Clock:
    """The passes' clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_796_000_400.0  # a whole hour

    def __call__(self) -> float:
        return self.now


def _clocked(app) -> Clock:
    clock = Clock()
    app.extensions["portal.noscript_passes"].now = clock
    app.extensions["portal.entry_passes"].now = clock
    return clock


def _solve(page: str) -> dict:
    challenge = re.search(r'data-pow-challenge="([^"]+)"', page).group(1)
    bits = int(challenge.rpartition(".")[2])
    nonce = next(str(n) for n in itertools.count() if solves(challenge, str(n), bits))
    return {"pow_challenge": challenge, "pow_nonce": nonce}


def _stored(response) -> bool:
    return response.status_code == 200 and 'class="receipt-code"' in response.get_data(as_text=True)


def _code(response) -> str:
    return "".join(re.findall(r"<span>(\d{4})</span>", response.get_data(as_text=True)))


# --- nothing is cleaned or encrypted before the form is authorised ---------------------------


def test_an_authorised_form_has_its_files_cleaned_and_encrypted(demo, public_app, monkeypatch):
    work = Work(monkeypatch)
    client = public_app.test_client()
    data = {**report_form_data(client, persons=PERSONS), "attachments": _files()}
    assert _stored(post_report(client, data))
    assert work.cleaned == 2 and work.written > 0


@pytest.mark.parametrize("endpoint", ["report", "reply"])
def test_the_last_form_within_the_limit_is_stored_with_its_files(demo, instance, endpoint):
    app = instance.app("public", RATELIMIT_REPORTS="1 per hour", RATELIMIT_REPLIES="1 per hour")
    client = app.test_client()
    data = {**report_form_data(client, persons=PERSONS), "attachments": _files()}
    sent = post_report(client, data)
    assert _stored(sent)
    if endpoint == "reply":
        page = client.get("/report/follow-up").get_data(as_text=True)
        client.post("/report/follow-up", data={"csrf_token": csrf_token(page), "code": _code(sent)})
        thread = client.get("/report/follow-up").get_data(as_text=True)
        data = {"csrf_token": csrf_token(thread), "text": "补充材料", "attachments": _files()}
        response = post_report(client, data, path="/report/follow-up/reply")
        assert response.status_code == 200 and "现场照片.jpg" in response.get_data(as_text=True)


def test_a_form_with_a_bad_token_has_no_file_read(demo, public_app, monkeypatch):
    work = Work(monkeypatch)
    client = public_app.test_client()
    data = report_form_data(client, persons=PERSONS, csrf_token="伪造的令牌")
    status, page = _sent_back(client, post_report(client, {**data, "attachments": _files()}, False))
    assert work.none and blob_files(public_app) == []
    assert status == 400 and "表单已过期" in page and PERSONS in page and CANARY in page


def test_a_form_past_the_client_s_limit_has_no_file_read(demo, instance, monkeypatch):
    app = instance.app("public", RATELIMIT_REPORTS="1 per hour")
    client = app.test_client()
    assert _stored(post_report(client, report_form_data(client)))
    work = Work(monkeypatch)
    data = {**report_form_data(client, persons=PERSONS), "attachments": _files()}
    status, page = _sent_back(client, post_report(client, data, False))
    assert work.none
    assert status == 429 and "短时间内提交的举报过多" in page and PERSONS in page


def test_a_form_without_work_or_a_ready_pass_has_no_file_read(demo, instance, monkeypatch):
    app = instance.app("public", REPORT_NOSCRIPT_WAIT_MINUTES=2)
    clock = _clocked(app)
    work = Work(monkeypatch)
    client = app.test_client()
    data = {**report_form_data(client, persons=PERSONS), "attachments": _files()}
    status, page = _sent_back(client, post_report(client, data, False))
    assert work.none and blob_files(app) == []
    assert status == 429 and "2 分钟后再次提交" in page and PERSONS in page and CANARY in page
    # The page sent back carries the same pass: its wait goes on, and then the form counts.
    assert noscript_pass(page) == data["noscript_pass"]
    clock.now += 120
    data = {**report_form_data(client, persons=PERSONS), "noscript_pass": noscript_pass(page)}
    assert _stored(post_report(client, {**data, "attachments": _files()}))
    assert work.cleaned == 2


@pytest.mark.parametrize("endpoint", ["report", "reply"])
def test_files_sent_before_the_form_s_fields_are_not_read(demo, public_app, monkeypatch, endpoint):
    client = public_app.test_client()
    if endpoint == "report":
        path, fields = "/report/new", report_form_data(client, persons=PERSONS)
    else:
        sent = post_report(client, report_form_data(client))
        page = client.get("/report/follow-up").get_data(as_text=True)
        entered = client.post(
            "/report/follow-up", data={"csrf_token": csrf_token(page), "code": _code(sent)}
        )
        assert entered.status_code == 303
        thread = client.get("/report/follow-up").get_data(as_text=True)
        path, fields = (
            "/report/follow-up/reply",
            {"csrf_token": csrf_token(thread), "text": PERSONS},
        )
    work = Work(monkeypatch)
    # The file parts first, then the form's own fields.
    body, content_type = _multipart([*_files(), *fields.items()])
    status, page = _sent_back(client, client.post(path, data=body, content_type=content_type))
    assert work.none
    assert status == 400 and "文件在表单的其他字段之前" in page and PERSONS in page


def test_a_reply_with_a_bad_token_has_no_file_read(demo, public_app, monkeypatch):
    client = public_app.test_client()
    sent = post_report(client, report_form_data(client))
    page = client.get("/report/follow-up").get_data(as_text=True)
    client.post("/report/follow-up", data={"csrf_token": csrf_token(page), "code": _code(sent)})
    work = Work(monkeypatch)
    data = {"csrf_token": "伪造的令牌", "text": "补充材料", "attachments": _files()}
    response = post_report(client, data, False, path="/report/follow-up/reply")
    status, page = _sent_back(client, response)
    assert work.none and status == 400 and "补充材料" in page


def test_a_reply_without_a_session_has_no_file_read(demo, public_app, monkeypatch):
    client = public_app.test_client()
    token = csrf_token(client.get("/report/follow-up").get_data(as_text=True))
    work = Work(monkeypatch)
    data = {"csrf_token": token, "text": "补充材料", "attachments": _files()}
    response = post_report(client, data, False, path="/report/follow-up/reply")
    assert response.status_code == 303 and work.none


def test_replies_sent_back_do_not_use_up_the_client_s_limit(demo, instance):
    app = instance.app("public", RATELIMIT_REPLIES="1 per hour")
    client = app.test_client()
    sent = post_report(client, report_form_data(client))
    page = client.get("/report/follow-up").get_data(as_text=True)
    client.post("/report/follow-up", data={"csrf_token": csrf_token(page), "code": _code(sent)})
    token = csrf_token(client.get("/report/follow-up").get_data(as_text=True))
    for _ in range(3):  # no text: sent back
        response = client.post("/report/follow-up/reply", data={"csrf_token": token, "text": ""})
        assert _sent_back(client, response)[0] == 400
    response = client.post("/report/follow-up/reply", data={"csrf_token": token, "text": "补充"})
    assert response.status_code == 303 and "latest" in response.headers["Location"]
    response = client.post("/report/follow-up/reply", data={"csrf_token": token, "text": "再补充"})
    assert _sent_back(client, response)[0] == 429


# --- floods make further attempts cost more; a real reporter still gets through -------------


def test_a_flood_of_codes_from_one_network_leaves_the_channel_open(demo, instance):
    app = instance.app("public", RATELIMIT_RECEIPTS_ALL="50 per hour")
    reporter = app.test_client()
    reporter.environ_base["REMOTE_ADDR"] = "198.51.100.200"
    code = _code(post_report(reporter, report_form_data(reporter)))
    statuses = []
    for number in range(1, 101):  # 100 addresses of one /64, a guess each
        flood = app.test_client()
        flood.environ_base["REMOTE_ADDR"] = f"2001:db8:42:7::{number:x}"
        token = csrf_token(flood.get("/report/follow-up").get_data(as_text=True))
        guess = {"csrf_token": token, "code": f"{number:020d}"}
        statuses.append(flood.post("/report/follow-up", data=guess).status_code)
    # Every answer says why: by a redirect, or (past the /64's budget of waiting pages, 20)
    # in the answer itself; none is a server error.
    assert statuses[:20] == [303] * 20 and set(statuses[20:]) <= {303, 400, 429}
    assert app.extensions["portal.entry_pow"].load() == 10  # the /64's limit, not 100
    # The reporter's code opens the report, with no work asked.
    token = csrf_token(reporter.get("/report/follow-up").get_data(as_text=True))
    entered = reporter.post("/report/follow-up", data={"csrf_token": token, "code": code})
    assert entered.status_code == 303 and reporter.get_cookie("portal_followup", path="/report/")


def test_past_everyone_s_budget_a_code_costs_work_and_still_opens(demo, instance):
    app = instance.app("public", RATELIMIT_RECEIPTS_ALL="5 per hour", REPORT_POW_BITS=4)
    clock = _clocked(app)
    reporter = app.test_client()
    reporter.environ_base["REMOTE_ADDR"] = "198.51.100.201"
    code = _code(post_report(reporter, report_form_data(reporter)))
    for number in range(8):  # guesses from many addresses: past everyone's budget
        flood = app.test_client()
        flood.environ_base["REMOTE_ADDR"] = f"203.0.113.{number + 1}"
        token = csrf_token(flood.get("/report/follow-up").get_data(as_text=True))
        flood.post("/report/follow-up", data={"csrf_token": token, "code": f"{number:020d}"})
    # Without work, the code is not tried (nothing is derived), and the page says what to do.
    page = reporter.get("/report/follow-up").get_data(as_text=True)
    refused = reporter.post(
        "/report/follow-up", data={"csrf_token": csrf_token(page), "code": code}
    )
    status, shown = _sent_back(reporter, refused)
    assert status == 429 and "每个代码都需要先进行检查" in shown
    assert reporter.get_cookie("portal_followup", path="/report/") is None
    # With the page's work done (its script), the code opens the report.
    page = reporter.get("/report/follow-up").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page), "code": code, **_solve(page)}
    assert reporter.post("/report/follow-up", data=data).status_code == 303
    assert reporter.get_cookie("portal_followup", path="/report/")
    # Without script: the page's pass, once its wait is over.
    reporter.post("/report/follow-up/leave", data={"csrf_token": csrf_token(page)})
    page = reporter.get("/report/follow-up").get_data(as_text=True)
    clock.now += 120
    data = {"csrf_token": csrf_token(page), "code": code, "noscript_pass": noscript_pass(page)}
    assert reporter.post("/report/follow-up", data=data).status_code == 303
    assert reporter.get_cookie("portal_followup", path="/report/")


def test_a_flood_of_reports_without_script_leaves_the_path_open(demo, instance):
    app = instance.app("public", REPORT_NOSCRIPT_WAIT_MINUTES=2, REPORT_NOSCRIPT_STEP=30)
    clock = _clocked(app)
    # The reporter opens the form before the flood.
    reporter = app.test_client()
    reporter.environ_base["REMOTE_ADDR"] = "198.51.100.202"
    early = report_form_data(reporter, persons=PERSONS)
    statuses = []
    for number in range(30):  # junk reports without work, each from its own address
        flood = app.test_client()
        flood.environ_base["REMOTE_ADDR"] = f"203.0.113.{number + 1}"
        response = post_report(flood, report_form_data(flood, what=f"垃圾举报 {number}"))
        statuses.append(response.status_code)
    assert statuses == [429] * 30  # each asked to wait: none stored, nothing closed
    clock.now += 120
    assert _stored(post_report(reporter, early))
    # The flood that waits is stored, and each further form waits longer: never refused.
    flood_passes = []
    for number in range(30):
        flood = app.test_client()
        flood.environ_base["REMOTE_ADDR"] = f"192.0.2.{number + 1}"
        flood_passes.append((flood, report_form_data(flood, what=f"垃圾举报 {number}")))
    clock.now += 120
    assert all(_stored(post_report(flood, data)) for flood, data in flood_passes)
    assert app.extensions["portal.noscript_passes"].wait() == 4
    # A real reporter without script opens the form now, and sends it four minutes later.
    reporter = app.test_client()
    reporter.environ_base["REMOTE_ADDR"] = "198.51.100.203"
    data = report_form_data(reporter, persons=PERSONS)
    clock.now += 120
    status, page = _sent_back(reporter, post_report(reporter, data, False))
    assert status == 429 and "2 分钟后再次提交" in page
    clock.now += 120
    assert _stored(post_report(reporter, data))
    # A reporter whose script did the work is not held back at all.
    reporter = app.test_client()
    reporter.environ_base["REMOTE_ADDR"] = "198.51.100.204"
    page = reporter.get("/report/new").get_data(as_text=True)
    assert _stored(post_report(reporter, report_form_data(reporter, **_solve(page))))


def test_a_pass_counts_once(demo, public_app):
    client = public_app.test_client()
    data = report_form_data(client)
    assert _stored(post_report(client, data))
    again = {**report_form_data(client), "noscript_pass": data["noscript_pass"]}
    status, page = _sent_back(client, post_report(client, again, False))
    assert status == 429 and CANARY in page


@pytest.mark.parametrize("endpoint", ["report", "reply"])
def test_a_form_refused_by_the_default_limit_has_no_file_read(
    demo, instance, monkeypatch, endpoint
):
    app = instance.app("public", RATELIMIT_DEFAULT="3 per hour")  # per page
    client = app.test_client()
    if endpoint == "report":
        path = "/report/new"
        data = report_form_data(client, persons=PERSONS)
        empty = {**data, "what": ""}
    else:
        path = "/report/follow-up/reply"
        sent = post_report(client, report_form_data(client))
        page = client.get("/report/follow-up").get_data(as_text=True)
        client.post("/report/follow-up", data={"csrf_token": csrf_token(page), "code": _code(sent)})
        thread = client.get("/report/follow-up").get_data(as_text=True)
        data = {"csrf_token": csrf_token(thread), "text": PERSONS}
        empty = {**data, "text": ""}
    for _ in range(3):  # sent back: the limit of the page is reached
        assert client.post(path, data=empty).status_code == 303
    work = Work(monkeypatch)
    response = post_report(client, {**data, "attachments": _files()}, False, path=path)
    status, shown = _sent_back(client, response)
    assert status == 429 and PERSONS in shown and work.none


@pytest.mark.parametrize(
    "changes",
    [{"show_inspectors": "1"}, {"what": ""}, {"where": "王" * 201}],
    ids=["show who reads", "a field missing", "a field too long"],
)
def test_a_form_sent_back_with_files_reads_none_and_counts_nothing(
    demo, instance, monkeypatch, changes
):
    app = instance.app("public", RATELIMIT_REPORTS="1 per hour")
    work = Work(monkeypatch)
    client = app.test_client()
    for _ in range(3):
        data = {**report_form_data(client, persons=PERSONS, **changes), "attachments": _files()}
        status, page = _sent_back(client, post_report(client, data, False))
        assert status in (200, 400) and PERSONS in page
        assert "请重新选择文件" in page or "重新选择" in page
    assert work.none and blob_files(app) == []
    data = {**report_form_data(client, persons=PERSONS), "attachments": _files()}
    assert _stored(post_report(client, data))  # the one send of the hour is still there


# --- each form whose files are read costs its work; round trips cost nothing -----------------


def _after_the_files(data: dict, **after) -> tuple[bytes, str]:
    """A body with ``data``'s fields, then the files, then ``after`` (a crafted order)."""
    fields = [(name, value) for name, value in data.items() if name != "attachments"]
    return _multipart([*fields, *_files(), *after.items()])


@pytest.mark.parametrize("paid_by", ["pass", "work"])
def test_one_work_or_pass_has_files_read_once(demo, public_app, monkeypatch, paid_by):
    work = Work(monkeypatch)
    client = public_app.test_client()
    data = report_form_data(client, persons=PERSONS)
    if paid_by == "work":
        page = client.get("/report/new").get_data(as_text=True)
        data = {**data, "noscript_pass": "", **_solve(page)}
    # A form that fails after its files (a contact too long comes after them): read once.
    body, content_type = _after_the_files(data, contact="王" * 201)
    response = client.post("/report/new", data=body, content_type=content_type)
    status, page = _sent_back(client, response)
    assert status == 400 and PERSONS in page and work.cleaned == 2
    # The same work or pass again: the files are dropped unread, the form comes back.
    cleaned = work.cleaned
    for again in (_after_the_files(data, contact="王" * 201), _after_the_files(data)):
        response = client.post("/report/new", data=again[0], content_type=again[1])
        status, page = _sent_back(client, response)
        assert status in (400, 429) and PERSONS in page and CANARY in page
    assert work.cleaned == cleaned
    assert status == 429  # the valid form: its work was used up by the first
    # The page sent back has a fresh challenge and pass: with them, the report is stored.
    fresh = report_form_data(client, persons=PERSONS)
    if paid_by == "work":
        fresh = {**fresh, "noscript_pass": "", **_solve(page)}
    assert _stored(post_report(client, {**fresh, "attachments": _files()}))
    assert work.cleaned == cleaned + 2


def test_the_files_are_the_last_thing_a_reporter_fills_in(demo, public_app):
    page = public_app.test_client().get("/report/new").get_data(as_text=True)
    names = re.findall(r'<(?:input|textarea|select|button)[^>]*\bname="([^"]+)"', page)
    after = names[names.index("attachments") + 1 :]
    assert set(after) <= {"leave_empty", "send"}, after
    for typed in ("persons", "what", "when", "where", "witnesses", "real_name", "contact"):
        assert names.index(typed) < names.index("attachments")


@pytest.mark.parametrize(
    "changes",
    [{"unit": "无此单位"}, {"excluded": "张三"}, {"contact": "王" * 201}],
    ids=["an unknown unit", "a bad exclusion", "a contact too long"],
)
def test_a_form_the_service_sends_back_has_no_file_read_and_counts_nothing(
    demo, instance, monkeypatch, changes
):
    app = instance.app("public", RATELIMIT_REPORTS="1 per hour")
    work = Work(monkeypatch)
    client = app.test_client()
    for _ in range(3):
        data = {**report_form_data(client, persons=PERSONS, **changes), "attachments": _files()}
        status, page = _sent_back(client, post_report(client, data, False))
        assert status == 400 and PERSONS in page and "请重新选择文件" in page
    assert work.none and blob_files(app) == []
    data = {**report_form_data(client, persons=PERSONS), "attachments": _files()}
    assert _stored(post_report(client, data))  # the one send of the hour is still there


def test_replies_without_text_have_no_file_read_and_count_nothing(demo, instance, monkeypatch):
    app = instance.app("public", RATELIMIT_REPLIES="1 per hour")
    client = app.test_client()
    sent = post_report(client, report_form_data(client))
    page = client.get("/report/follow-up").get_data(as_text=True)
    client.post("/report/follow-up", data={"csrf_token": csrf_token(page), "code": _code(sent)})
    token = csrf_token(client.get("/report/follow-up").get_data(as_text=True))
    work = Work(monkeypatch)
    for _ in range(3):  # no text, with files: sent back, files unread
        data = {"csrf_token": token, "text": "", "attachments": _files()}
        response = post_report(client, data, False, path="/report/follow-up/reply")
        assert _sent_back(client, response)[0] == 400
    assert work.none
    data = {"csrf_token": token, "text": "补充材料", "attachments": _files()}
    response = post_report(client, data, path="/report/follow-up/reply")
    assert response.status_code == 200 and "现场照片.jpg" in response.get_data(as_text=True)


# --- what a body's parts may take before any check ------------------------------------------


class CountedBody(io.BytesIO):
    """A request body that counts what the server read of it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data


def test_large_fields_are_refused_as_they_pass_the_form_s_budget(demo, public_app):
    client = public_app.test_client()
    client.get("/report/new?lang=en")
    # The form's fields, then twenty fields of 200 kB: what no page of this form sends.
    data = report_form_data(client, persons=PERSONS)
    junk = [(f"填充{n}", "王" * 70_000) for n in range(20)]
    body, content_type = _multipart([*data.items(), *junk])
    counted = CountedBody(body)
    response = client.post(
        "/report/new",
        input_stream=counted,
        content_type=content_type,
        content_length=len(body),
    )
    assert counted.read_bytes < 1024 * 1024 < len(body)  # stopped early
    status, page = _sent_back(client, response)
    assert status == 413 and "larger than this form can hold" in page
    assert PERSONS in page and CANARY in page and "王王" not in page  # what was read


def test_a_report_with_every_text_at_its_limit_is_still_taken(demo, public_app):
    client = public_app.test_client()
    longest = {name: "𠀀" * limit for name, limit in TEXT_LIMITS.items()}  # 4 bytes each
    data = {**report_form_data(client), **longest, "attachments": _files()}
    assert _stored(post_report(client, data))


def test_files_past_the_limit_of_parts_keep_the_form_and_say_why(demo, public_app):
    client = public_app.test_client()
    data = report_form_data(client, persons=PERSONS)
    many = [(io.BytesIO(b"x"), f"文件{n}.txt") for n in range(1100)]
    body, content_type = _multipart([*data.items(), *many])
    status, page = _sent_back(
        client, client.post("/report/new", data=body, content_type=content_type)
    )
    assert status == 400 and PERSONS in page and CANARY in page
    assert "文件过多" in page and "您提交的内容超过" not in page


def test_fields_past_the_limit_of_parts_keep_what_came_before(demo, public_app):
    client = public_app.test_client()
    client.get("/report/new?lang=en")
    data = report_form_data(client, persons=PERSONS)
    junk = [(f"填充{n}", "王") for n in range(1100)]
    body, content_type = _multipart([*data.items(), *junk])
    status, page = _sent_back(
        client, client.post("/report/new", data=body, content_type=content_type)
    )
    assert status == 400 and PERSONS in page and CANARY in page
    assert "too many parts" in page and "What you sent is larger" not in page


# --- the files of replies to one report per day ---------------------------------------------


def _reply_with(client, token: str, text: str, size: int):
    files = [(io.BytesIO(b"z" * size), "补充账目.txt")] if size else []
    data = {"csrf_token": token, "text": text, "attachments": files}
    return post_report(client, data, False, path="/report/follow-up/reply")


def _reply_stored(response) -> bool:
    return response.status_code == 303 and "latest" in response.headers["Location"]


def test_the_files_of_a_report_s_replies_are_bounded_per_day(demo, instance, monkeypatch):
    app = instance.app("public", REPORT_REPLY_MAX_BYTES_PER_DAY=100 * 1024)
    client = app.test_client()
    client.get("/report/new?lang=en")
    sent = post_report(client, report_form_data(client))
    page = client.get("/report/follow-up").get_data(as_text=True)
    client.post("/report/follow-up", data={"csrf_token": csrf_token(page), "code": _code(sent)})
    token = csrf_token(client.get("/report/follow-up").get_data(as_text=True))
    assert _reply_stored(_reply_with(client, token, "第一次补充", 60 * 1024))
    # Past what is left today: refused, the text kept, and how much is left said.
    status, page = _sent_back(client, _reply_with(client, token, "第二次补充", 60 * 1024))
    assert status == 400 and "第二次补充" in page and "40 KiB is left today" in page
    assert _reply_stored(_reply_with(client, token, "第三次补充", 40 * 1024))
    # Nothing left: no file is read at all; a reply without files still goes.
    work = Work(monkeypatch)
    status, page = _sent_back(client, _reply_with(client, token, "第四次补充", 1))
    assert status == 400 and "第四次补充" in page and "0 KiB is left today" in page
    assert work.none
    assert _reply_stored(_reply_with(client, token, "只有文字的补充", 0))
    # Another report's replies have a day of their own.
    other = post_report(client, report_form_data(client))
    client.post("/report/follow-up/leave", data={"csrf_token": token})
    page = client.get("/report/follow-up").get_data(as_text=True)
    client.post("/report/follow-up", data={"csrf_token": csrf_token(page), "code": _code(other)})
    token = csrf_token(client.get("/report/follow-up").get_data(as_text=True))
    assert _reply_stored(_reply_with(client, token, "另一份举报的补充", 60 * 1024))


def test_a_reply_with_large_fields_keeps_its_text_and_says_why(demo, public_app):
    client = public_app.test_client()
    client.get("/report/new?lang=en")
    sent = post_report(client, report_form_data(client))
    page = client.get("/report/follow-up").get_data(as_text=True)
    client.post("/report/follow-up", data={"csrf_token": csrf_token(page), "code": _code(sent)})
    token = csrf_token(client.get("/report/follow-up").get_data(as_text=True))
    fields = [
        ("csrf_token", token),
        ("text", "补充材料"),
        *[(f"填充{n}", "王" * 70_000) for n in range(5)],
    ]
    body, content_type = _multipart(fields)
    response = client.post("/report/follow-up/reply", data=body, content_type=content_type)
    status, page = _sent_back(client, response)
    assert status == 413 and "larger than this form can hold" in page and "补充材料" in page


def test_codes_past_the_places_for_derivations_are_answered_busy_at_once(
    demo, instance, monkeypatch
):
    """A flood of codes held every thread waiting for derivations, and the pages with them:
    past the places, a code is told the site is busy at once, and the place comes back."""
    import threading

    from app.services.reports import followup

    app = instance.app("public", CODE_DERIVATIONS=1)
    reporter = app.test_client()
    code = _code(post_report(reporter, report_form_data(reporter)))
    started, release = threading.Event(), threading.Event()
    derive = followup.open_by_code

    def slow(*args, **kwargs):
        started.set()
        release.wait(30)
        return derive(*args, **kwargs)

    monkeypatch.setattr(followup, "open_by_code", slow)
    token = csrf_token(reporter.get("/report/follow-up").get_data(as_text=True))
    answers = []
    first = threading.Thread(
        target=lambda: answers.append(
            reporter.post("/report/follow-up", data={"csrf_token": token, "code": code})
        )
    )
    first.start()
    try:
        assert started.wait(30)
        other = app.test_client()
        other_token = csrf_token(other.get("/report/follow-up").get_data(as_text=True))
        guess = {"csrf_token": other_token, "code": "1234 5678 9012 3456 7890"}
        status, page = _sent_back(other, other.post("/report/follow-up", data=guess))
        assert status == 503 and "回执码正在核对" in page
        assert other.get("/disclosures/").status_code == 200
    finally:
        release.set()
        first.join(30)
    assert answers[0].status_code == 303
    assert reporter.get_cookie("portal_followup", path="/report/")
    # The place is free again: the other visitor's code is derived (and opens nothing).
    other_token = csrf_token(other.get("/report/follow-up").get_data(as_text=True))
    guess = {"csrf_token": other_token, "code": "1234 5678 9012 3456 7890"}
    status, page = _sent_back(other, other.post("/report/follow-up", data=guess))
    assert status == 200 and "回执码正在核对" not in page
