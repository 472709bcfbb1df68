"""Joint supervision of major decisions: the collective decision's record on "three importants
and one large" items (quorum, pages, log), and the workers' congress's review (its secretary's
pages, the public pages, the catalogue, the log and the audit trail)."""

from __future__ import annotations

import json
import re
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text

from app.config import ConfigError
from app.models import AuditEntry, CongressStatus, Disclosure, DisclosureRevision
from app.services.disclosures import congress, decisions
from app.services.disclosures import log as disclosure_log
from app.services.disclosures.errors import WrongState
from tests.helpers.console import signed_in
from tests.helpers.disclosures import sign_log, staff
from tests.helpers.forms import csrf_token
from tests.test_config import make

PRESENT_6 = ["王建国", "李秀英", "张伟", "刘洋", "陈静", "杨帆"]
ABSENT_4 = ["赵磊", "黄敏", "周强", "吴刚"]
XSS_NAME = '<script>alert("名")</script>'
XSS_DECISION = '同意。<img src=x onerror=alert("决定")>'
XSS_DISSENT = '<svg onload=alert("异议")>孙丽：反对。'


def _token(client, path):
    page = client.get(path)
    assert page.status_code == 200, path
    return csrf_token(page.get_data(as_text=True))


def _form(token, present, absent, **overrides):
    data = {
        "csrf_token": token,
        "title": "关于收购华北铸造厂股权的决策公告",
        "category": "major-decisions",
        "unit": "MCH",
        "scope": "everyone",
        "body": "经集体研究，决定收购华北铸造厂51%股权。",
        "meeting_kind": "party_committee",
        "meeting_date": (today_date() - timedelta(days=3)).isoformat(),
        "members_present": "\n".join(present),
        "members_absent": "\n".join(absent),
        "decision_text": "同意以8600万元收购华北铸造厂51%股权。",
        "dissents": "刘洋：建议先完成资产评估复核。",
        "save": "1",
    }
    data.update(overrides)
    return data


def today_date():
    return date.today()


def _new(client, data):
    return client.post("/publish/new", data=data)


def _created_id(response) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return int(re.search(r"/publish/(\d+)", response.headers["Location"]).group(1))


# --- the quorum -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "members", "needed"),
    [(">1/2", 10, 6), (">1/2", 9, 5), (">1/2", 1, 1), (">=2/3", 9, 6), (">=2/3", 10, 7)],
)
def test_the_quorum_needs_the_fewest_members_it_names(setting, members, needed):
    quorum = decisions.Quorum.parse(setting)
    assert quorum.needed(members) == needed
    assert quorum.met(needed, members) and not quorum.met(needed - 1, members)


@pytest.mark.parametrize("setting", ["half", "1/2", ">0/2", ">2/2", ">=3/2", ">1/0", ">99999/2"])
def test_a_quorum_setting_that_means_nothing_stops_the_start(tmp_path, monkeypatch, setting):
    with pytest.raises(ConfigError) as excinfo:
        make(tmp_path, monkeypatch, DECISION_QUORUM=setting)
    assert any("PORTAL_DECISION_QUORUM" in p for p in excinfo.value.problems)


def test_the_form_refuses_a_record_below_the_quorum_and_keeps_what_was_typed(console_app, demo):
    publisher = signed_in(console_app, "publisher")
    token = _token(publisher, "/publish/new")
    refused = _new(publisher, _form(token, PRESENT_6[:5], [*ABSENT_4, "孙丽"]))
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "应到10人，实到仅5人" in page
    assert "超过应到成员的1/2" in page and "至少6人出席" in page
    for typed in (
        "王建国",
        "孙丽",
        "同意以8600万元收购华北铸造厂51%股权。",
        "建议先完成资产评估复核",
    ):
        assert typed in page
    with console_app.extensions["portal.db"].session() as session:
        assert (
            session.scalar(select(func.count()).where(Disclosure.title.like("%华北铸造厂%"))) == 0
        )

    english = _new(publisher, _form(token, PRESENT_6[:5], [*ABSENT_4, "孙丽"]) | {"lang": "en"})
    assert english.status_code == 400


