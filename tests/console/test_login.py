"""Staff sign-in: password and TOTP, one answer for every failure, no replay, rate limits."""

import time

import pytest

from app.services.demo import DEMO_LOGINS
from app.services.staff import totp_now
from tests.conftest import ConsoleAuth, csrf_token

ADMIN = next(login for login in DEMO_LOGINS if login.username == "admin")


def post_login(client, username, password, code, next_url=None):
    token = csrf_token(client.get("/login?lang=en").get_data(as_text=True))
    path = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(
        path, data={"csrf_token": token, "username": username, "password": password, "code": code}
    )


def test_login_with_password_and_code_opens_the_console(auth):
    response = auth.login("admin")
    assert response.status_code == 302
    dashboard = auth.client.get("/?lang=en")
    assert dashboard.status_code == 200
    assert "系统管理员 王敏" in dashboard.get_data(as_text=True)
    assert auth.client.get("/admin/").status_code == 200


def test_console_pages_need_a_login(console_app):
    response = console_app.test_client().get("/admin/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/admin/")


@pytest.mark.parametrize(
    ("username", "password", "code"),
    [
        ("admin", "wrong password!", None),
        ("admin", ADMIN.password, "000000"),
        ("nobody", ADMIN.password, None),
    ],
)
def test_every_failure_gets_the_same_answer(console_app, demo, username, password, code):
    client = console_app.test_client()
    response = post_login(client, username, password, code or totp_now(ADMIN.totp_secret))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "The username, password or code is not correct." in body
    assert "staff_id" not in (client.get_cookie("portal_console").value or "")
    assert client.get("/admin/").status_code == 302


def test_a_code_is_accepted_only_once(console_app, demo):
    code = totp_now(ADMIN.totp_secret)
    first = console_app.test_client()
    assert post_login(first, "admin", ADMIN.password, code).status_code == 302
    # Someone who watched the code being typed cannot use it again.
    second = console_app.test_client()
    replay = post_login(second, "admin", ADMIN.password, code)
    assert replay.status_code == 400
    assert second.get("/admin/").status_code == 302


def test_an_older_code_after_a_newer_one_is_refused(console_app, demo):
    now = time.time()
    client = console_app.test_client()
    assert (
        post_login(client, "admin", ADMIN.password, totp_now(ADMIN.totp_secret, now)).status_code
        == 302
    )
    previous = totp_now(ADMIN.totp_secret, now - 30)
    assert (
        post_login(console_app.test_client(), "admin", ADMIN.password, previous).status_code == 400
    )


def test_malformed_code_is_a_field_error(console_app, demo):
    response = post_login(console_app.test_client(), "admin", ADMIN.password, "12ab56")
    assert response.status_code == 400
    assert "The code has 6 digits." in response.get_data(as_text=True)


def test_disabled_account_loses_its_session(auth, console_app):
    auth.login("publisher")
    assert auth.client.get("/").status_code == 200
    console_app.test_cli_runner().invoke(args=["user", "disable", "publisher"])
    assert auth.client.get("/").status_code == 302


def test_role_is_required_for_admin_area(auth):
    auth.login("publisher")
    response = auth.client.get("/admin/?lang=en")
    assert response.status_code == 403
    assert "Access denied" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"]
)
def test_next_cannot_leave_the_site(console_app, demo, target):
    response = post_login(
        console_app.test_client(), "admin", ADMIN.password, totp_now(ADMIN.totp_secret), target
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_inside_the_site_is_followed(console_app, demo):
    response = post_login(
        console_app.test_client(), "admin", ADMIN.password, totp_now(ADMIN.totp_secret), "/admin/"
    )
    assert response.headers["Location"] == "/admin/"


def test_logout_is_a_post_with_csrf(auth):
    auth.login("admin")
    assert auth.client.get("/logout").status_code == 405
    assert auth.client.post("/logout").status_code == 400  # no token
    page = auth.client.get("/").get_data(as_text=True)
    response = auth.client.post("/logout", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert auth.client.get("/").status_code == 302


def test_session_id_changes_at_login(console_app, demo):
    client = console_app.test_client()
    client.get("/login")
    before = client.get_cookie("portal_console").value
    ConsoleAuth(client).login("admin")
    assert client.get_cookie("portal_console").value != before


def test_login_attempts_are_rate_limited(instance, demo):
    app = instance.app("console", RATELIMIT_LOGIN="3 per minute")
    client = app.test_client()
    statuses = [
        post_login(client, "admin", "wrong password!", "123456").status_code for _ in range(4)
    ]
    assert statuses == [400, 400, 400, 429]
    limited = post_login(client, "admin", ADMIN.password, totp_now(ADMIN.totp_secret))
    assert limited.status_code == 429
    assert "Too many requests" in limited.get_data(as_text=True)
