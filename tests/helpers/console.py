"""Signing in to the console as a demo user, through the real login form."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from app.services import staff as staff_service
from app.services.demo import DEMO_LOGINS
from tests.helpers.forms import csrf_token


class ConsoleAuth:
    """Signs a demo user in through the real login form."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def login(self, username: str = "admin", at: float | None = None) -> Any:
        login = next(login for login in DEMO_LOGINS if login.username == username)
        page = self.client.get("/login")
        token = csrf_token(page.get_data(as_text=True))
        return self.client.post(
            "/login",
            data={
                "csrf_token": token,
                "username": login.username,
                "password": login.password,
                "code": staff_service.totp_now(login.totp_secret, at),
            },
        )


CONSOLE_COOKIES = ("portal_console", "portal_console_key")


def copy_cookies(source: Any, target: Any) -> None:
    """Give ``target`` the console cookies of ``source`` (the same browser, or a stolen jar):
    the signed session (form tokens) and the session ticket."""
    for name in CONSOLE_COOKIES:
        cookie = source.get_cookie(name)
        if cookie is not None:
            target.set_cookie(name, cookie.value)


def signed_in(console_app, username: str, at: float | None = None):
    """A fresh console client signed in as a demo user (``at``: the time of the TOTP code; a
    code signs in once, so a second session of one user needs the next step's)."""
    auth = ConsoleAuth(console_app.test_client())
    response = auth.login(username, at)
    assert response.status_code == 302, response.get_data(as_text=True)
    return auth.client


ENROLMENT_CODE_RE = re.compile(r"^ {4}([A-Z0-9]{4}(?:-[A-Z0-9]{4}){4})$", re.MULTILINE)
RECOVERY_CODE_RE = re.compile(r"<li><code>([A-Z0-9]{4}(?:-[A-Z0-9]{4}){3})</code></li>")


def enrolment_code(output: str) -> str:
    """The one-time enrolment code that ``portal user add`` / ``reset`` printed."""
    found = ENROLMENT_CODE_RE.findall(output)
    assert len(found) == 1, output
    return found[0]


@dataclass
class Enrolment:
    """What enrolling through the pages gave: the last answer, the TOTP secret, the codes."""

    response: Any
    totp_secret: str = ""
    recovery_codes: list[str] = field(default_factory=list)


def enrol(
    client: Any, username: str, code: str, password: str, at: float | None = None
) -> Enrolment:
    """Enrol through the real pages: the code, then the password and the app's first code."""
    token = csrf_token(client.get("/enrol").get_data(as_text=True))
    first = client.post("/enrol", data={"csrf_token": token, "username": username, "code": code})
    if first.status_code != 302:
        return Enrolment(first)
    page = client.get("/enrol/finish").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
    done = client.post(
        "/enrol/finish",
        data={
            "csrf_token": csrf_token(page),
            "password": password,
            "repeat": password,
            "code": staff_service.totp_now(secret, at),
        },
    )
    return Enrolment(done, secret, RECOVERY_CODE_RE.findall(done.get_data(as_text=True)))


def sign_in(client: Any, username: str, password: str, code: str) -> Any:
    """Post the login form with these factors."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post(
        "/login",
        data={"csrf_token": token, "username": username, "password": password, "code": code},
    )


def session_of(console_app, username: str):
    """A console client holding a session of ``username`` opened beforehand, as the login view
    opens one but without its sign-in entry on the audit trail: for tests that count the trail's
    entries. The session holds no key (an auditor's or administrator's needs none)."""
    from sqlalchemy import select

    from app.db import utcnow
    from app.models import StaffUser
    from app.security.auth import TICKET_COOKIE
    from app.services import sessions

    client = console_app.test_client()
    with console_app.app_context(), console_app.extensions["portal.db"].session() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == username))
        ticket = sessions.open_session(session, user, [], sessions.SessionPolicy(), utcnow())
    client.set_cookie(TICKET_COOKIE, ticket.cookie_value())
    return client
