"""A report through the public app: sent with files, receipt shown once, followed up, replied to.

The demo organisation's offices have keys (inspectors' sealed under their demo passwords, and
a recovery key each), so what the reporter sends is opened here as the office would open it.
"""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from app.models import Report, ReportEnvelope, StaffUser
from app.services import keys
from app.services.demo import DEMO_LOGINS
from app.services.reports import messages
from app.services.reports.envelopes import read_bytes
from crypto.errors import NoIdentityMatch
from tests.helpers.forms import csrf_token
from tests.helpers.report_pages import noscript_pass
from tests.helpers.reports import stored_blobs
from tests.helpers.weak_kdf import TEST_SEAL_PARAMS

CANARY = "金丝雀-报告正文-7f3a9c"
FILE_CANARY = b"CANARY-FILE-BYTES-5d2e81"


def _form(client, **extra) -> dict:
    page = client.get("/report/new").get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(page),
        "noscript_pass": noscript_pass(page),
        "kind": "misconduct",
        "category": "procurement_bidding",
        "unit": "MCH-W1",
        "level": "staff",
        "persons": "采购员 王某",
        "what": f"铸造车间采购废钢时收受回扣。{CANARY}",
        "when": "2026年10月",
        "where": "铸造车间",
        "witnesses": "同班组的两名工人",
        "send": "1",
    }
    data.update(extra)
    return data


def _code(page: str) -> str:
    found = re.search(r'<p class="receipt-code"[^>]*>((?:<span>\d{4}</span>){5})</p>', page)
    assert found, page[:3000]
    return "".join(re.findall(r"\d{4}", found.group(1)))


def _identity(session, username: str):
    login = next(login for login in DEMO_LOGINS if login.username == username)
    user = session.scalar(select(StaffUser).where(StaffUser.username == username))
    return user, keys.unseal(user, login.password, TEST_SEAL_PARAMS)


def test_a_report_with_files_reaches_its_office_and_the_reporter_follows_it_up(
    demo, public_app, console_app
):
    client = public_app.test_client()
    data = _form(client)
    data["attachments"] = [
        (io.BytesIO(b"%PDF-1.4 not really a pdf " + FILE_CANARY), "招标评分表（内部）.pdf"),
        (io.BytesIO(b"plain text evidence " + FILE_CANARY), "证据 清单.txt"),
    ]
    response = client.post(
        "/report/new", data=data, content_type="multipart/form-data", follow_redirects=True
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:2000]
    assert response.headers["Cache-Control"] == "no-store"
    code = _code(page)
    assert len(code) == 20
    assert "招标评分表（内部）.pdf" in page and "证据 清单.txt" in page
    assert CANARY not in page  # the receipt does not repeat the report

    blobs = console_app.extensions["portal.blobs"]
    with console_app.extensions["portal.db"].session() as session:
        (report,) = session.scalars(select(Report)).all()
        assert report.unit.code == "MCH-W1" and report.office.unit.code == "MCH"
        assert len(report.id) == 32 and not report.id.isdigit()
        user, identity = _identity(session, "mch.inspector")
        text_envelope = next(e for e in report.envelopes if e.role.value == "text")
        document = read_bytes(blobs, text_envelope, [identity], 10**6)
        assert CANARY.encode() in document
        files = [e for e in report.envelopes if e.role.value == "attachment"]
        assert len(files) == 2
        assert any(FILE_CANARY in read_bytes(blobs, e, [identity], 10**6) for e in files)
        # The office answers.
        messages.post_office_message(
            session, blobs, report, user, "请问回扣的金额大约是多少？", [], report.received_on
        )
        session.commit()

    # The reporter comes back with the code, typed with full-width digits and dashes.
    typed = "－".join(code[i : i + 4] for i in range(0, 20, 4)).translate(
        {ord(str(d)): chr(0xFF10 + d) for d in range(10)}
    )
    page = client.get("/report/follow-up").get_data(as_text=True)
    response = client.post(
        "/report/follow-up", data={"csrf_token": csrf_token(page), "code": typed}
    )
    assert response.status_code == 303
    cookie = client.get_cookie("portal_followup", path="/report/")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"
    assert code not in cookie.value
    thread = client.get("/report/follow-up").get_data(as_text=True)
    assert "请问回扣的金额大约是多少？" in thread
    assert "已收到，等待纪检部门确认" not in thread  # the office wrote: acknowledged
    assert "纪检部门已确认收到" in thread

    reply = client.post(
        "/report/follow-up/reply",
        data={
            "csrf_token": csrf_token(thread),
            "text": "大约每吨两百元。",
            "attachments": [(io.BytesIO(b"receipt photo " + FILE_CANARY), "回扣记录.txt")],
        },
        content_type="multipart/form-data",
    )
    assert reply.status_code == 303
    thread = client.get("/report/follow-up").get_data(as_text=True)
    assert "大约每吨两百元。" in thread and "回扣记录.txt" in thread
    link = re.search(r'href="(/report/follow-up/files/[^"]+)"', thread).group(1)
    download = client.get(link.replace("&amp;", "&"))
    assert download.status_code == 200 and FILE_CANARY in download.data

    with console_app.extensions["portal.db"].session() as session:
        report = session.scalars(select(Report)).one()
        _user, identity = _identity(session, "mch.inspector")
        answer = messages.read_thread(blobs, report, [identity])
        assert [m.text for m in answer] == ["请问回扣的金额大约是多少？", "大约每吨两百元。"]

    # Leaving ends the session: the cookie no longer opens anything.
    left = client.post(
        "/report/follow-up/leave", data={"csrf_token": csrf_token(thread)}, follow_redirects=True
    )
    assert left.status_code == 200 and "您已退出" in left.get_data(as_text=True)
    again = client.get("/report/follow-up").get_data(as_text=True)
    assert "大约每吨两百元。" not in again


