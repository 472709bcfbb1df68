"""What sign-in, sessions, enrolment and the user commands leave in the audit log."""

from __future__ import annotations

import time

from sqlalchemy import select

from app.models.audit import AuditEntry
from app.services.demo import DEMO_LOGINS
from tests.helpers.console import enrol, enrolment_code, sign_in, signed_in
from tests.helpers.forms import csrf_token

LOGINS = {login.username: login for login in DEMO_LOGINS}


def entries(app) -> list[tuple[str, str, str | None, str]]:
    with app.extensions["portal.db"].session() as db:
        return [
            (e.action, e.actor_username, e.subject_username, e.detail)
            for e in db.scalars(select(AuditEntry).order_by(AuditEntry.log_index))
        ]


def test_sign_ins_failures_unsealing_and_sign_out_are_recorded(console_app, demo):
    sign_in(console_app.test_client(), "不存在的人", "随便什么口令 whatever", "123456")
    sign_in(console_app.test_client(), "mch.inspector", "错误的口令 wrong one", "123456")
    client = signed_in(console_app, "mch.inspector")
    page = client.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(page)})
    found = entries(console_app)
    assert [e[:2] for e in found] == [
        ("sign_in_failed", ""),  # an unknown account: no actor, and not the name typed
        ("sign_in_failed", "mch.inspector"),
        ("sign_in", "mch.inspector"),
        ("unseal", "mch.inspector"),
        ("session_end", "mch.inspector"),
    ]
    assert all("不存在的人" not in str(entry) for entry in found)


def test_password_change_enrolment_and_admin_changes_are_recorded(console_app, demo):
    runner = console_app.test_cli_runner()
    added = runner.invoke(args=["user", "add", "tang.li", "--role", "auditor", "--name", "唐丽"])
    enrol(console_app.test_client(), "tang.li", enrolment_code(added.output), "唐丽自己的口令 mine")
    client = signed_in(console_app, "approver")
    signed_in(console_app, "approver", at=time.time() + 30)
    page = client.get("/account/password").get_data(as_text=True)
    client.post(
        "/account/password",
        data={
            "csrf_token": csrf_token(page),
            "current": LOGINS["approver"].password,
            "password": "张伟自己的新口令 changed",
            "repeat": "张伟自己的新口令 changed",
        },
    )
    runner.invoke(args=["user", "reset", "approver"])
    found = entries(console_app)
    assert ("admin_change", "", "tang.li", "added; enrolment code issued") in found
    assert ("enrolment", "tang.li", None, "first") in found
    assert ("password_change", "approver", None, "") in found
    assert ("session_end", "approver", None, "1 ended by the password change") in found
    assert ("admin_change", "", "approver", "reset; enrolment code issued") in found
    assert ("session_end", "approver", None, "1 ended by an administrator") in found
    assert not any("口令" in entry[3] for entry in found)
