"""The console's case pages: inbox, case page, downloads, the real name, and each action with
its permission, its confirmation and its audit entry. Chinese data throughout."""

from __future__ import annotations

import io
import re
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from app.models import Case, CaseNote, Report, ReportStatus
from tests.helpers.case_console import ATTACHMENTS, send_report, signed_in_as
from tests.helpers.forms import csrf_token


@pytest.fixture
def report_id(db, org, blobs):
    return send_report(
        db, blobs, real_name="张三", contact="分机 6021", excluded=[org.staff["mch.insp2"]]
    )


def _client(console_app, org, name, monkeypatch):
    return signed_in_as(console_app, org, name, monkeypatch)


def _case_post(client, report_id, path, data=None):
    page = client.get(f"/cases/{report_id}")
    token = csrf_token(page.get_data(as_text=True))
    return client.post(f"/cases/{report_id}/{path}", data={"csrf_token": token, **(data or {})})


def _decision_post(client, report_id, step, page_html=None):
    """Press a button of the decision on the case page (read now, or ``page_html`` read before),
    sending what its form holds: the token and the decision it names."""
    html = page_html or client.get(f"/cases/{report_id}").get_data(as_text=True)
    action = f'action="/cases/{report_id}/decision/{step}"'
    form = html[html.index(action) : html.index("</form>", html.index(action))]
    decision = re.search(r'name="decision" value="([0-9a-f]+)"', form).group(1)
    data = {"csrf_token": csrf_token(html), "decision": decision}
    return client.post(f"/cases/{report_id}/decision/{step}", data=data)


def test_inbox_lists_metadata_only_and_audits_the_view(
    console_app, org, report_id, monkeypatch, audit_entries
):
    client = _client(console_app, org, "mch.insp1", monkeypatch)
    page = client.get("/cases/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert (report_id[:8] in html and "实名" in html) or "real name" in html
    assert "王某" not in html  # nothing decrypted to list
    assert [e.action for e in audit_entries] == ["inbox_view"]


def test_inbox_empty_and_no_match_say_so(console_app, org, monkeypatch):
    client = _client(console_app, org, "mch.insp1", monkeypatch)
    assert "还没有" in client.get("/cases/").get_data(as_text=True)
    html = client.get("/cases/?overdue=y").get_data(as_text=True)
    assert "没有符合" in html


def test_bad_filters_are_told_and_kept(console_app, org, report_id, monkeypatch):
    client = _client(console_app, org, "mch.insp1", monkeypatch)
    page = client.get("/cases/?received_from=2026-12-01&received_to=2026-11-01&kind=criticism")
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert 'value="2026-12-01"' in html and "早于" in html
    assert client.get("/cases/?status=in_progress").status_code == 400
    # A page past 2^63 is the last page, never a database error.
    assert client.get("/cases/?page=99999999999999999999999").status_code == 200
    # A page that is no number is the first page: nothing to mark, nothing filtered.
    for value in ("abc", "1.5", "第二页"):
        page = client.get(f"/cases/?page={value}")
        assert page.status_code == 200, value
        html = page.get_data(as_text=True)
        assert "检查标出的筛选条件" not in html and "清除筛选条件" not in html, value
        assert report_id[:8] in html


def test_only_filters_count_as_filters_and_the_chosen_status_stays_a_tab(
    console_app, org, report_id, monkeypatch
):
    client = _client(console_app, org, "mch.insp1", monkeypatch)
    html = client.get("/cases/?nonsense=1&sort=received&lang=en").get_data(as_text=True)
    assert "Clear the filters" not in html and report_id[:8] in html
    # A status with no case: its tab is shown, current, with its count of 0.
    html = client.get("/cases/?status=concluded&lang=en").get_data(as_text=True)
    assert re.search(r'aria-current="page">concluded \(0\)</a>', html), html
    assert "No case matches these filters." in html


@pytest.mark.parametrize("who", ["mch.insp2", "grp.insp1", "f1.insp"])
def test_excluded_or_other_office_get_the_same_404_as_a_missing_case(
    console_app, org, report_id, monkeypatch, who
):
    client = _client(console_app, org, who, monkeypatch)
    missing = client.get("/cases/" + "0" * 32)
    hidden = client.get(f"/cases/{report_id}")
    assert hidden.status_code == missing.status_code == 404

    def strip(response) -> str:
        # The sign-out form's token is signed with the second it was made: not the page's own.
        page = re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))
        return page.replace(report_id, "").replace("0" * 32, "")

    assert strip(hidden) == strip(missing)
    assert report_id not in client.get("/cases/").get_data(as_text=True)
    assert client.get(f"/cases/{report_id}/files/{'0' * 32}").status_code == 404


