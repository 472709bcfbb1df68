"""The demo's cases: after ``portal demo`` a newcomer signed in as a demo inspector (through the
real login form, the key unsealed by the published password) finds the demo reports in the
inbox in their states, with assignments, labels, notes and a decision of two members, opens a
case that decrypts, and the audit trail holds every act and verifies.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from sqlalchemy import select

from app.console.cases.words import STATUS_NAMES
from app.models import CaseDecision, DecisionState, Report
from app.services.reports.demo import DEMO_REPORTS
from tests.helpers.audit import AuditEntries
from tests.helpers.console import signed_in


@dataclass(frozen=True)
class Row:
    report_id: str
    status: str
    assignee: str
    labels: tuple[str, ...]
    changed: bool


ROW_RE = re.compile(r'<tr(?: class="is-overdue")?>\s*<td><a href="/cases/(\w+)">(.*?)</tr>', re.S)
CELL_RE = re.compile(r"<td>(.*?)</td>", re.S)


def _inbox(client, query: str = "") -> list[Row]:
    page = client.get(f"/cases/{query}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    rows = []
    for report_id, rest in ROW_RE.findall(text):
        cells = CELL_RE.findall("<td>" + rest)
        labels = re.findall(r'class="tag"[^>]*>([^<]+)<', cells[7])
        rows.append(
            Row(
                report_id=report_id,
                status=_words(cells[3]),
                assignee=_words(cells[6]),
                labels=tuple(html.unescape(label) for label in labels),
                changed=bool(re.search(r'<span class="tag">(新|new)', cells[0])),
            )
        )
    return rows


def _words(cell: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()


def _status(console, status: str) -> str:
    with console.test_request_context():
        return str(STATUS_NAMES[status])


def test_the_demo_leaves_a_working_inbox_for_each_inspector(empty_instance):
    console = empty_instance.app("console")
    db = console.extensions["portal.db"]
    result = console.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output

    with db.session() as session:
        ids = {
            demo.status.value: session.scalar(select(Report.id).where(Report.status == demo.status))
            for demo in DEMO_REPORTS
        }
        decision = session.scalar(
            select(CaseDecision).where(CaseDecision.state == DecisionState.recorded)
        )
        assert decision is not None and decision.report_id == ids["concluded"]
        assert sorted(m.staff.username for m in decision.members) == ["head", "inspector"]
        pending = session.scalar(
            select(CaseDecision).where(CaseDecision.state == DecisionState.pending)
        )
        assert pending is not None and pending.report_id == ids["under_assessment"]

    # The group inspector: the one case of the group's office, concluded by a decision of two.
    audit_entries = AuditEntries(db.session)
    inspector = signed_in(console, "inspector")
    (row,) = _inbox(inspector)
    assert row.report_id == ids["concluded"]
    assert row.status == _status(console, "concluded")
    assert row.assignee == "集团纪检员 陈静"
    assert row.labels == ("公车使用",)
    assert row.changed  # the head concluded it after the inspector last looked

    case = inspector.get(f"/cases/{ids['concluded']}")
    assert case.status_code == 200
    page = case.get_data(as_text=True)
    concluded = next(d for d in DEMO_REPORTS if d.status.value == "concluded")
    assert html.escape(concluded.fields.what) in page  # the report, decrypted
    assert "已诫勉谈话" in page  # the head's internal note, decrypted
    assert "集团纪委书记 周强" in page
    assert not _inbox(inspector)[0].changed  # now seen
    opened = [e for e in audit_entries if e.action == "case_open"]
    assert [(e.actor, e.case_id) for e in opened] == [("inspector", ids["concluded"])]

    # The subsidiary's inspector: a new report, and one under assessment assigned to them.
    mch = signed_in(console, "mch.inspector")
    rows = {row.report_id: row for row in _inbox(mch)}
    assert set(rows) == {ids["received"], ids["under_assessment"]}
    new = rows[ids["received"]]
    assert new.status == _status(console, "received")
    assert new.changed and new.labels == ()
    handled = rows[ids["under_assessment"]]
    assert handled.status == _status(console, "under_assessment")
    assert handled.assignee == "机械公司纪检员 刘洋"
    assert handled.labels == ("考勤比对",)
    assert not handled.changed
    (only,) = _inbox(mch, "?status=under_assessment")
    assert only.report_id == ids["under_assessment"]
    (mine,) = _inbox(mch, "?assignee=me")
    assert mine.report_id == ids["under_assessment"]
    (changed,) = _inbox(mch, "?changed=y")
    assert changed.report_id == ids["received"]

    case = mch.get(f"/cases/{ids['under_assessment']}")
    assert case.status_code == 200
    page = case.get_data(as_text=True)
    assessed = next(d for d in DEMO_REPORTS if d.status.value == "under_assessment")
    assert html.escape(assessed.fields.what) in page
    assert "门禁记录多 5 人" in page  # the note
    assert "加班记录（摘录）.txt" in page  # the reporter's file in the thread
    # Another office's case is a 404 for them, as a missing one.
    assert mch.get(f"/cases/{ids['concluded']}").status_code == 404

    # The office head of the subsidiary sees the decision waiting for a second member.
    head = signed_in(console, "mch.head")
    assert ids["under_assessment"][:8] in head.get("/").get_data(as_text=True)


def test_the_demo_cases_acts_are_on_an_audit_trail_that_verifies(empty_instance):
    console = empty_instance.app("console")
    runner = console.test_cli_runner()
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    with console.extensions["portal.db"].session() as session:
        by_status = {r.status.value: r.id for r in session.scalars(select(Report))}
    log = AuditEntries(console.extensions["portal.db"].session)
    log.start = 0  # the whole log: everything the demo recorded
    entries = list(iter(log))
    acts = {(e.action, e.actor, e.case_id, e.subject, e.detail) for e in entries}
    group = by_status["concluded"]
    assert ("status_change", "inspector", group, None, "received -> acknowledged") in acts
    assert ("assignment", "head", group, "inspector", "assigned") in acts
    assert ("note", "inspector", group, None, "note 1") in acts
    assert ("decision", "inspector", group, None, "proposed talk_or_inquiry") in acts
    assert ("decision", "head", group, "inspector", "confirmed talk_or_inquiry") in acts
    assert ("decision", "head", group, "inspector", "decided talk_or_inquiry by 2 members") in acts
    assert ("status_change", "head", group, None, "disposal_decided -> concluded") in acts
    chm = by_status["acknowledged"]
    assert any(
        e.action == "real_name_open" and e.actor == "chm.head" and e.case_id == chm for e in entries
    )
    assert ("reply", "chm.inspector", chm, None, "message 1, 0 files") in acts
    # Nothing of a report's content goes into the log.
    for demo in DEMO_REPORTS:
        assert not any(demo.fields.what[:12] in e.detail for e in entries)

    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "Audit log OK" in verified.output
