"""Report categories kept by the administrator (/admin/report-categories): added, renamed in
both languages, reordered, retired and offered again, each change audited; the report form
offers the active ones and refuses the others; the console and /stats name them as renamed."""

from __future__ import annotations

import re
from datetime import date
from html import unescape

import pytest
from sqlalchemy import select

from app.models import Report, ReportCategoryEntry
from app.services.reports import categories
from tests.helpers.case_console import send_report, signed_in_as
from tests.helpers.console import signed_in
from tests.helpers.forms import csrf_token
from tests.helpers.report_pages import CANARY, post_report, report_form_data

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en"}
CHOOSE_FROM_LIST = {"zh": "请从列表中选择类别。", "en": "Choose a category from the list."}


def _token(client, path="/admin/report-categories") -> str:
    return csrf_token(client.get(path).get_data(as_text=True))


def _add(client, code="work_safety", zh="安全生产", en="Work safety"):
    return client.post(
        "/admin/report-categories",
        data={
            "csrf_token": _token(client),
            "new-code": code,
            "new-name_zh": zh,
            "new-name_en": en,
        },
    )


def _press(client, code: str, action: str):
    return client.post(
        f"/admin/report-categories/{code}/{action}", data={"csrf_token": _token(client)}
    )


def _rows(db) -> list[tuple[str, str, str, bool]]:
    with db() as session:
        return [
            (c.code, c.name_zh, c.name_en, c.active) for c in categories.list_categories(session)
        ]


def _options(html: str, name: str = "category") -> dict[str, str]:
    """The options of the select ``name`` in ``html``: value -> label."""
    start = html.index(f'name="{name}"')
    select_html = html[start : html.index("</select>", start)]
    return {
        value: unescape(label)
        for value, label in re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)<', select_html)
    }


def test_the_eight_categories_are_there_with_their_names(db, demo):
    rows = _rows(db)
    assert [r[0] for r in rows][:2] == ["eight_point_rules", "bribery_embezzlement"]
    assert ("other", "其他", "Other", True) in rows
    assert len(rows) == 8


def test_admin_adds_renames_reorders_retires_and_reinstates(console_app, demo, db, audit_entries):
    admin = signed_in(console_app, "admin")
    page = admin.get("/admin/report-categories")
    assert page.status_code == 200 and "采购与招投标" in page.get_data(as_text=True)

    added = _add(admin)
    assert added.status_code == 302
    assert _rows(db)[-1] == ("work_safety", "安全生产", "Work safety", True)
    shown = admin.get(added.headers["Location"]).get_data(as_text=True)
    assert "安全生产" in shown  # the confirmation names it

    form_page = admin.get("/admin/report-categories/work_safety").get_data(as_text=True)
    assert 'value="安全生产"' in form_page
    renamed = admin.post(
        "/admin/report-categories/work_safety",
        data={
            "csrf_token": csrf_token(form_page),
            "names-name_zh": "安全生产与职业健康",
            "names-name_en": "Work safety and health",
        },
    )
    assert renamed.status_code == 302
    assert _rows(db)[-1] == ("work_safety", "安全生产与职业健康", "Work safety and health", True)

    assert _press(admin, "work_safety", "up").status_code == 302
    assert [r[0] for r in _rows(db)][-2:] == ["work_safety", "other"]
    assert _press(admin, "eight_point_rules", "up").status_code == 302  # first: stays first
    assert _rows(db)[0][0] == "eight_point_rules"

    assert _press(admin, "work_safety", "retire").status_code == 302
    assert ("work_safety", "安全生产与职业健康", "Work safety and health", False) in _rows(db)
    assert _press(admin, "work_safety", "reinstate").status_code == 302
    assert ("work_safety", "安全生产与职业健康", "Work safety and health", True) in _rows(db)

    entries = [e for e in audit_entries if e.action == "admin_change"]
    assert [e.actor for e in entries] == ["admin"] * 6
    details = [e.detail for e in entries]
    assert details[0] == "report category work_safety added"
    assert (
        "renamed from 安全生产 / Work safety to 安全生产与职业健康 / Work safety and health"
        in (details[1])
    )
    assert details[2:] == [
        "report category work_safety moved up",
        "report category eight_point_rules moved up",
        "report category work_safety retired",
        "report category work_safety reinstated",
    ]