def test_a_publisher_has_no_inbox(console_app, org, monkeypatch):
    client = _client(console_app, org, "mch.publisher", monkeypatch)
    assert client.get("/cases/").status_code == 404


def test_case_page_decrypts_report_and_says_a_real_name_exists(
    console_app, org, report_id, monkeypatch, audit_entries
):
    client = _client(console_app, org, "mch.insp1", monkeypatch)
    html = client.get(f"/cases/{report_id}").get_data(as_text=True)
    assert "王某指定供应商并收取回扣" in html
    assert "现场照片.jpg" in html and "采购清单（2026年10月）.txt" in html
    assert "举报人提供了真实姓名" in html and "张三" not in html and "6021" not in html
    assert ("case_open", report_id) in [(e.action, e.case_id) for e in audit_entries]


def test_without_unsealed_keys_the_page_says_so(console_app, org, report_id, monkeypatch):
    client = signed_in_as(console_app, org, "mch.insp1", with_key=False)
    html = client.get(f"/cases/{report_id}").get_data(as_text=True)
    assert "王某" not in html and "重新登录" in html


def test_download_streams_the_original_with_its_chinese_name(
    console_app, org, report_id, monkeypatch, audit_entries
):
    client = _client(console_app, org, "mch.insp1", monkeypatch)
    html = client.get(f"/cases/{report_id}").get_data(as_text=True)
    links = re.findall(rf'href="/cases/{report_id}/files/([0-9a-f]{{32}})"', html)
    texts = {}
    for envelope_id in links:
        response = client.get(f"/cases/{report_id}/files/{envelope_id}")
        disposition = response.headers["Content-Disposition"]
        name = unquote(disposition.split("filename*=UTF-8''")[1])
        texts[name] = response.get_data()
        assert disposition.startswith("attachment;")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response.headers["Content-Security-Policy"]
    assert texts["采购清单（2026年10月）.txt"] == ATTACHMENTS[1][2]
    assert texts["现场照片.jpg"][:2] == b"\xff\xd8"
    downloads = [e for e in audit_entries if e.action == "attachment_download"]
    assert len(downloads) == 2


def test_images_open_inline_in_a_sandbox(console_app, org, report_id, monkeypatch):
    client = _client(console_app, org, "mch.insp1", monkeypatch)
    html = client.get(f"/cases/{report_id}").get_data(as_text=True)
    envelope_id = re.search(rf"/cases/{report_id}/files/([0-9a-f]{{32}})\?view=1", html).group(1)
    response = client.get(f"/cases/{report_id}/files/{envelope_id}?view=1")
    assert response.mimetype == "image/jpeg"
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert response.headers["Content-Security-Policy"].startswith("sandbox")