def test_exactly_at_the_quorum_the_record_is_saved(console_app, demo):
    publisher = signed_in(console_app, "publisher")
    token = _token(publisher, "/publish/new")
    d_id = _created_id(_new(publisher, _form(token, PRESENT_6, ABSENT_4)))
    with console_app.extensions["portal.db"].session() as session:
        record = decisions.read_record(session.get(Disclosure, d_id).decision_record)
    assert record.present == tuple(PRESENT_6) and record.absent == tuple(ABSENT_4)
    assert record.meeting_kind == decisions.MeetingKind.party_committee
    with console_app.extensions["portal.db"].session() as session:
        details = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "decision_record")
        ).all()
    assert f"disclosure {d_id}: record saved" in details


def test_a_stricter_quorum_from_the_settings(instance, demo):
    app = instance.app("console", DECISION_QUORUM=">=2/3")
    publisher = signed_in(app, "publisher")
    token = _token(publisher, "/publish/new")
    nine_members = [*PRESENT_6, "孙丽", "郑洁", "马丽"]
    below = _new(publisher, _form(token, nine_members[:5], nine_members[5:]))
    assert below.status_code == 400
    assert "至少6人出席" in below.get_data(as_text=True)
    _created_id(_new(publisher, _form(token, nine_members[:6], nine_members[6:])))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"meeting_kind": "股东会"}, "请从列表中选择会议类型"),
        ({"meeting_date": ""}, "请填写会议日期"),
        ({"meeting_date": (date.today() + timedelta(days=2)).isoformat()}, "不能晚于今天"),
        ({"meeting_date": "1999-12-31"}, "2000 年至 2099 年之间"),
        ({"meeting_date": "2026-02-30"}, 'id="meeting_date-errors"'),
        ({"members_present": ""}, "请填写出席成员"),
        ({"members_absent": "王建国"}, "不能既出席又缺席"),
        ({"members_present": "名" * 51}, "最多50个字符"),
        ({"decision_text": "   "}, "请按会议记录填写决定内容"),
        ({"decision_text": "长" * 20_001}, "决定内容过长"),
        ({"members_present": "甲\n" * 6001}, "成员名单过长"),
    ],
)
def test_bad_records_get_a_clear_message(console_app, demo, fields, message):
    publisher = signed_in(console_app, "publisher")
    token = _token(publisher, "/publish/new")
    response = _new(publisher, _form(token, PRESENT_6, ABSENT_4, **fields))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


LOOK_ALIKES = [
    # one person written three times, two of them with a zero-width character
    (["张三", "张三\u200b", "张三\u200c"], [], "有成员重复列出"),
    (["Ａ", "A", "王建国"], [], "有成员重复列出"),  # full-width and ASCII letters
    (["Li Na", "Li  Na", "Li\u3000Na"], [], "有成员重复列出"),
    (["\u200b", "\u200c", "\u2060"], [], "请填写出席成员"),  # invisible characters only
    (["李四\u200b", *PRESENT_6[1:]], ["李四"], "不能既出席又缺席"),
]


@pytest.mark.parametrize(("present", "absent", "message"), LOOK_ALIKES)
def test_look_alike_names_are_one_person_on_the_form(console_app, demo, present, absent, message):
    publisher = signed_in(console_app, "publisher")
    token = _token(publisher, "/publish/new")
    refused = _new(publisher, _form(token, present, absent))
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert message in page
    assert "同意以8600万元收购华北铸造厂51%股权。" in page  # what was typed is kept
    with console_app.extensions["portal.db"].session() as session:
        assert (
            session.scalar(select(func.count()).where(Disclosure.title.like("%华北铸造厂%"))) == 0
        )


def _build(present: str, absent: str = "") -> decisions.DecisionRecord:
    return decisions.build_record(
        meeting_kind="party_committee",
        meeting_date=date(2026, 3, 2),
        present=present,
        absent=absent,
        decision="同意。",
        dissents="",
        quorum=decisions.Quorum.parse(">1/2"),
        today=date(2026, 3, 5),
    )


def test_the_quorum_counts_one_person_once():
    # Three spellings of 张三 and one real absentee: not three of four present.
    with pytest.raises(decisions.DecisionError) as refused:
        _build("张三\n张三\u200b\n张三\u200c", "赵磊")
    assert refused.value.field == "members_present"
    with pytest.raises(decisions.DecisionError) as refused:
        _build("李四\u200b\n王芳", "李四")
    assert refused.value.field == "members_absent"
    with pytest.raises(decisions.DecisionError):
        _build("\u200b\n\u200c\n\u2060")


