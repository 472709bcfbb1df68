"""Enrolment with a one-time code: the owner chooses the password, confirms the authenticator,
gets recovery codes; mistakes keep what was typed (never a password); codes work once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.db import utcnow
from app.models import RecoveryCode, StaffEnrolment, StaffUser
from app.services import keys, staff
from tests.helpers.console import enrol, enrolment_code, sign_in
from tests.helpers.forms import csrf_token
from tests.helpers.weak_kdf import TEST_SEAL_PARAMS

NEW_PASSWORD = "我自己选的口令 mine-2026"


def add_user(app, username: str, *extra: str) -> str:
    """``portal user add``; returns the enrolment code it printed."""
    result = app.test_cli_runner().invoke(
        args=["user", "add", username, "--name", "纪检员 李明", *extra]
    )
    assert result.exit_code == 0, result.output
    return enrolment_code(result.output)


def open_finish_page(client, username: str, code: str) -> str:
    token = csrf_token(client.get("/enrol").get_data(as_text=True))
    first = client.post("/enrol", data={"csrf_token": token, "username": username, "code": code})
    assert first.status_code == 302
    return client.get("/enrol/finish?lang=en").get_data(as_text=True)


def test_enrolment_makes_password_totp_recovery_codes_and_key(console_app, demo):
    code = add_user(console_app, "li.ming", "--role", "inspector", "--office", "MCH")
    client = console_app.test_client()
    page = open_finish_page(client, "li.ming", code.lower().replace("-", " "))
    # The QR code is drawn on the server, inline, with no script on the page.
    assert "<svg" in page and "<script" not in page and "data:" not in page
    with console_app.extensions["portal.db"].session() as db:
        account = staff.by_username(db, "li.ming")
        assert account.sealed_identity is None  # no key before the enrolment is finished
    done = enrol(client, "li.ming", code, NEW_PASSWORD)
    # The first request of enrol() above started over: a new secret, shown on the new page.
    assert done.response.status_code == 200
    assert len(set(done.recovery_codes)) == 10
    assert client.get("/").status_code == 200  # signed in
    with console_app.extensions["portal.db"].session() as db:
        account = staff.by_username(db, "li.ming")
        assert account.totp_secret == done.totp_secret
        assert keys.unseal(account, NEW_PASSWORD, TEST_SEAL_PARAMS)
        stored = list(db.scalars(select(RecoveryCode.code_hash)))
        assert len(stored) == 10
        assert not any(c.replace("-", "") in "".join(stored) for c in done.recovery_codes)
        assert (
            db.scalar(select(StaffEnrolment).where(StaffEnrolment.staff_id == account.id)) is None
        )
    # The code worked once.
    again = enrol(console_app.test_client(), "li.ming", code, NEW_PASSWORD)
    assert again.response.status_code == 400


def test_a_recovery_code_replaces_the_totp_code_once(console_app, demo):
    code = add_user(console_app, "wang.li", "--role", "auditor")
    done = enrol(console_app.test_client(), "wang.li", code, NEW_PASSWORD)
    recovery = done.recovery_codes[3]
    typed = recovery.lower().replace("-", " ")
    assert sign_in(console_app.test_client(), "wang.li", NEW_PASSWORD, typed).status_code == 302
    again = sign_in(console_app.test_client(), "wang.li", NEW_PASSWORD, recovery)
    assert again.status_code == 400
    # Another code still works; a code never works with a wrong password.
    other = done.recovery_codes[4]
    assert (
        sign_in(console_app.test_client(), "wang.li", "错误的口令 wrong", other).status_code == 400
    )
    assert sign_in(console_app.test_client(), "wang.li", NEW_PASSWORD, other).status_code == 302


def test_wrong_username_or_code_gets_one_answer_and_keeps_the_username(console_app, demo):
    code = add_user(console_app, "zhao.min", "--role", "publisher")
    pages = set()
    for username, typed in (("zhao.min", "AAAA-BBBB-CCCC-DDDD-EEEE"), ("无此人", code)):
        client = console_app.test_client()
        token = csrf_token(client.get("/enrol?lang=en").get_data(as_text=True))
        response = client.post(
            "/enrol", data={"csrf_token": token, "username": username, "code": typed}
        )
        assert response.status_code == 400
        body = response.get_data(as_text=True)
        assert "The username or enrolment code is not correct" in body
        assert f'value="{username}"' in body
        assert typed not in body
        pages.add(body.replace(f'value="{username}"', "").split('name="csrf_token"')[0])
    assert len(pages) == 1


def test_an_expired_code_is_refused(console_app, demo, db):
    code = add_user(console_app, "sun.hao", "--role", "publisher")
    with db() as session:
        enrolment_row = session.scalars(select(StaffEnrolment)).one()
        enrolment_row.expires_at = utcnow() - timedelta(seconds=1)
    assert enrol(console_app.test_client(), "sun.hao", code, NEW_PASSWORD).response.status_code == (
        400
    )


def test_code_expires_after_the_configured_hours(instance, demo):
    app = instance.app("console", ENROLMENT_HOURS=1)
    before = utcnow()
    add_user(app, "qian.yu", "--role", "publisher")
    with app.extensions["portal.db"].session() as db:
        row = db.scalars(select(StaffEnrolment)).one()
        assert timedelta(minutes=59) < row.expires_at - before <= timedelta(hours=1, seconds=5)


@pytest.mark.parametrize(
    ("password", "repeat", "message", "field"),
    [
        ("short 短", "short 短", "at least 12 characters", "password"),
        ("aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa", "at least 6 different", "password"),
        (
            "zhou.jie的口令很长很长",
            "zhou.jie的口令很长很长",
            "must not contain your username",
            "password",
        ),
        (NEW_PASSWORD, NEW_PASSWORD + "x", "The two passwords are not the same.", "repeat"),
    ],
)
def test_a_refused_password_keeps_nothing_typed_and_says_why(
    console_app, demo, password, repeat, message, field
):
    code = add_user(console_app, "zhou.jie", "--role", "publisher")
    client = console_app.test_client()
    page = open_finish_page(client, "zhou.jie", code)
    secret = page.split('<code class="secret">', 1)[1].split("<", 1)[0].replace(" ", "")
    response = client.post(
        "/enrol/finish?lang=en",
        data={
            "csrf_token": csrf_token(page),
            "password": password,
            "repeat": repeat,
            "code": staff.totp_now(secret),
        },
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert message in body
    assert f'id="{field}-errors"' in body
    assert password not in body and repeat not in body
    # The same secret is still offered, and nothing was made.
    assert secret in body.replace(" ", "")
    with console_app.extensions["portal.db"].session() as db:
        assert not staff.has_password(staff.by_username(db, "zhou.jie"))


def test_a_wrong_totp_code_is_refused_in_chinese_too(console_app, demo):
    code = add_user(console_app, "he.ping", "--role", "publisher")
    client = console_app.test_client()
    page = open_finish_page(client, "he.ping", code)
    response = client.post(
        "/enrol/finish?lang=zh",
        data={
            "csrf_token": csrf_token(page),
            "password": NEW_PASSWORD,
            "repeat": NEW_PASSWORD,
            "code": "000000",
        },
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "身份验证器" in body and NEW_PASSWORD not in body
    with console_app.extensions["portal.db"].session() as db:
        account = staff.by_username(db, "he.ping")
        assert not staff.has_password(account) and account.totp_secret == ""


def test_the_finish_page_needs_the_first_step(console_app, demo):
    response = console_app.test_client().get("/enrol/finish")
    assert response.status_code == 302 and response.headers["Location"].endswith("/enrol")


def test_a_reset_ends_the_old_password_totp_and_recovery_codes(console_app, demo):
    code = add_user(console_app, "feng.yi", "--role", "inspector", "--office", "CHM")
    first = enrol(console_app.test_client(), "feng.yi", code, NEW_PASSWORD)
    client = console_app.test_client()
    assert sign_in(client, "feng.yi", NEW_PASSWORD, first.recovery_codes[0]).status_code == 302
    reset = console_app.test_cli_runner().invoke(args=["user", "reset", "feng.yi"])
    assert reset.exit_code == 0, reset.output
    assert client.get("/").status_code == 302
    at = time.time() + 60
    for typed in (staff.totp_now(first.totp_secret, at), first.recovery_codes[1]):
        assert sign_in(console_app.test_client(), "feng.yi", NEW_PASSWORD, typed).status_code == 400
    done = enrol(
        console_app.test_client(), "feng.yi", enrolment_code(reset.output), "重置后的新口令 again!"
    )
    assert done.response.status_code == 200
    body = done.response.get_data(as_text=True)
    assert "授权" in body or "grant" in body  # reports sent to the old key need a grant
    with console_app.extensions["portal.db"].session() as db:
        account = db.scalar(select(StaffUser).where(StaffUser.username == "feng.yi"))
        assert keys.unseal(account, "重置后的新口令 again!", TEST_SEAL_PARAMS)