def test_a_wrong_code_and_a_malformed_code_are_answered_differently(demo, public_app):
    client = public_app.test_client()
    token = csrf_token(client.get("/report/follow-up").get_data(as_text=True))
    wrong = client.post(
        "/report/follow-up", data={"csrf_token": token, "code": "1" * 20}, follow_redirects=True
    )
    assert wrong.status_code == 200
    assert "此回执码无法打开任何举报" in wrong.get_data(as_text=True)
    assert client.get_cookie("portal_followup", path="/report/") is None
    short = client.post(
        "/report/follow-up", data={"csrf_token": token, "code": "1" * 16}, follow_redirects=True
    )
    assert short.status_code == 400
    assert "20 位" in short.get_data(as_text=True) or "20 digits" in short.get_data(as_text=True)


def test_a_validation_error_keeps_everything_typed_and_drops_the_files(demo, public_app, tmp_path):
    client = public_app.test_client()
    data = _form(client, what="", unit="MCH-W2")
    data["attachments"] = [(io.BytesIO(FILE_CANARY), "照片.jpg")]
    response = client.post(
        "/report/new", data=data, content_type="multipart/form-data", follow_redirects=True
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "请说明发生了什么。" in page
    assert "采购员 王某" in page and "同班组的两名工人" in page
    assert 'value="MCH-W2" checked' in page
    assert "请重新选择文件" in page
    assert not any(FILE_CANARY in data for data in stored_blobs(public_app).values())
    with public_app.extensions["portal.db"].session() as session:
        assert session.scalars(select(ReportEnvelope)).first() is None


def test_a_crafted_form_cannot_choose_its_office_or_recipients(demo, public_app, console_app):
    client = public_app.test_client()
    with console_app.extensions["portal.db"].session() as session:
        grp_inspector = session.scalar(select(StaffUser).where(StaffUser.username == "inspector"))
        injected = {
            "office": "GRP",
            "office_id": str(grp_inspector.office_id),
            "recipients": "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq",
            "excluded": [str(grp_inspector.id)],  # of the office above: kept for a transfer
        }
    response = client.post("/report/new", data=_form(client, **injected), follow_redirects=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    with console_app.extensions["portal.db"].session() as session:
        (report,) = session.scalars(select(Report)).all()
        assert report.office.unit.code == "MCH"  # from the unit and level alone
        assert {r.staff.username for r in report.readers} == {"mch.inspector", "mch.head"}
        # Kept out of the case should it be passed up to the group, and no reader of it now.
        assert [e.staff.username for e in report.exclusions] == ["inspector"]


@pytest.mark.parametrize("excluded", [str(2**63), "9" * 40, "-1", "١٢"])
def test_impossible_exclusions_are_refused_with_the_form_kept(demo, public_app, excluded):
    client = public_app.test_client()
    response = client.post(
        "/report/new", data=_form(client, excluded=[excluded]), follow_redirects=True
    )
    assert response.status_code == 400
    assert "采购员 王某" in response.get_data(as_text=True)
    with public_app.extensions["portal.db"].session() as session:
        assert session.scalars(select(Report)).first() is None


@pytest.mark.parametrize("honeypot", ["http://spam.example", "x"])
def test_the_field_only_bots_fill_drops_the_report_quietly(demo, public_app, honeypot):
    client = public_app.test_client()
    response = client.post(
        "/report/new", data=_form(client, leave_empty=honeypot), follow_redirects=True
    )
    assert response.status_code == 200
    assert 'class="receipt-code"' not in response.get_data(as_text=True)
    with public_app.extensions["portal.db"].session() as session:
        assert session.scalars(select(Report)).first() is None


def test_showing_the_office_s_inspectors_keeps_what_was_typed(demo, public_app):
    client = public_app.test_client()
    data = _form(client, show_inspectors="1")
    del data["send"]
    data["attachments"] = [(io.BytesIO(FILE_CANARY), "现场照片.jpg")]
    response = client.post(
        "/report/new", data=data, content_type="multipart/form-data", follow_redirects=False
    )
    assert response.status_code == 303  # the typed words are not left in a POST's page
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "采购员 王某" in page and CANARY in page
    assert 'value="MCH-W1" checked' in page
    assert "华夏重型机械有限公司纪委" in page  # the office the report would go to
    assert re.search(r'name="excluded" id="excluded-\d+" value="\d+"', page)
    assert "请重新选择文件" in page
    # Shown once: the next visit is a fresh form.
    assert CANARY not in client.get("/report/new").get_data(as_text=True)


def _people_shown(page: str) -> dict[str, tuple[str, bool]]:
    """Label -> (staff id, ticked) of the people the form offers to keep out."""
    found = re.findall(
        r'<input type="checkbox" name="excluded" id="excluded-\d+" value="(\d+)"( checked)?> '
        r'<label for="excluded-\d+">([^<]+)</label>',
        page,
    )
    return {label: (staff_id, bool(ticked)) for staff_id, ticked, label in found}


def _show(client, **extra) -> str:
    data = _form(client, show_inspectors="1", **extra)
    del data["send"]
    response = client.post("/report/new", data=data)
    assert response.status_code == 303
    return client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_form_offers_the_head_and_the_inspectors_and_says_what_ticking_a_head_does(
    demo, public_app, lang
):
    client = public_app.test_client()
    client.get(f"/report/new?lang={lang}")
    page = _show(client)
    head = (
        "机械公司纪委书记 吴刚（受理部门负责人）"
        if lang == "zh"
        else "机械公司纪委书记 吴刚 (head of the office)"
    )
    assert set(_people_shown(page)) == {head, "机械公司纪检员 刘洋"}
    if lang == "zh":
        assert "如勾选受理部门的负责人，举报将转由上一级纪检部门受理" in page
    else:
        assert "If you tick a head of the office, the report goes to the office above" in page
    # Ticked, the head sends the report up: the form says where, and offers that office's people.
    page = _show(client, excluded=[_people_shown(page)[head][0]])
    shown = _people_shown(page)
    assert shown[head][1] is True
    assert {"集团纪检员 陈静", *[name for name in shown if "周强" in name]} <= set(shown)
    assert CANARY in page
    if lang == "zh":
        assert "举报将送往华夏示范集团有限公司纪委" in page
    else:
        assert "the report goes to Discipline Committee, Huaxia Demo Group Co., Ltd." in page


def test_a_report_that_keeps_the_head_out_goes_to_the_office_above_and_he_reads_nothing(
    demo, public_app, console_app
):
    client = public_app.test_client()
    page = _show(client)
    head_id = _people_shown(page)["机械公司纪委书记 吴刚（受理部门负责人）"][0]
    data = _form(client, excluded=[head_id], real_name="举报人 张三")
    data["attachments"] = [(io.BytesIO(FILE_CANARY), "过磅单（复印件）.txt")]
    sent = client.post(
        "/report/new", data=data, content_type="multipart/form-data", follow_redirects=True
    )
    assert 'class="receipt-code"' in sent.get_data(as_text=True)
    blobs = console_app.extensions["portal.blobs"]
    with console_app.extensions["portal.db"].session() as session:
        report = session.scalars(select(Report)).one()
        assert report.office.unit.code == "GRP"
        assert {e.staff.username for e in report.exclusions} == {"mch.head"}
        assert "mch.head" not in {r.staff.username for r in report.readers}
        _user, kept_out = _identity(session, "mch.head")
        _user, group_head = _identity(session, "head")
        for envelope in report.envelopes:
            with pytest.raises(NoIdentityMatch):
                read_bytes(blobs, envelope, [kept_out], 10**6)
            assert read_bytes(blobs, envelope, [group_head], 10**6)


def test_keeping_out_the_head_of_the_top_office_is_refused_with_the_form_kept(demo, public_app):
    client = public_app.test_client()
    page = _show(client, unit="GRP-FIN")
    head_id = _people_shown(page)["集团纪委书记 周强（受理部门负责人）"][0]
    data = _form(client, unit="GRP-FIN", excluded=[head_id])
    data["attachments"] = [(io.BytesIO(FILE_CANARY), "凭证.txt")]
    response = client.post("/report/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    shown = client.get(response.headers["Location"])
    page = shown.get_data(as_text=True)
    assert shown.status_code == 400
    assert "没有纪检部门可以受理这份举报" in page and "取消勾选" in page
    assert CANARY in page and "采购员 王某" in page
    assert _people_shown(page)["集团纪委书记 周强（受理部门负责人）"] == (head_id, True)
    with public_app.extensions["portal.db"].session() as session:
        assert session.scalars(select(Report)).first() is None
