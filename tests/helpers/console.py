"""Signing in to the console as a demo user, through the real login form."""

from __future__ import annotations

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


def signed_in(console_app, username: str):
    """A fresh console client signed in as a demo user."""
    auth = ConsoleAuth(console_app.test_client())
    auth.login(username)
    return auth.client
