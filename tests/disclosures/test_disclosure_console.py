"""The console workflow through its pages: draft, submit, return, approve, amend, retract."""

import re

from sqlalchemy import select

from app.models import DisclosureCategory
from tests.helpers.console import signed_in
from tests.helpers.forms import csrf_token


def _token(client, path):
    page = client.get(path)
    assert page.status_code == 200, path
    return csrf_token(page.get_data(as_text=True))


def test_full_workflow_through_the_console(console_app, demo, public_app):
    publisher = signed_in(console_app, "publisher")
    approver = signed_in(console_app, "approver")
    token = _token(publisher, "/publish/new?lang=en")
    created = publisher.post(
        "/publish/new",
        data={
            "csrf_token": token,
            "title": "控制台流程测试",
            "category": "work-safety",
            "unit": "MCH",
            "scope": "everyone",
            "body": "第一版正文",
            "save_and_submit": "1",
        },
    )
    assert created.status_code == 302
    d_id = int(re.search(r"/publish/(\d+)", created.headers["Location"]).group(1))
    # A publisher cannot approve; the approver returns it with a comment.
    assert publisher.post(f"/publish/{d_id}/review", data={"csrf_token": token}).status_code == 403
    token_a = _token(approver, f"/publish/{d_id}")
    approver.post(f"/publish/{d_id}/review", data={"csrf_token": token_a, "send_back": "1"})
    page = approver.get(f"/publish/{d_id}?lang=en").get_data(as_text=True)
    assert "waiting for review" in page  # a return needs a comment: still in review
    approver.post(
        f"/publish/{d_id}/review",
        data={"csrf_token": token_a, "send_back": "1", "comment": "请补充"},
    )
    token = _token(publisher, f"/publish/{d_id}/edit")
    publisher.post(
        f"/publish/{d_id}/edit",
        data={
            "csrf_token": token,
            "title": "控制台流程测试",
            "category": "work-safety",
            "unit": "MCH",
            "scope": "everyone",
            "body": "第二版正文",
            "save_and_submit": "1",
        },
    )
    approver.post(f"/publish/{d_id}/review", data={"csrf_token": token_a, "approve": "1"})
    public = public_app.test_client()
    assert "第二版正文" in public.get(f"/disclosures/{d_id}").get_data(as_text=True)
    record = approver.get(f"/publish/{d_id}?lang=en").get_data(as_text=True)
    for step in ("created", "submitted for review", "returned for changes", "approved"):
        assert step in record
    assert "请补充" in record

    # Amendment
    publisher.post(f"/publish/{d_id}/amend", data={"csrf_token": token})
    publisher.post(
        f"/publish/{d_id}/edit",
        data={
            "csrf_token": token,
            "title": "控制台流程测试",
            "category": "work-safety",
            "unit": "MCH",
            "scope": "everyone",
            "body": "第三版正文",
            "reason": "更正数据",
            "save_and_submit": "1",
        },
    )
    approver.post(f"/publish/{d_id}/review", data={"csrf_token": token_a, "approve": "1"})
    history = public.get(f"/disclosures/{d_id}/history").get_data(as_text=True)
    assert "<del>二</del>" in history and "<ins>三</ins>" in history

    # Retraction
    publisher.post(f"/publish/{d_id}/retract", data={"csrf_token": token, "reason": "重复发布"})
    approver.post(f"/publish/{d_id}/review", data={"csrf_token": token_a, "approve": "1"})
    gone = public.get(f"/disclosures/{d_id}").get_data(as_text=True)
    assert "重复发布" in gone and "第三版正文" not in gone


def test_subsidiary_publisher_sees_only_own_units(console_app, demo):
    client = signed_in(console_app, "mch.publisher")
    page = client.get("/publish/new").get_data(as_text=True)
    assert 'value="MCH-W1"' in page and 'value="GRP"' not in page


def test_admin_edits_categories_and_catalogue(console_app, demo, public_app):
    admin = signed_in(console_app, "admin")
    token = _token(admin, "/admin/disclosures/?lang=en")
    saved = admin.post(
        "/admin/disclosures/categories",
        data={
            "csrf_token": token,
            "cat-code": "canteen",
            "cat-domain": "factory",
            "cat-name_zh": "职工食堂",
            "cat-name_en": "Staff canteen",
            "cat-active": "y",
        },
    )
    assert saved.status_code == 302
    added = admin.post(
        "/admin/disclosures/catalogue",
        data={
            "csrf_token": token,
            "entry-category": "canteen",
            "entry-unit": "CHM",
            "entry-period": "monthly",
            "entry-due_days": "10",
            "entry-scope": "everyone",
            "entry-starts_on": "2020-01-01",
        },
    )
    assert added.status_code == 302
    page = public_app.test_client().get("/disclosures/catalogue/CHM").get_data(as_text=True)
    assert "职工食堂" in page
    assert signed_in(console_app, "publisher").get("/admin/disclosures/").status_code == 403


def test_a_disclosure_category_s_names_are_names(console_app, demo):
    """Invisible or direction-changing characters alone are no name; runs of spaces are one."""
    admin = signed_in(console_app, "admin")
    token = _token(admin, "/admin/disclosures/")
    fields = {"csrf_token": token, "cat-code": "canteen", "cat-domain": "factory"}
    refused = admin.post(
        "/admin/disclosures/categories",
        data={**fields, "cat-name_zh": "\u200b\u202e", "cat-name_en": "Staff canteen"},
    )
    assert refused.status_code == 400
    assert "请输入中文名称。" in refused.get_data(as_text=True)
    saved = admin.post(
        "/admin/disclosures/categories",
        data={
            **fields,
            "cat-name_zh": "职工\u3000\u3000食堂\u200b",
            "cat-name_en": " Staff  canteen",
        },
    )
    assert saved.status_code == 302
    with console_app.extensions["portal.db"].session() as session:
        category = session.scalar(
            select(DisclosureCategory).where(DisclosureCategory.code == "canteen")
        )
        assert (category.name_zh, category.name_en) == ("职工 食堂", "Staff canteen")