@pytest.mark.parametrize(
    ("code", "zh", "en", "expected"),
    [
        (
            "other",
            "安全生产",
            "Work safety",
            {"zh": "已有使用此代码的类别", "en": "exists already"},
        ),
        ("安全", "安全生产", "Work safety", {"zh": "小写字母", "en": "lower-case letters"}),
        ("Work", "安全生产", "Work safety", {"zh": "小写字母", "en": "lower-case letters"}),
        ("a", "安全生产", "Work safety", {"zh": "小写字母", "en": "lower-case letters"}),
        ("x" * 25, "安全生产", "Work safety", {"zh": "小写字母", "en": "lower-case letters"}),
        ("ok\n", "安全生产", "Work safety", {"zh": "小写字母", "en": "lower-case letters"}),
        (
            "work_safety",
            "",
            "Work safety",
            {"zh": "请输入中文名称", "en": "Enter the Chinese name"},
        ),
        ("work_safety", "安" * 201, "Work safety", {"zh": "200", "en": "200"}),
        (
            "work_safety",
            "\u200b\u2060\ufeff",
            "Work safety",
            {"zh": "请填写两个名称", "en": "both"},
        ),
        ("work_safety", "\u202e\u3000", "Work safety", {"zh": "请填写两个名称", "en": "both"}),
    ],
)
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_bad_category_is_refused_with_what_was_typed(
    console_app, demo, db, audit_entries, code, zh, en, expected, lang
):
    admin = signed_in(console_app, "admin")
    admin.get(f"/admin/report-categories?lang={lang}")
    refused = _add(admin, code, zh, en)
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert expected[lang] in unescape(page)
    assert 'value="Work safety"' in page  # what was typed comes back
    assert len(_rows(db)) == 8
    assert not [e for e in audit_entries if e.action == "admin_change"]


