"""Cases for the console tests: reports sent through the intake service to the organisation of
tests/helpers/reports.py, and console clients signed in as its staff, holding their keys
(the helpers of the access services are in tests/helpers/cases.py)."""

from __future__ import annotations

import pytest

from app.services.reports.submission import submit
from tests.helpers.reports import PARAMS, PEPPER, TODAY, form, jpeg_bytes, upload_files

ATTACHMENTS = [
    ("现场照片.jpg", "image/jpeg", None),  # made at run time (a real JPEG)
    ("采购清单（2026年10月）.txt", "text/plain", "食材 单价 数量\n猪肉 28元 300斤\n".encode()),
]


def send_report(db, blobs, today=TODAY, files=True, **changes) -> str:
    """A report to the MCH office (unless ``changes`` route it elsewhere); its id."""
    attachments = [(n, t, d if d is not None else jpeg_bytes()) for n, t, d in ATTACHMENTS]
    uploads = upload_files(blobs, attachments) if files else []
    with db() as session:
        done = submit(session, blobs, PEPPER, form(**changes), uploads, today, PARAMS)
    return done.report_id


def signed_in_as(
    console_app,
    org,
    username: str,
    monkeypatch: pytest.MonkeyPatch | None = None,
    *,
    with_key: bool = True,
):
    """A console client of ``username`` with a console session holding that person's key.

    The session is opened as the login view opens one (``sessions.open_session``) and its
    ticket given to the client as the browser's cookie: the pages then find the staff member
    and unwrap the key as they do for anybody signed in. ``with_key`` False: a session that
    holds no key, as after a sign-in whose key could not be unsealed.
    """
    from app.db import utcnow
    from app.models import StaffUser
    from app.security.auth import TICKET_COOKIE
    from app.services import sessions

    client = console_app.test_client()
    with console_app.app_context(), console_app.extensions["portal.db"].session() as session:
        user = session.get(StaffUser, org.staff[username])
        key = org.keys.get(username) if with_key else None
        ticket = sessions.open_session(
            session, user, [key] if key is not None else [], sessions.SessionPolicy(), utcnow()
        )
    client.set_cookie(TICKET_COOKIE, ticket.cookie_value())
    return client