def test_the_record_keeps_the_cleaned_names():
    record = _build("Ｌｉ\u3000Ｎａ\u202e、王\u200b芳\n张伟﹐刘洋", "赵磊\u2060")
    assert record.present == ("Li Na", "王芳", "张伟", "刘洋")
    assert record.absent == ("赵磊",)
    assert "\u202e" not in record.as_json() and "\u200b" not in record.as_json()


def test_a_stored_bidi_override_cannot_reorder_the_names_after_it(console_app, demo, public_app):
    d_id = _publish_through_console(console_app, PRESENT_6, ABSENT_4)
    # A record stored before names were cleaned: the override is in the data already.
    with console_app.extensions["portal.db"].session() as session:
        revision = session.scalars(
            select(DisclosureRevision).where(DisclosureRevision.disclosure_id == d_id)
        ).one()
        stored = json.loads(revision.decision_record)
        stored["present"][0] = "王建国\u202e"
        session.execute(
            text("UPDATE disclosure_revisions SET decision_record = :r WHERE id = :i"),
            {"r": json.dumps(stored, ensure_ascii=False), "i": revision.id},
        )
        session.commit()
    public = public_app.test_client()
    for path in (f"/disclosures/{d_id}?lang=zh", f"/disclosures/{d_id}/print?lang=zh"):
        page = public.get(path).get_data(as_text=True)
        assert "<bdi>王建国\u202e</bdi>、<bdi>李秀英</bdi>、<bdi>张伟</bdi>" in page
        assert "<bdi>赵磊</bdi>、<bdi>黄敏</bdi>" in page


def test_a_major_decision_is_not_submitted_without_its_record(console_app, demo):
    publisher = signed_in(console_app, "publisher")
    token = _token(publisher, "/publish/new")
    record_fields = ("meeting_kind", "meeting_date", "members_present", "members_absent")
    empty = dict.fromkeys((*record_fields, "decision_text", "dissents"), "")
    response = _new(
        publisher,
        _form(token, [], [], **empty) | {"save_and_submit": "1", "save": ""},
    )
    assert response.status_code == 400
    assert "此类公开事项须附集体决策记录" in response.get_data(as_text=True)


# --- the record on the public pages and in the log --------------------------------------------


def _publish_through_console(console_app, present, absent, **overrides) -> int:
    """Drafted, submitted and approved through the pages (a test signs the publisher or the
    approver in again with ``_again``: a code signs in once)."""
    publisher = signed_in(console_app, "publisher")
    approver = signed_in(console_app, "approver")
    token = _token(publisher, "/publish/new")
    data = _form(token, present, absent, **overrides) | {"save_and_submit": "1", "save": ""}
    d_id = _created_id(_new(publisher, data))
    token_a = _token(approver, f"/publish/{d_id}")
    approved = approver.post(
        f"/publish/{d_id}/review", data={"csrf_token": token_a, "approve": "1"}
    )
    assert approved.status_code == 302
    return d_id


def test_the_record_is_shown_on_the_public_page_the_print_view_and_the_history(
    console_app, demo, public_app
):
    d_id = _publish_through_console(console_app, PRESENT_6, ABSENT_4)
    public = public_app.test_client()
    for path in (f"/disclosures/{d_id}?lang=zh", f"/disclosures/{d_id}/print?lang=zh"):
        page = public.get(path).get_data(as_text=True)
        assert "集体决策记录" in page and "党委会" in page
        assert "出席成员（应到10人，实到6人）" in page
        assert "、".join(f"<bdi>{name}</bdi>" for name in PRESENT_6) in page
        assert "、".join(f"<bdi>{name}</bdi>" for name in ABSENT_4) in page
        assert "同意以8600万元收购华北铸造厂51%股权。" in page
        assert "刘洋：建议先完成资产评估复核。" in page
    english = public.get(f"/disclosures/{d_id}?lang=en").get_data(as_text=True)
    assert "Record of the collective decision" in english and "party committee meeting" in english
    history = public.get(f"/disclosures/{d_id}/history?lang=zh").get_data(as_text=True)
    assert "集体决策记录" in history and "刘洋：建议先完成资产评估复核。" in history

    # The log's leaf commits to the record, as the inclusion proof shows.
    sign_log_app(console_app)
    proof = json.loads(public.get(f"/log/proof/{d_id}").get_data(as_text=True))
    record = json.loads(proof["entries"][0]["record"])
    assert record["decision"]["present"] == PRESENT_6
    assert record["decision"]["dissents"] == "刘洋：建议先完成资产评估复核。"


