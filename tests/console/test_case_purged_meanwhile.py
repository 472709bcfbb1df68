"""A case action sent while the retention purge deletes the case: the case no longer exists
(404), never a server error, and the purge removes the case whole."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.models import CaseLabel, CaseNote, Report
from app.services import audit
from app.services.reports import retention
from tests.helpers.case_console import signed_in_as
from tests.helpers.forms import csrf_token
from tests.helpers.retention import PURGE_DAY, concluded_case


class _PausedAudit:
    """The purge's audit, holding the purge's transaction once a case's rows are deleted."""

    AuditAction = audit.AuditAction
    deleted = threading.Event()
    go = threading.Event()

    @classmethod
    def record(cls, session, *args, **kwargs):
        entry = audit.record(session, *args, **kwargs)
        if kwargs.get("case_id"):
            cls.deleted.set()
            cls.go.wait(30)
        return entry


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        ("notes", {"text": "补充核查供应商资质。"}),
        ("labels", {"label": "采购线索"}),
        ("reply", {"text": "您的举报正在处理。"}),
        ("status", {"status": "under_assessment"}),
    ],
)
def test_a_case_action_on_a_case_purged_meanwhile_is_a_404(
    console_app, db, org, blobs, monkeypatch, action, fields
):
    report_id, _code = concluded_case(db, org, blobs)
    client = signed_in_as(console_app, org, "mch.head")
    page = client.get(f"/cases/{report_id}")
    assert page.status_code == 200
    data = {"csrf_token": csrf_token(page.get_data(as_text=True)), **fields}

    events = {"deleted": threading.Event(), "go": threading.Event()}
    paused = type("Paused", (_PausedAudit,), events)
    monkeypatch.setattr(retention, "audit", paused)
    purged: list[object] = []

    def purge() -> None:
        with db.app.extensions["portal.db"].sessions() as session:
            purged.append(retention.purge(session, blobs, PURGE_DAY, 5))

    purger = threading.Thread(target=purge)
    purger.start()
    assert paused.deleted.wait(60)
    answers: list[object] = []

    def post() -> None:
        try:
            answers.append(client.post(f"/cases/{report_id}/{action}", data=data).status_code)
        except Exception as exc:  # a server error, shown by the assertion below
            answers.append(exc)

    poster = threading.Thread(target=post)
    poster.start()
    poster.join(1)
    paused.go.set()
    purger.join(60)
    poster.join(60)
    assert answers == [404]
    assert [case.report_id for case in purged[0].purged] == [report_id]
    with db() as session:
        for table in (Report, CaseNote, CaseLabel):
            rows = select(func.count()).select_from(table)
            column = table.id if table is Report else table.report_id
            assert session.scalar(rows.where(column == report_id)) == 0
