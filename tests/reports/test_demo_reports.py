"""The demo's reports: ``portal demo`` prints their receipt codes, and each code opens its report
on the public site, in its own state, with the office's messages and the reporter's file.

The tests' shared demo (tests/conftest.py) is loaded without a blob store or a pepper, so it
has no reports; these tests run ``portal demo`` on an empty instance, with the cheap receipt
derivation the tests' apps are configured with.
"""

from __future__ import annotations

import html
import re
from datetime import date
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from app.models import Report, ReportEnvelope, ReportStatus
from app.services.reports.demo import DEMO_REPORTS, OVERTIME_LIST
from app.services.reports.submission import submit
from tests.helpers.forms import csrf_token

STATUS_WORDS = {  # the thread page's words for each state, in the default language
    "received": "已收到，等待纪检部门确认",
    "acknowledged": "纪检部门已确认收到",
    "under_assessment": "纪检部门正在研判处置",
    "concluded": "已办结",
}


def _printed_codes(output: str) -> dict[str, str]:
    """Receipt code -> state, as the command lists them under its heading."""
    heading = "Demo reports (receipt codes, demo only"
    assert heading in output, output
    listed = output[output.index(heading) :]
    return dict(re.findall(r"^  (\d{4}(?: \d{4}){4})  (\w+)", listed, re.MULTILINE))


def _follow_up(public_app, code: str):
    """A new browser entering ``code``: the client and its thread page."""
    client = public_app.test_client()
    page = client.get("/report/follow-up").get_data(as_text=True)
    entered = client.post("/report/follow-up", data={"csrf_token": csrf_token(page), "code": code})
    assert entered.status_code == 303, entered.get_data(as_text=True)[:2000]
    thread = client.get("/report/follow-up")
    assert thread.status_code == 200
    return client, thread.get_data(as_text=True)


def test_the_printed_codes_open_the_demo_reports_on_the_public_site(empty_instance):
    console = empty_instance.app("console")
    result = console.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    printed = _printed_codes(result.output)
    assert printed == {demo.code: demo.status.value for demo in DEMO_REPORTS}
    assert len(set(printed.values())) == 4  # one report in each state

    public = empty_instance.app("public")
    seen_states = set()
    for demo in DEMO_REPORTS:
        client, thread = _follow_up(public, demo.code)
        status = re.search(r'<p class="status"><strong>([^<]*)</strong>', thread)
        assert status, thread[:3000]
        assert status.group(1) == STATUS_WORDS[demo.status.value]
        seen_states.add(status.group(1))
        for message in demo.thread:  # the office's messages, and the reporter's own
            assert html.escape(message.text) in thread
        if demo.status == ReportStatus.received:
            assert 'class="thread"' not in thread  # nothing from the office yet
        if any(message.files for message in demo.thread):
            name = "加班记录（摘录）.txt"
            assert name in thread
            link = re.search(r'href="(/report/follow-up/files/[^"]+)"', thread)
            assert link, thread[:3000]
            download = client.get(html.unescape(link.group(1)))
            assert download.status_code == 200
            assert download.data == OVERTIME_LIST
            assert quote(name) in download.headers["Content-Disposition"]
    assert len(seen_states) == 4

    # Where the reports went, and the real name kept apart for the office heads.
    with console.extensions["portal.db"].session() as session:
        reports = session.scalars(select(Report)).all()
        assert sorted(r.office.unit.code for r in reports) == ["CHM", "GRP", "MCH", "MCH"]
        (leader,) = [r for r in reports if r.level.value == "unit_leader"]
        assert leader.unit.code == "CHM" and leader.office.unit.code == "GRP"
        assert sum(r.real_name for r in reports) == 1
        roles = [e.role.value for e in session.scalars(select(ReportEnvelope))]
        assert roles.count("identity") == 1 and roles.count("attachment") == 2

    # The demo's fixed code goes through the clash check that random codes do: a code that
    # is taken is never given to a second report.
    taken = DEMO_REPORTS[0]
    with console.extensions["portal.db"].sessions() as session:
        with pytest.raises(RuntimeError, match="no free receipt code"):
            submit(
                session,
                console.extensions["portal.blobs"],
                console.config["RECEIPT_PEPPER"].encode(),
                taken.fields,
                [],
                date.today(),
                console.config["RECEIPT_VERSIONS"],
                draw_code=lambda: taken.code,
            )
        assert session.scalar(select(func.count()).select_from(Report)) == len(DEMO_REPORTS)


def test_the_test_template_demo_has_no_reports(db, demo):
    """Without a blob store and a pepper (the tests' shared demo) no report is made: the copies
    each test gets have their own pepper and blob folder, which the reports could not open."""
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 0
