"""Password derivations at once are bounded: past PASSWORD_DERIVATIONS a console form that
would derive one (sign-in, enrolment, password change) waits a moment, then gets a "busy"
page (503) that keeps what may be shown back, and no derivation runs."""

from __future__ import annotations

import time

import pytest

from app.console.session import derivations
from app.services import staff
from app.services.demo import DEMO_LOGINS
from crypto import passwords
from tests.console.test_enrolment import add_user, open_finish_page
from tests.console.test_login import post_login
from tests.helpers.console import signed_in
from tests.helpers.forms import csrf_token

LOGINS = {login.username: login for login in DEMO_LOGINS}
BUSY = "The console is busy checking other passwords just now."


@pytest.fixture
def derived(monkeypatch) -> list[int]:
    """Counts the password derivations run from now on."""
    calls: list[int] = []
    derive = passwords.derive

    def counting(*args, **kwargs):
        calls.append(1)
        return derive(*args, **kwargs)

    monkeypatch.setattr(passwords, "derive", counting)
    return calls


@pytest.fixture
def app(instance, demo):
    return instance.app("console", PASSWORD_DERIVATIONS=1)


def taken(app):
    """Takes the one place, as a derivation running in another thread would."""
    places = app.extensions["portal.password_derivations"]
    assert places.acquire(blocking=False)
    return places


def test_the_default_is_half_the_cores(instance, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert instance.app("console").config["PASSWORD_DERIVATIONS"] == 4
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert instance.app("console").config["PASSWORD_DERIVATIONS"] == 1


def test_a_sign_in_past_the_places_is_busy_at_once_and_derives_nothing(app, derived):
    places = taken(app)
    client = app.test_client()
    started = time.monotonic()
    response = post_login(client, "管理员", "猜的口令 wrong-guess", "123456")
    waited = time.monotonic() - started
    assert response.status_code == 503
    assert derivations.WAIT_SECONDS <= waited < derivations.WAIT_SECONDS + 2
    body = response.get_data(as_text=True)
    assert BUSY in body
    assert 'value="管理员"' in body  # the username stays, the password and the code do not
    assert "猜的口令" not in body and "123456" not in body
    assert derived == []
    places.release()
    # With the place free again the same form is checked (so the count above could fail).
    assert post_login(client, "管理员", "猜的口令 wrong-guess", "123456").status_code == 400
    assert derived != []


def test_busy_answers_do_not_use_up_the_account_limit(instance, demo, derived):
    app = instance.app("console", PASSWORD_DERIVATIONS=1, RATELIMIT_LOGIN_ACCOUNT="1 per hour")
    places = taken(app)
    for number in range(3):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.2.{number + 1}"
        response = post_login(client, "admin", LOGINS["admin"].password, "000000")
        assert response.status_code == 503
    places.release()
    client = app.test_client()
    admin = LOGINS["admin"]
    assert (
        post_login(client, "admin", admin.password, staff.totp_now(admin.totp_secret)).status_code
        == 302
    )


def test_a_password_change_past_the_places_is_busy_and_changes_nothing(app, derived):
    client = signed_in(app, "approver")
    page = client.get("/account/password?lang=en").get_data(as_text=True)
    places = taken(app)
    derived.clear()
    response = client.post(
        "/account/password?lang=en",
        data={
            "csrf_token": csrf_token(page),
            "current": LOGINS["approver"].password,
            "password": "张伟自己的新口令 changed",
            "repeat": "张伟自己的新口令 changed",
        },
    )
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert BUSY in body
    assert "张伟自己的新口令" not in body and LOGINS["approver"].password not in body
    assert derived == []
    places.release()
    # The old password still signs in.
    signed_in(app, "approver", at=time.time() + 30)


def test_an_enrolment_past_the_places_is_busy_and_makes_nothing(app, derived):
    code = add_user(app, "zhou.jie", "--role", "publisher")
    client = app.test_client()
    page = open_finish_page(client, "zhou.jie", code)
    secret = page.split('<code class="secret">', 1)[1].split("<", 1)[0].replace(" ", "")
    places = taken(app)
    response = client.post(
        "/enrol/finish?lang=en",
        data={
            "csrf_token": csrf_token(page),
            "password": "周杰自己的口令 mine-2026",
            "repeat": "周杰自己的口令 mine-2026",
            "code": staff.totp_now(secret),
        },
    )
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert BUSY in body
    assert "周杰自己的口令" not in body
    assert secret in body.replace(" ", "")  # the same secret is offered again
    assert derived == []
    places.release()
    with app.extensions["portal.db"].session() as db:
        assert not staff.has_password(staff.by_username(db, "zhou.jie"))
