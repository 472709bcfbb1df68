"""Each role's first page is its work: the publisher's drafts returned (with the reviewer's
reason) and waiting, the approver's queue without their own work, the administrator's accounts
without a key; every item links to its page, and an empty list says so."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.models import Role, StaffRole, StaffUser
from tests.helpers.console import signed_in
from tests.helpers.forms import csrf_token

DRAFT = "职工食堂承包合同公示（草稿）"
SUBMITTED = "2026年上半年企业负责人薪酬公示"
OWN = "审核人自己起草的差旅费公示"
REASON = "请补充各项津贴的明细和发放依据。"


def _english(client, path: str = "/") -> str:
    page = client.get(path + ("&" if "?" in path else "?") + "lang=en")
    assert page.status_code == 200, path
    return page.get_data(as_text=True)


def _create(client, title: str, submit: bool) -> int:
    token = csrf_token(_english(client, "/publish/new"))
    data = {
        "csrf_token": token,
        "title": title,
        "category": "work-safety",
        "unit": "GRP",
        "scope": "everyone",
        "body": f"{title}的正文。",
        "save_and_submit" if submit else "save": "1",
    }
    created = client.post("/publish/new", data=data)
    assert created.status_code == 302, created.get_data(as_text=True)[:2000]
    return int(re.search(r"/publish/(\d+)", created.headers["Location"]).group(1))


def _link(disclosure_id: int, title: str) -> str:
    return f'<a href="/publish/{disclosure_id}">{title}</a>'


def test_empty_first_pages_say_there_is_nothing_waiting(console_app, demo):
    publisher = _english(signed_in(console_app, "mch.publisher"))
    assert "You have no drafts in progress and nothing waiting for review." in publisher
    assert "Nothing has been returned to you." in publisher
    approver = signed_in(console_app, "approver")
    page = _english(approver)
    # The demo leaves one item in review: once approved, nothing waits.
    (waiting,) = re.findall(r'<a href="/publish/(\d+)">', page.split('id="h-approver"')[1])
    token = csrf_token(_english(approver, f"/publish/{waiting}"))
    approver.post(f"/publish/{waiting}/review", data={"csrf_token": token, "approve": "1"})
    page = _english(approver)
    assert "Waiting for your approval (0)" in page
    assert "Nothing is waiting for your approval." in page
    # Neither sees the other's block.
    assert "Waiting for your approval" not in publisher
    assert "Your disclosures" not in page


def test_the_publisher_and_the_approver_see_their_work(console_app, demo, db):
    publisher = signed_in(console_app, "publisher")
    approver = signed_in(console_app, "approver")
    _english(publisher)
    _english(approver)
    draft_id = _create(publisher, DRAFT, submit=False)
    submitted_id = _create(publisher, SUBMITTED, submit=True)

    page = _english(approver)
    assert _link(submitted_id, SUBMITTED) in page and DRAFT not in page
    page = _english(publisher)
    assert _link(draft_id, DRAFT) in page
    assert _link(submitted_id, SUBMITTED) in page.split('id="h-in-review"')[1]

    token = csrf_token(_english(approver, f"/publish/{submitted_id}"))
    returned = approver.post(
        f"/publish/{submitted_id}/review",
        data={"csrf_token": token, "send_back": "1", "comment": REASON},
    )
    assert returned.status_code == 302
    page = _english(publisher)
    assert "Returned to you for changes (1)" in page
    returned_block = page.split('id="h-returned"')[1].split('id="h-drafts"')[0]
    assert _link(submitted_id, SUBMITTED) in returned_block
    assert REASON in returned_block and "审核人 张伟" in returned_block
    assert SUBMITTED not in _english(approver).split('id="h-approver"')[1]

    # An approver who also drafts never finds their own work in their queue.
    with db() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == "approver"))
        session.add(StaffRole(user=user, role=Role.publisher))
    own_id = _create(approver, OWN, submit=True)
    page = _english(approver)
    assert OWN not in page.split('id="h-approver"')[1]
    # It waits for another approver, among the work of theirs that is in review.
    assert _link(own_id, OWN) in page.split('id="h-in-review"')[1]


def test_the_administrator_sees_accounts_waiting_for_a_key(console_app, demo, db):
    admin = signed_in(console_app, "admin")
    page = _english(admin)
    assert "Every inspector and office head has a key." in page
    assert 'href="/admin/"' in page
    with db() as session:
        head = session.scalar(select(StaffUser).where(StaffUser.username == "mch.head"))
        session.add(
            StaffUser(
                username="mch.newinspector",
                display_name="机械公司新任纪检员 马超",
                password_hash="!",
                totp_secret="",
                unit_id=head.unit_id,
                office_id=head.office_id,
                role_rows=[StaffRole(role=Role.inspector)],
            )
        )
    page = _english(admin)
    assert "Accounts waiting for a key (1)" in page
    assert "机械公司新任纪检员 马超" in page and "mch.newinspector" in page
