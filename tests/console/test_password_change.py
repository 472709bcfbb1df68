"""Changing one's password: whoever finds a session left open cannot guess the current
password there without limit or without a trace."""

from __future__ import annotations

import time

from app.services.demo import DEMO_LOGINS
from app.services.staff import totp_now
from tests.console.test_login import post_login
from tests.helpers.console import signed_in
from tests.helpers.forms import csrf_token

LOGINS = {login.username: login for login in DEMO_LOGINS}
NEW_PASSWORD = "张伟自己的新口令 changed"


def change(client, current: str, new: str = NEW_PASSWORD):
    page = client.get("/account/password?lang=en").get_data(as_text=True)
    return client.post(
        "/account/password?lang=en",
        data={"csrf_token": csrf_token(page), "current": current, "password": new, "repeat": new},
    )


def test_a_wrong_current_password_is_an_audit_entry(console_app, demo, audit_entries):
    client = signed_in(console_app, "approver")
    response = change(client, "猜的口令 guess-1")
    assert response.status_code == 400
    assert "That is not your current password." in response.get_data(as_text=True)
    failed = [entry for entry in audit_entries if entry.action == "password_change"]
    assert [(entry.actor, entry.detail) for entry in failed] == [
        ("approver", "wrong current password")
    ]
    assert not any("猜的口令" in entry.detail for entry in audit_entries)


def test_wrong_current_passwords_are_limited_with_the_accounts_sign_ins(instance, demo):
    app = instance.app("console", RATELIMIT_LOGIN_ACCOUNT="3 per hour")
    client = signed_in(app, "approver")
    statuses = [change(client, f"猜的口令 guess-{number}").status_code for number in range(4)]
    assert statuses == [400, 400, 400, 429]
    # Held: the right password gets no further, here or at the sign-in page.
    held = change(client, LOGINS["approver"].password)
    assert held.status_code == 429
    assert "Wait an hour and try again." in held.get_data(as_text=True)
    approver = LOGINS["approver"]
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.3.9"
    at = time.time() + 30
    refused = post_login(other, "approver", approver.password, totp_now(approver.totp_secret, at))
    assert refused.status_code == 429
    # Another account is not held.
    assert change(signed_in(app, "publisher"), "猜的口令 guess").status_code == 400


def test_failed_sign_ins_count_against_the_password_page_too(instance, demo):
    app = instance.app("console", RATELIMIT_LOGIN_ACCOUNT="2 per hour")
    client = signed_in(app, "approver")
    for number in range(2):
        guesser = app.test_client()
        guesser.environ_base["REMOTE_ADDR"] = f"10.0.4.{number + 1}"
        assert post_login(guesser, "approver", "wrong password!", "123456").status_code == 400
    assert change(client, "猜的口令 guess").status_code == 429


def test_a_weak_new_password_is_no_guess(instance, demo):
    app = instance.app("console", RATELIMIT_LOGIN_ACCOUNT="1 per hour")
    client = signed_in(app, "approver")
    for _ in range(3):
        weak = change(client, LOGINS["approver"].password, new="短口令")
        assert weak.status_code == 400
    assert change(client, LOGINS["approver"].password).status_code == 302