def _again(console_app, username):
    """A second session of a user signed in already: with the next step's code."""
    return signed_in(console_app, username, at=time.time() + 30)


def sign_log_app(console_app):
    from app.db import get_session
    from app.web import runtime

    with console_app.app_context():
        runtime.refresh_checkpoint(get_session())


def test_names_decision_and_dissents_cannot_inject_markup(console_app, demo, public_app):
    d_id = _publish_through_console(
        console_app,
        [XSS_NAME, *PRESENT_6[1:]],
        ABSENT_4,
        decision_text=XSS_DECISION,
        dissents=XSS_DISSENT,
    )
    public = public_app.test_client()
    pages = [
        public.get(f"/disclosures/{d_id}?lang=zh"),
        public.get(f"/disclosures/{d_id}/print?lang=zh"),
    ]
    pages.append(public.get(f"/disclosures/{d_id}/history?lang=zh"))
    pages.append(_again(console_app, "approver").get(f"/publish/{d_id}"))
    for response in pages:
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "<script>alert" not in page
        assert "&lt;img src=x onerror" in page and "&lt;svg onload" in page  # shown as text
        assert "<svg" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert" in page  # the name is shown, as text
        assert "孙丽：反对。" in page


def test_an_amendment_corrects_the_record_visibly(console_app, demo, public_app):
    d_id = _publish_through_console(console_app, PRESENT_6, ABSENT_4)
    publisher = _again(console_app, "publisher")
    approver = _again(console_app, "approver")
    token = _token(publisher, f"/publish/{d_id}")
    publisher.post(f"/publish/{d_id}/amend", data={"csrf_token": token})
    edit = publisher.get(f"/publish/{d_id}/edit").get_data(as_text=True)
    assert "赵磊\n黄敏\n周强\n吴刚" in edit  # the record as published, to correct
    data = _form(token, [*PRESENT_6, "赵磊"], ABSENT_4[1:], reason="更正出席人员名单。")
    data |= {"save_and_submit": "1", "save": ""}
    assert publisher.post(f"/publish/{d_id}/edit", data=data).status_code == 302
    token_a = _token(approver, f"/publish/{d_id}")
    approver.post(f"/publish/{d_id}/review", data={"csrf_token": token_a, "approve": "1"})
    public = public_app.test_client()
    page = public.get(f"/disclosures/{d_id}?lang=zh").get_data(as_text=True)
    assert "出席成员（应到10人，实到7人）" in page
    assert "更正出席人员名单。" in page
    history = public.get(f"/disclosures/{d_id}/history?lang=zh").get_data(as_text=True)
    assert "本版更正了集体决策记录" in history
    assert "应到10人，实到6人" in history and "应到10人，实到7人" in history


def test_older_records_keep_their_bytes_and_a_changed_record_fails_the_log(db, demo, console_app):
    d_id = _publish_through_console(console_app, PRESENT_6, ABSENT_4)
    with db() as session:
        plain = session.scalar(
            select(DisclosureRevision).where(DisclosureRevision.decision_record.is_(None))
        )
        assert b'"decision"' not in disclosure_log.canonical_record(plain)
        assert b'"congress"' not in disclosure_log.canonical_record(plain)
    runner = console_app.test_cli_runner()
    assert runner.invoke(args=["log", "verify"]).exit_code == 0
    with db() as session:
        revision = session.scalar(
            select(DisclosureRevision).where(DisclosureRevision.disclosure_id == d_id)
        )
        changed = revision.decision_record.replace("赵磊", "王五")
        session.execute(
            text("UPDATE disclosure_revisions SET decision_record = :r WHERE id = :id"),
            {"r": changed, "id": revision.id},
        )
    bad = runner.invoke(args=["log", "verify"])
    assert bad.exit_code != 0
    assert f"disclosure {d_id}, revision 1" in bad.output


# --- the workers' congress's review -----------------------------------------------------------


def _awaiting(db) -> int:
    with db() as session:
        return session.scalar(
            select(Disclosure.id).where(Disclosure.congress_status == CongressStatus.awaiting)
        )