def test_a_bad_rename_is_refused_and_an_unknown_code_is_404(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    page = admin.get("/admin/report-categories/other?lang=zh").get_data(as_text=True)
    refused = admin.post(
        "/admin/report-categories/other",
        data={"csrf_token": csrf_token(page), "names-name_zh": "  ", "names-name_en": "其它 Misc"},
    )
    assert refused.status_code == 400
    assert "请输入中文名称" in refused.get_data(as_text=True)
    assert 'value="其它 Misc"' in refused.get_data(as_text=True)
    assert ("other", "其他", "Other", True) in _rows(db)
    assert admin.get("/admin/report-categories/nope").status_code == 404
    assert admin.get("/admin/report-categories/%E5%AE%89%E5%85%A8").status_code == 404
    assert _press(admin, "nope", "retire").status_code == 404


def test_category_names_are_stored_cleaned(console_app, demo, db, audit_entries):
    admin = signed_in(console_app, "admin")
    added = _add(admin, "work_safety", "安全\u200b生产\u202e", "Ｗｏｒｋ\u3000 safety")
    assert added.status_code == 302
    assert ("work_safety", "安全生产", "Work safety", True) in _rows(db)
    page = admin.get("/admin/report-categories/work_safety?lang=zh").get_data(as_text=True)
    renamed = admin.post(
        "/admin/report-categories/work_safety",
        data={
            "csrf_token": csrf_token(page),
            "names-name_zh": "\ufeff安全\u3000生产",
            "names-name_en": "Work\u2060 safety",
        },
    )
    assert renamed.status_code == 302
    assert ("work_safety", "安全 生产", "Work safety", True) in _rows(db)
    with db() as session, pytest.raises(categories.CategoryError):
        categories.rename(session, "work_safety", "\u200b", "Work safety")


@pytest.mark.parametrize("username", ["publisher", "approver", "auditor", "inspector"])
def test_other_roles_are_refused(console_app, demo, db, username):
    client = signed_in(console_app, username)
    assert client.get("/admin/report-categories").status_code == 403
    assert client.get("/admin/report-categories/other").status_code == 403
    token = csrf_token(client.get("/").get_data(as_text=True))
    for path in ("", "/other", "/other/retire", "/other/up"):
        answer = client.post(
            f"/admin/report-categories{path}",
            data={"csrf_token": token, "new-code": "work_safety", "names-name_zh": "安全生产"},
        )
        assert answer.status_code == 403, path
    assert len(_rows(db)) == 8 and ("other", "其他", "Other", True) in _rows(db)


def test_the_report_form_offers_the_active_categories_in_both_languages(demo, db, public_app):
    with db() as session:
        categories.add_category(session, "work_safety", "安全生产", "Work safety")
        categories.set_active(session, "work_style", False)
    client = public_app.test_client()
    zh = _options(client.get("/report/new", headers=ZH).get_data(as_text=True))
    assert zh["work_safety"] == "安全生产" and zh["other"] == "其他"
    assert "work_style" not in zh
    en = _options(client.get("/report/new", headers=EN).get_data(as_text=True))
    assert en["work_safety"] == "Work safety" and "work_style" not in en
    assert list(en)[1:3] == ["eight_point_rules", "bribery_embezzlement"]

    sent = post_report(client, report_form_data(client, category="work_safety"))
    assert sent.status_code == 200 and 'class="receipt-code"' in sent.get_data(as_text=True)
    with db() as session:
        assert session.scalars(select(Report.category)).all() == ["work_safety"]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("code", ["work_style", "forged_code", "安全生产", "x" * 40])
def test_a_retired_or_forged_category_is_refused_and_the_text_kept(
    demo, db, public_app, lang, code
):
    with db() as session:
        categories.set_active(session, "work_style", False)
    client = public_app.test_client()
    client.get(f"/report/new?lang={lang}")
    refused = post_report(client, report_form_data(client, category=code), follow=False)
    assert refused.status_code == 303
    shown = client.get(refused.headers["Location"])
    assert shown.status_code == 400
    page = unescape(shown.get_data(as_text=True))
    assert CHOOSE_FROM_LIST[lang] in page
    assert CANARY in page and "车间主任 李某" in page  # what was typed is kept
    with db() as session:
        assert session.scalars(select(Report.id)).all() == []


def test_the_service_refuses_a_retired_category_too(db, org, blobs):
    from app.services.reports.errors import ReportInvalid

    with db() as session:
        categories.set_active(session, "work_style", False)
    with pytest.raises(ReportInvalid) as refused:
        send_report(db, blobs, files=False, category="work_style")
    assert refused.value.errors == {"category": "unknown"}


def test_a_renamed_category_shows_in_the_inbox_case_page_and_stats(
    console_app, db, org, blobs, monkeypatch, public_app
):
    report_id = send_report(db, blobs, today=date(2026, 7, 6), files=False, category="work_style")
    with db() as session:
        categories.rename(session, "work_style", "工作作风与纪律", "Work style and discipline")
        categories.set_active(session, "work_style", False)  # retired: still named everywhere
    client = signed_in_as(console_app, org, "mch.insp1", monkeypatch)
    inbox = client.get("/cases/?lang=zh").get_data(as_text=True)
    assert _options(inbox)["work_style"] == "工作作风与纪律"
    filtered = client.get("/cases/", query_string={"category": "work_style"})
    assert filtered.status_code == 200 and report_id[:8] in filtered.get_data(as_text=True)
    case = client.get(f"/cases/{report_id}").get_data(as_text=True)
    assert "工作作风与纪律" in case and "工作作风</dd>" not in case
    case_en = client.get(f"/cases/{report_id}?lang=en").get_data(as_text=True)
    assert "Work style and discipline" in case_en

    import app.public.stats.views as stats_views

    monkeypatch.setattr(stats_views, "today", lambda: date(2026, 12, 1))
    stats = public_app.test_client()
    zh = stats.get("/stats", headers=ZH).get_data(as_text=True)
    assert "<bdi>工作作风与纪律</bdi>" in zh  # each name isolated from its neighbours
    with db() as session:
        categories.rename(session, "work_style", "作风建设", "Conduct")
    # The rename reaches the cached page at once (the public version counts it).
    assert "作风建设" in stats.get("/stats", headers=ZH).get_data(as_text=True)
    assert "Conduct" in stats.get("/stats", headers=EN).get_data(as_text=True)


def test_a_new_category_has_its_own_column_in_stats(db, org, blobs):
    from app.services.reports import stats as report_stats

    with db() as session:
        categories.add_category(session, "work_safety", "安全生产", "Work safety")
    send_report(db, blobs, today=date(2026, 7, 6), files=False, category="work_safety")
    with db() as session:
        found = report_stats.compute(session, date(2026, 12, 1))
        assert found.categories.columns[-1] == "work_safety"
        assert session.get(ReportCategoryEntry, "work_safety").name("zh") == "安全生产"


def test_a_code_added_at_the_same_moment_is_refused_as_a_duplicate(db, instance, monkeypatch):
    from sqlalchemy.orm import Session

    with db() as session:
        categories.add_category(session, "work_safety", "安全生产", "Work safety")
    # Another request's check ran before this one committed: only the insert finds it.
    real_get = Session.get
    monkeypatch.setattr(
        Session,
        "get",
        lambda self, cls, key, **kw: (
            None if key == "work_safety" else real_get(self, cls, key, **kw)
        ),
    )
    with db() as session:
        with pytest.raises(categories.CategoryError) as refused:
            categories.add_category(session, "work_safety", "安全生产二", "Work safety 2")
        assert refused.value.reason == "duplicate"
        session.rollback()
    monkeypatch.undo()
    assert [r for r in _rows(db) if r[0] == "work_safety"] == [
        ("work_safety", "安全生产", "Work safety", True)
    ]


def test_the_last_offered_category_cannot_be_retired(console_app, demo, db, audit_entries):
    with db() as session:
        for code, *_names in _rows(db)[:-1]:
            categories.set_active(session, code, False)
    admin = signed_in(console_app, "admin")
    admin.get("/admin/report-categories?lang=zh")
    refused = _press(admin, "other", "retire")
    assert refused.status_code == 400
    assert "这是举报表单目前提供的唯一类别" in refused.get_data(as_text=True)
    assert ("other", "其他", "Other", True) in _rows(db)
    assert not [e for e in audit_entries if e.action == "admin_change"]
