"""Every action of the publishing workflow ends on a page that says what it did, naming the
item with a link to it."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from sqlalchemy import select

from app.db import utcnow
from app.models import DisclosureQuestion
from tests.helpers.console import signed_in
from tests.helpers.disclosures import publish_item
from tests.helpers.forms import csrf_token

# Angle brackets and an ampersand: the title is text in the confirmation, never markup.
TITLE = "2026年安全生产<检查>结果 & 整改公示"
SHOWN_TITLE = "2026年安全生产&lt;检查&gt;结果 &amp; 整改公示"
FILE_NAME = "检查记录（第一批）.csv"


def _english(client, path: str) -> str:
    page = client.get(path + ("&" if "?" in path else "?") + "lang=en")
    assert page.status_code == 200, path
    return page.get_data(as_text=True)


def _confirmation(client, response) -> str:
    """The confirmation on the page a POST redirects to (shown once)."""
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    found = re.findall(r'<p class="alert alert-success" role="status">(.*?)</p>', page, re.S)
    assert len(found) == 1, page[:3000]
    again = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "alert-success" not in again
    return found[0]


def _draft(token: str, **changes) -> dict:
    data = {
        "csrf_token": token,
        "title": TITLE,
        "category": "work-safety",
        "unit": "GRP",
        "scope": "everyone",
        "body": "第一版：检查发现三项隐患。",
    }
    data.update(changes)
    return data


def test_each_step_of_the_workflow_says_what_it_did(console_app, demo):
    publisher = signed_in(console_app, "publisher")
    approver = signed_in(console_app, "approver")
    token = csrf_token(_english(publisher, "/publish/new"))
    approver_token = csrf_token(_english(approver, "/publish/"))

    created = publisher.post(
        "/publish/new",
        data=_draft(token, save="1", attachments=[(io.BytesIO("项目,结果\n".encode()), FILE_NAME)]),
        content_type="multipart/form-data",
    )
    d_id = int(re.search(r"/publish/(\d+)", created.headers["Location"]).group(1))
    link = f'<a href="/publish/{d_id}">{SHOWN_TITLE}</a>'
    said = _confirmation(publisher, created)
    assert said == f"The draft {link} was saved."

    page = _english(publisher, f"/publish/{d_id}")
    attachment_id = re.search(rf"/publish/{d_id}/attachments/(\d+)/delete", page).group(1)
    removed = publisher.post(
        f"/publish/{d_id}/attachments/{attachment_id}/delete", data={"csrf_token": token}
    )
    assert _confirmation(publisher, removed) == f"The file {FILE_NAME} was removed from {link}."

    submitted = publisher.post(f"/publish/{d_id}/submit", data={"csrf_token": token})
    assert _confirmation(publisher, submitted) == f"{link} was submitted for review."

    returned = approver.post(
        f"/publish/{d_id}/review",
        data={"csrf_token": approver_token, "send_back": "1", "comment": "请补充整改期限。"},
    )
    assert _confirmation(approver, returned) == f"{link} was returned to its author for changes."

    edited = publisher.post(
        f"/publish/{d_id}/edit",
        data=_draft(token, body="第二版：整改期限见附表。", save_and_submit="1"),
    )
    assert (
        _confirmation(publisher, edited)
        == f"Your changes to {link} were saved and submitted for review."
    )

    approved = approver.post(
        f"/publish/{d_id}/review", data={"csrf_token": approver_token, "approve": "1"}
    )
    assert _confirmation(approver, approved) == f"{link} was approved and published."

    amending = publisher.post(f"/publish/{d_id}/amend", data={"csrf_token": token})
    assert amending.headers["Location"].endswith(f"/publish/{d_id}/edit")
    assert _confirmation(publisher, amending).startswith(f"An amendment of {link} was started")
    discarded = publisher.post(f"/publish/{d_id}/discard", data={"csrf_token": token})
    assert _confirmation(publisher, discarded) == (
        f"The change to {link} was discarded; the published page stays as it was."
    )

    amending = publisher.post(f"/publish/{d_id}/amend", data={"csrf_token": token})
    assert _confirmation(publisher, amending).startswith(f"An amendment of {link}")
    edited = publisher.post(
        f"/publish/{d_id}/edit",
        data=_draft(token, body="第三版：更正隐患数量。", reason="数量有误", save_and_submit="1"),
    )
    assert "submitted for review" in _confirmation(publisher, edited)
    approved = approver.post(
        f"/publish/{d_id}/review", data={"csrf_token": approver_token, "approve": "1"}
    )
    assert (
        _confirmation(approver, approved)
        == f"{link} was approved: the amended version is published."
    )

    requested = publisher.post(
        f"/publish/{d_id}/retract", data={"csrf_token": token, "reason": "重复发布"}
    )
    assert _confirmation(publisher, requested).startswith(f"The retraction of {link} was requested")
    approved = approver.post(
        f"/publish/{d_id}/review", data={"csrf_token": approver_token, "approve": "1"}
    )
    assert _confirmation(approver, approved) == (
        f"{link} was approved for retraction: its public page now shows the notice."
    )


def test_a_refused_step_confirms_nothing(console_app, demo):
    publisher = signed_in(console_app, "publisher")
    token = csrf_token(_english(publisher, "/publish/new"))
    created = publisher.post("/publish/new", data=_draft(token, save_and_submit="1"))
    d_id = int(re.search(r"/publish/(\d+)", created.headers["Location"]).group(1))
    assert "submitted for review" in _confirmation(publisher, created)
    again = publisher.post(f"/publish/{d_id}/submit", data={"csrf_token": token})
    assert again.status_code == 400
    page = again.get_data(as_text=True)
    assert "alert-success" not in page and "alert-error" in page


def test_a_scheduled_approval_says_when(console_app, demo):
    publisher = signed_in(console_app, "publisher")
    approver = signed_in(console_app, "approver")
    token = csrf_token(_english(publisher, "/publish/new"))
    later = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT09:30")
    created = publisher.post(
        "/publish/new", data=_draft(token, scheduled_at=later, save_and_submit="1")
    )
    d_id = int(re.search(r"/publish/(\d+)", created.headers["Location"]).group(1))
    said = _confirmation(publisher, created)
    assert "was saved and submitted for review." in said
    approved = approver.post(
        f"/publish/{d_id}/review",
        data={"csrf_token": csrf_token(_english(approver, "/publish/")), "approve": "1"},
    )
    said = _confirmation(approver, approved)
    assert "was approved and will be published at" in said and later[:10] in said


def test_answering_a_question_says_what_became_of_it(console_app, demo, db):
    d_id = publish_item(db, title="职工食堂招标结果公示")
    with db() as session:
        for text in ("中标单位是哪家？", "广告内容"):
            session.add(DisclosureQuestion(disclosure_id=d_id, body=text, asked_on=utcnow().date()))
    with db() as session:
        ids = list(
            session.scalars(
                select(DisclosureQuestion.id)
                .where(DisclosureQuestion.disclosure_id == d_id)
                .order_by(DisclosureQuestion.id)
            )
        )
    publisher = signed_in(console_app, "publisher")
    token = csrf_token(_english(publisher, "/publish/questions"))
    link = f'<a href="/publish/{d_id}">职工食堂招标结果公示</a>'
    answered = publisher.post(
        f"/publish/questions/{ids[0]}",
        data={"csrf_token": token, f"q{ids[0]}-answer": "某餐饮公司。", f"q{ids[0]}-publish": "1"},
    )
    assert (
        _confirmation(publisher, answered)
        == f"A question on {link} was published with your answer."
    )
    rejected = publisher.post(
        f"/publish/questions/{ids[1]}", data={"csrf_token": token, f"q{ids[1]}-reject": "1"}
    )
    assert _confirmation(publisher, rejected) == f"A question on {link} was not published."


def test_the_administrator_s_changes_are_confirmed(console_app, demo):
    admin = signed_in(console_app, "admin")
    token = csrf_token(_english(admin, "/admin/disclosures/"))
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
    assert _confirmation(admin, saved) == (
        'The category <a href="/admin/disclosures/#h-categories">Staff canteen</a> was saved.'
    )
    added = admin.post(
        "/admin/disclosures/catalogue",
        data={
            "csrf_token": token,
            "entry-category": "canteen",
            "entry-unit": "CHM",
            "entry-period": "monthly",
            "entry-due_days": "10",
            "entry-scope": "everyone",
            "entry-starts_on": "2026-01-01",
        },
    )
    said = _confirmation(admin, added)
    assert said.startswith('The periodic item <a href="/admin/disclosures/#h-catalogue">')
    assert "Staff canteen" in said and "was added to the catalogue." in said


def test_the_administrator_s_changes_are_on_the_audit_trail(console_app, demo, audit_entries):
    admin = signed_in(console_app, "admin")
    token = csrf_token(_english(admin, "/admin/disclosures/"))
    category = {
        "csrf_token": token,
        "cat-code": "canteen",
        "cat-domain": "factory",
        "cat-name_zh": "职工食堂",
        "cat-name_en": "Staff canteen",
        "cat-active": "y",
    }
    assert admin.post("/admin/disclosures/categories", data=category).status_code == 302
    refused = admin.post("/admin/disclosures/categories", data={**category, "cat-code": ""})
    assert refused.status_code == 400  # nothing changed: nothing recorded
    changes = [(e.action, e.actor, e.detail) for e in audit_entries if e.action != "sign_in"]
    assert changes == [("admin_change", "admin", "disclosure category canteen saved")]