def test_the_publisher_asks_for_the_review_and_the_secretary_records_it(
    db, demo, console_app, public_app
):
    d_id = _publish_through_console(
        console_app, PRESENT_6, ABSENT_4, congress_requested="y", title="关于职工食堂改造的决策公告"
    )
    with db() as session:
        assert session.get(Disclosure, d_id).congress_status == CongressStatus.awaiting
        audits_before = session.scalar(
            select(func.count()).where(AuditEntry.action == "congress_review")
        )
    public = public_app.test_client()
    catalogue = public.get("/disclosures/catalogue/?lang=zh").get_data(as_text=True)
    waiting_part, reviewed_part = catalogue.split('id="h-congress-reviewed"')
    assert "关于职工食堂改造的决策公告" in waiting_part
    assert "关于职工食堂改造的决策公告" not in reviewed_part

    secretary = signed_in(console_app, "congress")
    listing = secretary.get("/congress/").get_data(as_text=True)
    assert "关于职工食堂改造的决策公告" in listing
    token = _token(secretary, f"/congress/{d_id}")
    # Reviewed without an opinion: refused, in its form.
    refused = secretary.post(
        f"/congress/{d_id}", data={"csrf_token": token, "status": "reviewed", "opinion": " "}
    )
    assert refused.status_code == 400
    assert "请填写职工代表大会的意见" in refused.get_data(as_text=True)
    assert (
        secretary.post(
            f"/congress/{d_id}", data={"csrf_token": token, "status": "under_review"}
        ).status_code
        == 302
    )
    opinion = (
        "职代会联席会议审议同意。\n\n建议改造期间<b>安排临时就餐点</b>。<script>alert(1)</script>"
    )
    done = secretary.post(
        f"/congress/{d_id}", data={"csrf_token": token, "status": "reviewed", "opinion": opinion}
    )
    assert done.status_code == 302

    page = public.get(f"/disclosures/{d_id}?lang=zh").get_data(as_text=True)
    assert "职工代表大会审议" in page and "已审议" in page
    assert "职代会联席会议审议同意。" in page
    assert "<script>alert(1)</script>" not in page
    history = public.get(f"/disclosures/{d_id}/history?lang=zh").get_data(as_text=True)
    assert history.count("记录职工代表大会审议情况") == 2
    catalogue = public.get("/disclosures/catalogue/?lang=zh").get_data(as_text=True)
    waiting_part, reviewed_part = catalogue.split('id="h-congress-reviewed"')
    assert "关于职工食堂改造的决策公告" in reviewed_part
    assert "关于职工食堂改造的决策公告" not in waiting_part

    with db() as session:
        revisions = session.scalars(
            select(DisclosureRevision)
            .where(DisclosureRevision.disclosure_id == d_id)
            .order_by(DisclosureRevision.number)
        ).all()
        assert [r.action.value for r in revisions] == ["publish", "review", "review"]
        # The text stays as published; the record is carried along.
        assert revisions[2].body == revisions[0].body
        assert revisions[2].decision_record == revisions[0].decision_record
        record = json.loads(disclosure_log.canonical_record(revisions[2]))
        assert record["congress"] == {"status": "reviewed", "opinion": opinion.strip()}
        entries = session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "congress_review")
        ).all()
        assert len(entries) == audits_before + 2
        assert f"disclosure {d_id}: reviewed, revision 3" in entries
    sign_log(db)
    assert console_app.test_cli_runner().invoke(args=["log", "verify"]).exit_code == 0


