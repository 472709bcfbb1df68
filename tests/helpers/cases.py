"""Cases for the console tests: reports sent through the intake service to the organisation of
tests/helpers/reports.py, and console clients signed in as its staff, holding their keys."""

from __future__ import annotations

import pytest

from app.security import auth
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


def signed_in_as(console_app, org, username: str, monkeypatch: pytest.MonkeyPatch):
    """A console client of ``username`` whose session holds that person's unsealed key.

    Signing in puts the staff id in the session as the login view does; the key comes from
    ``auth.current_identities`` (the console session's unsealed keys), patched to give the
    key of whoever the request's session names.
    """
    client = console_app.test_client()
    with client.session_transaction() as session:
        session["staff_id"] = org.staff[username]
    by_id = {org.staff[name]: key for name, key in org.keys.items()}

    def current_identities():
        staff = auth.current_staff()
        key = by_id.get(staff.id) if staff is not None else None
        return [key] if key is not None else []

    monkeypatch.setattr(auth, "current_identities", current_identities, raising=False)
    return client
