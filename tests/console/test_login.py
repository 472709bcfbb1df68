"""Staff sign-in: password and TOTP, one answer for every failure, no replay, rate limits."""

import re
import threading
import time

import pytest

from app.services.demo import DEMO_LOGINS
from app.services.staff import LoginFailed, authenticate, totp_now
from tests.helpers.console import ConsoleAuth
from tests.helpers.forms import csrf_token

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


WRONG_FACTORS = [
    ("admin", "wrong password!", None),
    ("admin", ADMIN.password, "000000"),
    ("nobody", ADMIN.password, None),
    ("管理员", ADMIN.password, None),
    # Codes in other scripts' digits, or of another shape, are just wrong codes.
    ("admin", ADMIN.password, "١٢٣٤٥٦"),
    ("admin", ADMIN.password, "１２３４５６"),
    ("admin", ADMIN.password, "12ab56"),
    ("admin", ADMIN.password, "1234567"),
    ("admin", ADMIN.password, "9" * 5000),
]


def _page_without_token(response) -> str:
    return re.sub(r'name="csrf_token"[^>]*>', "", response.get_data(as_text=True))


@pytest.mark.parametrize(("username", "password", "code"), WRONG_FACTORS)
def test_every_failure_gets_the_same_answer(console_app, demo, username, password, code):
    client = console_app.test_client()
    response = post_login(client, username, password, code or totp_now(ADMIN.totp_secret))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "The username, password or code is not correct." in body
    # The session cookie is encoded: what it holds is only seen by decoding it.
    with client.session_transaction() as session:
        assert "staff_id" not in session
    assert client.get("/admin/").status_code == 302


def test_every_wrong_factor_gets_the_very_same_page(console_app, demo):
    pages = set()
    for username, password, code in WRONG_FACTORS:
        client = console_app.test_client()
        response = post_login(client, username, password, code or totp_now(ADMIN.totp_secret))
        # What was typed comes back in the username field; the rest of the page must not differ.
        pages.add(_page_without_token(response).replace(f'value="{username}"', 'value=""'))
    assert len(pages) == 1


@pytest.mark.parametrize("run", range(3))
def test_one_code_signs_in_once_when_sent_twice_at_the_same_moment(instance, demo, run):
    """Two sign-ins with the same password and code at once: exactly one gets in."""
    app = instance.app("console")
    database = app.extensions["portal.db"]
    code = totp_now(ADMIN.totp_secret)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def sign_in() -> None:
        with database.sessions() as session:
            barrier.wait()
            try:
                authenticate(session, "admin", ADMIN.password, code)
            except LoginFailed:
                results.append("refused")
            else:
                results.append("accepted")
            session.commit()

    threads = [threading.Thread(target=sign_in) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["accepted", "refused"]


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
    # A ticket planted in the browser before the sign-in (fixation) is not the one after it.
    client.set_cookie("portal_console_key", "A" * 86)
    ConsoleAuth(client).login("admin")
    flask_cookie = client.get_cookie("portal_console")
    assert flask_cookie is None or flask_cookie.value != before
    first = client.get_cookie("portal_console_key").value
    assert first != "A" * 86
    page = client.get("/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(page)})
    ConsoleAuth(client).login("admin", at=time.time() + 30)
    assert client.get_cookie("portal_console_key").value not in (first, "A" * 86)


def test_login_attempts_are_rate_limited(one_clock_minute, instance, demo):
    app = instance.app("console", RATELIMIT_LOGIN="3 per minute")
    client = app.test_client()
    statuses = [
        post_login(client, "admin", "wrong password!", "123456").status_code for _ in range(4)
    ]
    assert statuses == [400, 400, 400, 429]
    limited = post_login(client, "admin", ADMIN.password, totp_now(ADMIN.totp_secret))
    assert limited.status_code == 429
    assert "Too many requests" in limited.get_data(as_text=True)
    assert "Wait a minute and try again." in limited.get_data(as_text=True)


def test_failed_sign_ins_are_limited_per_account_across_addresses(instance, demo):
    app = instance.app("console", RATELIMIT_LOGIN_ACCOUNT="3 per hour")
    statuses = []
    for number in range(4):
        client = app.test_client()
        # Each attempt from another address: the per-address limit never applies.
        client.environ_base["REMOTE_ADDR"] = f"10.0.0.{number + 1}"
        statuses.append(post_login(client, "Admin ", "wrong password!", "123456").status_code)
    assert statuses == [400, 400, 400, 429]
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    # The account is held, another account is not.
    held = post_login(other, "admin", ADMIN.password, totp_now(ADMIN.totp_secret))
    assert held.status_code == 429
    assert "Wait an hour and try again." in held.get_data(as_text=True)
    publisher = next(login for login in DEMO_LOGINS if login.username == "publisher")
    assert (
        post_login(
            other, "publisher", publisher.password, totp_now(publisher.totp_secret)
        ).status_code
        == 302
    )


def test_successful_sign_ins_do_not_use_up_the_account_limit(instance, demo):
    app = instance.app("console", RATELIMIT_LOGIN_ACCOUNT="1 per hour")
    step = int(time.time()) // 30
    # This step's code and the next one's (accepted within one step of drift), in order.
    for number, at in enumerate((step * 30, (step + 1) * 30)):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.1.{number + 1}"
        response = post_login(client, "admin", ADMIN.password, totp_now(ADMIN.totp_secret, at))
        assert response.status_code == 302, number