def test_the_demo_has_a_decision_record_a_reviewed_item_and_one_awaiting(db, demo, public_app):
    with db() as session:
        reviewed = session.scalar(
            select(Disclosure).where(Disclosure.congress_status == CongressStatus.reviewed)
        )
        record = decisions.read_record(reviewed.revisions[-1].decision_record)
        assert (
            record.absent
            and record.dissents
            and all(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", name) for name in record.present)
        )
        assert reviewed.congress_opinion
        assert _awaiting(db) is not None
    page = (
        public_app.test_client().get(f"/disclosures/{reviewed.id}?lang=zh").get_data(as_text=True)
    )
    assert "董事会" in page and "赵敏：建议分两期建设" in page and "已审议" in page
    listing = public_app.test_client().get("/disclosures/?category=major-decisions&lang=zh")
    item = listing.get_data(as_text=True).split('class="disclosure-item')[1]
    assert "职代会：已审议" in item
    assert '<span class="tag">已修订</span>' not in item  # a review changes no text


def test_the_secretary_may_only_record_what_was_asked_for(db, demo, console_app):
    secretary = signed_in(console_app, "congress")
    with db() as session:
        not_asked = session.scalar(
            select(Disclosure.id)
            .where(Disclosure.congress_status.is_(None), Disclosure.public_state == "published")
            .order_by(Disclosure.id)
        )
    assert secretary.get(f"/congress/{not_asked}").status_code == 404
    token = _token(secretary, "/congress/")
    posted = secretary.post(
        f"/congress/{not_asked}", data={"csrf_token": token, "status": "under_review"}
    )
    assert posted.status_code == 404
    with db() as session, pytest.raises(WrongState):
        congress.record_review(
            session,
            session.get(Disclosure, not_asked),
            staff(session, "congress"),
            CongressStatus.reviewed,
            "同意",
        )


def test_a_status_outside_the_list_is_refused_in_the_form(db, demo, console_app):
    secretary = signed_in(console_app, "congress")
    d_id = _awaiting(db)
    token = _token(secretary, f"/congress/{d_id}")
    response = secretary.post(
        f"/congress/{d_id}",
        data={"csrf_token": token, "status": "9" * 30, "opinion": "审议意见：同意。"},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "请选择审议状态" in page and "审议意见：同意。" in page


# --- roles ------------------------------------------------------------------------------------


def test_the_secretary_does_its_page_and_nothing_of_other_roles(db, demo, console_app):
    secretary = signed_in(console_app, "congress")
    assert secretary.get("/congress/").status_code == 200
    home = secretary.get("/").get_data(as_text=True)
    assert "职代会秘书" in home and 'href="/congress/"' in home
    assert "等待职代会审议（1）" in home and "关于调整企业年金缴费比例的通知" in home
    d_id = _awaiting(db)
    token = _token(secretary, f"/congress/{d_id}")
    for path in (
        "/publish/",
        "/publish/new",
        "/publish/questions",
        "/audit/",
        "/admin/",
        "/cases/",
    ):
        assert secretary.get(path).status_code in (403, 404), path
    for path, data in (
        ("/publish/new", {"title": "越权草稿", "category": "procurement", "unit": "GRP"}),
        (f"/publish/{d_id}/amend", {}),
        (f"/publish/{d_id}/review", {"approve": "1"}),
    ):
        assert secretary.post(path, data={"csrf_token": token, **data}).status_code == 403


@pytest.mark.parametrize("username", ["publisher", "approver", "admin", "auditor", "head"])
def test_other_roles_cannot_do_the_secretarys_page(db, demo, console_app, username):
    client = signed_in(console_app, username)
    d_id = _awaiting(db)
    assert client.get("/congress/").status_code == 403
    assert client.get(f"/congress/{d_id}").status_code == 403
    token = _token(client, "/account/sessions")
    posted = client.post(
        f"/congress/{d_id}", data={"csrf_token": token, "status": "reviewed", "opinion": "同意"}
    )
    assert posted.status_code == 403
    with db() as session:
        assert session.get(Disclosure, d_id).congress_status == CongressStatus.awaiting


def test_a_congress_secretary_account_is_added_from_the_command_line(console_app, demo):
    options = ["--name", "职代会秘书 刘芳", "--role", "congress_secretary", "--unit", "MCH"]
    added = console_app.test_cli_runner().invoke(args=["user", "add", "liu.fang", *options])
    assert added.exit_code == 0, added.output
    listed = console_app.test_cli_runner().invoke(args=["user", "list"])
    assert re.search(r"liu\.fang .*congress_secretary", listed.output)


def test_a_secretary_of_a_subsidiary_sees_and_records_only_its_own_units(db, demo):
    from app.models import Role
    from app.services import units
    from app.services.disclosures.errors import NotAllowed
    from app.services.staff import create_user

    with db() as session:
        mch_secretary = create_user(
            session, "mch.congress", "机械公司职代会秘书 马丽", None, [Role.congress_secretary],
            unit=units.by_code(session, "MCH"),
        )  # fmt: skip
        reviewed = session.scalar(
            select(Disclosure).where(Disclosure.congress_status == CongressStatus.reviewed)
        )
        assert reviewed.unit.code == "CHM"
        assert reviewed not in congress.for_secretary(session, mch_secretary)
        with pytest.raises(NotAllowed):
            congress.record_review(
                session, reviewed, mch_secretary, CongressStatus.under_review, "重新审议"
            )
        group_secretary = staff(session, "congress")
        assert reviewed in congress.for_secretary(session, group_secretary)