def test_no_plaintext_written_to_temporary_files(console_app, org, report_id, monkeypatch):
    """Downloads decrypt as they stream, and a reply's large file is encrypted as it arrives:
    neither goes through a temporary file."""
    import tempfile

    from werkzeug.datastructures import FileStorage
    from werkzeug.test import stream_encode_multipart

    client = _client(console_app, org, "mch.insp1", monkeypatch)
    page = client.get(f"/cases/{report_id}")
    big = FileStorage(io.BytesIO("附件内容".encode() * 300_000), "补充材料说明.txt", "text/plain")
    fields = {"csrf_token": csrf_token(page.get_data(as_text=True)), "text": "请补充证据。"}
    body, length, boundary = stream_encode_multipart({**fields, "files": big}, use_tempfile=False)
    made = []
    for name in ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile"):
        monkeypatch.setattr(tempfile, name, lambda *a, **k: made.append(a) or 1 / 0)
    html = page.get_data(as_text=True)
    for envelope_id in re.findall(rf'/cases/{report_id}/files/([0-9a-f]{{32}})"', html):
        assert client.get(f"/cases/{report_id}/files/{envelope_id}").status_code == 200
    response = client.post(
        f"/cases/{report_id}/reply",
        input_stream=body,
        content_length=length,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 303
    assert made == []
    # The file reached the thread whole, under its Chinese name.
    thread = client.get(f"/cases/{report_id}").get_data(as_text=True)
    assert "补充材料说明.txt" in thread


def test_real_name_opens_for_a_head_with_a_reason_only(
    console_app, org, report_id, monkeypatch, audit_entries
):
    insp = _client(console_app, org, "mch.insp1", monkeypatch)
    assert _case_post(insp, report_id, "real-name", {"reason": "核实"}).status_code == 403
    head = _client(console_app, org, "mch.head", monkeypatch)
    refused = _case_post(head, report_id, "real-name", {"reason": "   "})
    assert refused.status_code == 400 and "张三" not in refused.get_data(as_text=True)
    opened = _case_post(head, report_id, "real-name", {"reason": "需要当面核实举报细节"})
    html = opened.get_data(as_text=True)
    assert opened.status_code == 200 and "张三" in html and "分机 6021" in html
    assert opened.headers["Cache-Control"] == "no-store"
    entry = [e for e in audit_entries if e.action == "real_name_open"]
    assert [(e.actor, e.detail) for e in entry] == [("mch.head", "需要当面核实举报细节")]


def test_actions_end_with_a_confirmation_that_links_what_they_name(
    console_app, org, report_id, monkeypatch, db, audit_entries
):
    head = _client(console_app, org, "mch.head", monkeypatch)
    done = _case_post(head, report_id, "labels", {"label": "食堂采购"})
    assert done.status_code == 303
    page = head.get(done.headers["Location"]).get_data(as_text=True)
    assert "食堂采购" in page and f"/cases/{report_id}" in page and "label=" in page
    done = _case_post(head, report_id, "assign", {"assignee": str(org.staff["mch.insp1"])})
    page = head.get(done.headers["Location"]).get_data(as_text=True)
    assert "机械纪检员 刘洋" in page and f"assignee={org.staff['mch.insp1']}" in page
    done = _case_post(head, report_id, "notes", {"text": "先调取供应商合同。"})
    page = head.get(done.headers["Location"]).get_data(as_text=True)
    assert "#note-1" in page
    done = _case_post(head, report_id, "reply", {"text": "您的举报已收到。"})
    assert done.status_code == 303
    done = _case_post(head, report_id, "status", {"status": "under_assessment"})
    assert done.status_code == 303
    with db() as session:
        report = session.get(Report, report_id)
        assert report.status == ReportStatus.under_assessment
        assert session.get(Case, report_id).assignee_id == org.staff["mch.insp1"]
        assert session.scalar(select(CaseNote.seq)) == 1
    actions = {e.action for e in audit_entries}
    assert {"label", "assignment", "note", "reply", "status_change"} <= actions


def test_an_inspector_may_not_assign(console_app, org, report_id, monkeypatch):
    insp = _client(console_app, org, "mch.insp1", monkeypatch)
    page = insp.get(f"/cases/{report_id}")
    token = csrf_token(page.get_data(as_text=True))
    response = insp.post(
        f"/cases/{report_id}/assign",
        data={"csrf_token": token, "assignee": str(org.staff["mch.insp1"])},
    )
    assert response.status_code == 403


def test_bad_input_is_told_and_the_text_kept(console_app, org, report_id, monkeypatch, db):
    insp = _client(console_app, org, "mch.insp1", monkeypatch)
    long_label = "很长的标签" * 6
    refused = _case_post(insp, report_id, "labels", {"label": long_label})
    assert refused.status_code == 400 and long_label in refused.get_data(as_text=True)
    note = "草稿：" + "内容" * 10_001
    refused = _case_post(insp, report_id, "notes", {"text": note})
    assert refused.status_code == 400 and note in refused.get_data(as_text=True)
    refused = _case_post(insp, report_id, "status", {"status": "concluded"})
    assert refused.status_code == 400 and "处理规则" in refused.get_data(as_text=True)
    empty = _case_post(insp, report_id, "reply", {"text": "  "})
    assert empty.status_code == 400
    with db() as session:
        assert session.get(Report, report_id).status == ReportStatus.received


def test_a_decision_by_one_person_is_refused_and_two_sessions_decide(
    console_app, org, report_id, monkeypatch, db, audit_entries
):
    with db() as session:
        session.get(Report, report_id).status = ReportStatus.under_assessment
    head = _client(console_app, org, "mch.head", monkeypatch)
    insp = _client(console_app, org, "mch.insp1", monkeypatch)
    assert (
        _case_post(head, report_id, "decision", {"disposal": "talk_or_inquiry"}).status_code == 303
    )
    alone = _decision_post(head, report_id, "record")
    assert alone.status_code == 400 and "至少两名" in alone.get_data(as_text=True)
    again = _decision_post(head, report_id, "confirm")
    assert again.status_code == 400 and "一人不能" in again.get_data(as_text=True)
    dashboard = insp.get("/").get_data(as_text=True)
    assert _decision_post(insp, report_id, "confirm").status_code == 303
    head_dashboard = head.get("/").get_data(as_text=True)
    assert "等待您确认" in head_dashboard
    recorded = _decision_post(insp, report_id, "record")
    page = insp.get(recorded.headers["Location"]).get_data(as_text=True)
    assert "谈话函询" in page and "处置已决定" in page
    with db() as session:
        assert session.get(Report, report_id).status == ReportStatus.disposal_decided
    assert dashboard


def test_a_confirmation_from_an_old_page_does_not_confirm_the_proposal_that_replaced_it(
    console_app, org, report_id, monkeypatch, db
):
    from app.models import CaseDecision, DecisionState

    with db() as session:
        session.get(Report, report_id).status = ReportStatus.under_assessment
    head = _client(console_app, org, "mch.head", monkeypatch)
    insp = _client(console_app, org, "mch.insp1", monkeypatch)
    _case_post(insp, report_id, "decision", {"disposal": "closed_no_action"})
    old_page = head.get(f"/cases/{report_id}").get_data(as_text=True)
    # Between the head's page load and click, the proposal is withdrawn and another made.
    assert _decision_post(insp, report_id, "withdraw").status_code == 303
    _case_post(insp, report_id, "decision", {"disposal": "sent_for_investigation"})
    for step in ("confirm", "record", "withdraw"):
        late = _decision_post(head, report_id, step, page_html=old_page)
        assert late.status_code == 400, step
        assert "撤回或更换" in late.get_data(as_text=True)
    # Without the decision named (a crafted request) nothing is confirmed either.
    token = csrf_token(old_page)
    bare = head.post(f"/cases/{report_id}/decision/confirm", data={"csrf_token": token})
    assert bare.status_code == 400
    with db() as session:
        (pending,) = session.scalars(
            select(CaseDecision).where(
                CaseDecision.report_id == report_id, CaseDecision.state == DecisionState.pending
            )
        ).all()
        assert pending.disposal.value == "sent_for_investigation"
        assert [m.staff_id for m in pending.members] == [org.staff["mch.insp1"]]
    # Read again, the page names the new proposal and the head's confirmation is taken.
    assert _decision_post(head, report_id, "confirm").status_code == 303


@pytest.mark.parametrize(
    "bad", ["9223372036854775808", "99999999999999999999999", "²", "٣", "１", "-1", "0", " 1"]
)
def test_ids_that_are_not_ids_are_refused_never_a_server_error(
    console_app, org, report_id, monkeypatch, bad
):
    head = _client(console_app, org, "mch.head", monkeypatch)
    for what in ("assigned", "granted"):
        done = head.get(f"/cases/{report_id}/done", query_string={"what": what, "to": bad})
        assert done.status_code == 404, (what, bad)
    assigned = _case_post(head, report_id, "assign", {"assignee": bad})
    assert assigned.status_code == 400 and "请选择" in assigned.get_data(as_text=True)
    granted = _case_post(head, report_id, "grant", {"grantee": bad})
    assert granted.status_code == 400
    inbox = head.get("/cases/", query_string={"assignee": bad})
    assert inbox.status_code == 400
    assert head.get("/cases/recovery/done", query_string={"to": bad}).status_code == 404


def test_the_label_filter_lists_only_labels_of_cases_one_may_read(
    console_app, org, report_id, blobs, monkeypatch, db
):
    from app.models import StaffUser
    from app.services.cases import workflow

    other = send_report(db, blobs, persons="车间主任 赵某", files=False)
    with db() as session:
        insp1 = session.get(StaffUser, org.staff["mch.insp1"])
        # Only on the case mch.insp2 is kept out of by the reporter.
        workflow.add_label(session, insp1, session.get(Report, report_id), "食堂回扣线索")
        workflow.add_label(session, insp1, session.get(Report, other), "车间考勤")
    kept_out = _client(console_app, org, "mch.insp2", monkeypatch)
    html = kept_out.get("/cases/").get_data(as_text=True)
    assert "车间考勤" in html
    assert "食堂回扣线索" not in html
    assert kept_out.get("/cases/", query_string={"label": "食堂回扣线索"}).status_code == 400
    reader = _client(console_app, org, "mch.insp1", monkeypatch)
    assert "食堂回扣线索" in reader.get("/cases/").get_data(as_text=True)


def test_dashboard_shows_due_cases_and_new_replies(console_app, org, report_id, monkeypatch):
    insp = _client(console_app, org, "mch.insp1", monkeypatch)
    html = insp.get("/").get_data(as_text=True)
    assert report_id[:8] in html
    insp.get(f"/cases/{report_id}")  # looked at it: no new reply
    assert "没有新回复" in insp.get("/").get_data(as_text=True)


def test_every_case_post_needs_a_csrf_token(console_app, org, report_id, monkeypatch):
    client = _client(console_app, org, "mch.head", monkeypatch)
    routes = [
        rule
        for rule in console_app.url_map.iter_rules()
        if rule.endpoint.startswith("cases.") and "POST" in rule.methods
    ]
    assert len(routes) >= 9
    for rule in routes:
        url = rule.rule.replace("<report_id>", report_id)
        assert client.post(url, data={"label": "x", "text": "x"}).status_code == 400, url
