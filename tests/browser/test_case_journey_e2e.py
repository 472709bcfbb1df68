"""A report's whole journey through the served portal, in Chromium, in Chinese and in English.

A reporter sends a report with a text file on the public site and keeps the receipt code. The
inspector of the office it is routed to signs in with password and TOTP, finds it in the inbox,
opens it, downloads the file (the same bytes), writes an internal note, replies to the reporter,
moves it to assessment and proposes a disposal. The office head, in a browser of their own,
assigns it to the inspector, confirms the proposal and records the decision (two members, each in
their own session). The reporter opens the reply with the code and sees the status in words and
the dates; the auditor sees every step on /audit/ filtered by the case, and ``portal audit
verify`` passes. axe-core finds no WCAG 2.1 A/AA violation on any page met on the way.

The servers are ``portal run`` (both apps, as a newcomer starts them) on a ``portal demo``
instance: on PORTAL_TEST_SERVER_PORTS ("public,console") where ports are handed out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask_babel import format_date
from playwright.sync_api import expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app import create_app
from app.console.audit.names import ACTION_NAMES
from app.console.cases.words import DISPOSAL_NAMES
from app.models import AuditEntry, Report, ReportStatus
from app.public.reports.followup_views import STATUS_WORDS, STEP_WORDS
from app.services.audit import AuditAction
from app.services.demo import DEMO_LOGINS
from app.services.staff import totp_now
from tests.helpers.accessibility import violations
from tests.helpers.servers import (
    CONSOLE_HOST,
    SERVER_HOST,
    Server,
    given_ports,
    make_demo_instance,
    portal,
    portal_env,
)

# One at a time: they may be given the same ports (PORTAL_TEST_SERVER_PORTS).
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("given_server_ports")]

LOCALES = {"zh": "zh-CN", "en": "en-US"}
SERVED = {"PORTAL_REPORT_NOSCRIPT_WAIT_MINUTES": "0"}

FILE_NAME = "食堂采购单据（复印件）.txt"
FILE_TEXT = "二〇二六年三月食堂采购：大米五百斤，单价高出市价三成。\n经手人：后勤科 王某\n"
WHAT = "食堂承包商与后勤科长有亲属关系，采购价格长期高于市价。"
NOTE = "内部备注：先调取近半年的采购台账，暂不联系承包商。"
REPLY = "您好，我们已收到举报，正在核实采购台账。请问是否还有其他单据？"
INSPECTOR, HEAD, AUDITOR = "mch.inspector", "mch.head", "auditor"


def _ports() -> tuple[int, int] | None:
    given = given_ports("PORTAL_TEST_SERVER_PORTS", 2)
    return (given[0], given[1]) if given else None


class Pages:
    """axe on each page shown; every finding kept so that one run lists them all."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.found: list[str] = []
        self.checked: list[str] = []

    def check(self, page: Any, what: str) -> None:
        self.checked.append(what)
        found = violations(page)
        if found:
            self.found.append(f"{what} [{self.language}] {page.url}:\n  " + "\n  ".join(found))

    def assert_none(self) -> None:
        assert not self.found, "\n".join(self.found)


def _new_page(browser, language: str):
    # Script on: axe runs as a script (what a browser without script shows is checked too).
    context = browser.new_context(java_script_enabled=True, locale=LOCALES[language])
    return context, context.new_page()


def _submit(page, selector: str) -> None:
    """Press a form's button as a person would, once the report form's work is done."""
    for form in page.locator("form[data-pow-challenge]").all():
        expect(form).to_have_attribute("data-pow-done", "1", timeout=120_000)
    with page.expect_navigation():
        page.locator(selector).click()


def _sign_in(page, console: str, username: str, pages: Pages) -> None:
    login = next(login for login in DEMO_LOGINS if login.username == username)
    page.goto(console + "/login")
    pages.check(page, "sign-in")
    page.locator("[name=username]").fill(login.username)
    page.locator("[name=password]").fill(login.password)
    page.locator("[name=code]").fill(totp_now(login.totp_secret))
    _submit(page, "form:has([name=password]) button[type=submit]")
    assert "/login" not in page.url, f"{username} could not sign in"
    pages.check(page, f"{username}: first page")


def _case_action(page, selector: str, pages: Pages, what: str) -> None:
    """Send one of the case page's forms; it ends on a page saying what was done."""
    _submit(page, selector)
    assert "/done" in page.url, f"{what}: {page.locator('main').inner_text()[:500]}"
    pages.check(page, what)


def _change_status(page, console: str, case_id: str, status: ReportStatus, pages: Pages) -> None:
    page.goto(console + f"/cases/{case_id}")
    page.locator("form[action$='/status'] [name=status]").select_option(status.value)
    _case_action(page, "form[action$='/status'] button[type=submit]", pages, f"status {status}")


def _report_ids(database: Path) -> set[str]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            return set(session.scalars(select(Report.id)))
    finally:
        engine.dispose()


@pytest.mark.parametrize("language", list(LOCALES))
def test_a_report_from_sending_to_a_decision_seen_by_reporter_and_auditor(
    browser, tmp_path, monkeypatch, language
):
    instance = tmp_path / "instance"
    make_demo_instance(instance, monkeypatch)
    database = instance / "portal.sqlite3"
    app = create_app("console", {"TESTING": True})  # the instance's, for its words and rows
    db = app.extensions["portal.db"]
    before = _report_ids(database)
    evidence = tmp_path / FILE_NAME
    evidence.write_bytes(FILE_TEXT.encode("utf-8"))
    pages = Pages(language)

    server = Server.start(
        "run", portal_env(instance, **SERVED), tmp_path / "run.log", ports=_ports()
    )
    public = f"http://{SERVER_HOST}:{server.public_port}"
    console = f"http://{CONSOLE_HOST}:{server.console_port}"
    try:
        # --- the reporter sends the report with a file and keeps the code ---------------------
        reporter_context, page = _new_page(browser, language)
        page.goto(public + "/report/")
        pages.check(page, "report safety page")
        page.goto(public + "/report/new")
        pages.check(page, "report form")
        page.locator("input[name=kind][value=misconduct]").check()
        page.locator("select[name=category]").select_option("procurement_bidding")
        page.locator("input[name=unit][value=MCH-W1]").check()
        page.locator("input[name=level][value=staff]").check()
        page.locator("[name=persons]").fill("后勤科长 王某")
        page.locator("[name=what]").fill(WHAT)
        page.locator("input[type=file]").set_input_files(str(evidence))
        _submit(page, "button[name=send]")
        code = "".join(page.locator(".receipt-code span").all_inner_texts())
        assert re.fullmatch(r"\d{20}", code), page.locator("main").inner_text()[:500]
        expect(page.locator("main")).to_contain_text(FILE_NAME)
        pages.check(page, "receipt")
        reporter_context.close()
        (case_id,) = _report_ids(database) - before
        short = case_id[:8]

        # --- the inspector: inbox, case, file, note, reply, statuses, a proposal ---------------
        inspector_context, page = _new_page(browser, language)
        _sign_in(page, console, INSPECTOR, pages)
        page.goto(console + "/cases/")
        pages.check(page, "inbox")
        page.get_by_role("link", name=short, exact=True).click()
        assert page.url.endswith(f"/cases/{case_id}")
        expect(page.locator("main")).to_contain_text(WHAT)
        pages.check(page, "case page")
        with page.expect_download() as downloading:
            page.get_by_role("link", name=FILE_NAME, exact=True).click()
        download = downloading.value
        assert download.suggested_filename == FILE_NAME
        assert Path(download.path()).read_bytes() == evidence.read_bytes()

        _change_status(page, console, case_id, ReportStatus.acknowledged, pages)
        page.goto(console + f"/cases/{case_id}")
        page.locator("form[action$='/notes'] [name=text]").fill(NOTE)
        _case_action(page, "form[action$='/notes'] button[type=submit]", pages, "note added")
        page.goto(console + f"/cases/{case_id}")
        expect(page.locator("section:has(#h-notes)")).to_contain_text(NOTE)
        page.locator("form[action$='/reply'] [name=text]").fill(REPLY)
        _case_action(page, "form[action$='/reply'] button[type=submit]", pages, "reply sent")
        _change_status(page, console, case_id, ReportStatus.under_assessment, pages)
        page.goto(console + f"/cases/{case_id}")
        page.locator("form[action$='/decision'] [name=disposal]").select_option(
            "preliminary_verification"
        )
        _case_action(
            page, "form[action$='/decision'] button[type=submit]", pages, "disposal proposed"
        )
        page.goto(console + f"/cases/{case_id}")
        pages.check(page, "case page with a proposal")

        # --- the office head, in a session of their own: assigns, confirms, records ----------
        head_context, head_page = _new_page(browser, language)
        _sign_in(head_page, console, HEAD, pages)
        head_page.goto(console + f"/cases/{case_id}")
        pages.check(head_page, "case page for the office head")
        inspector_name = next(u for u in DEMO_LOGINS if u.username == INSPECTOR).display_name
        head_page.locator("form[action$='/assign'] [name=assignee]").select_option(
            label=inspector_name
        )
        _case_action(head_page, "form[action$='/assign'] button[type=submit]", pages, "assigned")
        for step in ("confirm", "record"):
            head_page.goto(console + f"/cases/{case_id}")
            _case_action(
                head_page,
                f"form[action$='/decision/{step}'] button[type=submit]",
                pages,
                f"decision: {step}",
            )
        head_page.goto(console + f"/cases/{case_id}")
        pages.check(head_page, "case page with the decision")
        head_context.close()
        page.goto(console + "/cases/")
        row = page.locator("tr", has=page.get_by_role("link", name=short, exact=True))
        expect(row).to_contain_text(inspector_name)  # assigned to them, in their inbox
        inspector_context.close()

        with db.session() as session:
            report = session.get(Report, case_id)
            assert report.status == ReportStatus.disposal_decided
            received_on, feedback_by = report.received_on, report.feedback_by
            entries = session.scalars(select(AuditEntry).where(AuditEntry.case_id == case_id)).all()
            trail = sorted((e.actor_username, e.action) for e in entries)

        # --- the reporter opens the reply with the code ---------------------------------------
        reporter_context, page = _new_page(browser, language)
        page.goto(public + "/report/follow-up")
        pages.check(page, "follow-up entry")
        page.locator("[name=code]").fill(" ".join(code[i : i + 4] for i in range(0, 20, 4)))
        _submit(page, "form:has([name=code]) button[type=submit]")
        pages.check(page, "follow-up page with the reply and the decision")
        with app.test_request_context(headers={"Accept-Language": LOCALES[language]}):
            status_words = str(STATUS_WORDS["disposal_decided"])
            dates = [
                format_date(received_on, "long"),
                str(STEP_WORDS["feedback"]) % {"date": format_date(feedback_by, "long")},
            ]
            names = {action: str(name) for action, name in ACTION_NAMES.items()}
            disposal = str(DISPOSAL_NAMES["preliminary_verification"])
        expect(page.locator(".status")).to_have_text(status_words)
        for words in dates:
            expect(page.locator("section:has(#h-status)")).to_contain_text(words)
        expect(page.locator(".thread")).to_contain_text(REPLY)
        main = page.locator("main").inner_text()
        assert NOTE not in main and disposal not in main  # nothing internal
        reporter_context.close()

        # --- the auditor sees every step of the case ----------------------------------------
        auditor_context, page = _new_page(browser, language)
        _sign_in(page, console, AUDITOR, pages)
        page.goto(console + "/audit/")
        pages.check(page, "audit trail")
        page.locator("[name=case]").fill(case_id)
        _submit(page, "form:has([name=case]) button[type=submit]")
        pages.check(page, "audit trail filtered by the case")
        shown = sorted(
            tuple(row.locator("td").nth(i).inner_text().strip() for i in (2, 3))
            for row in page.locator("table.audit-entries tbody tr").all()
        )
        assert shown == sorted((who, names[AuditAction(what)]) for who, what in trail)
        expected = {
            (INSPECTOR, AuditAction.case_open),
            (INSPECTOR, AuditAction.attachment_download),
            (INSPECTOR, AuditAction.note),
            (INSPECTOR, AuditAction.reply),
            (INSPECTOR, AuditAction.status_change),
            (INSPECTOR, AuditAction.decision),
            (HEAD, AuditAction.case_open),
            (HEAD, AuditAction.assignment),
            (HEAD, AuditAction.decision),
        }
        assert {(who, names[action]) for who, action in expected} <= set(shown)
        assert [w for w, a in trail].count(HEAD) >= 3  # assigned, confirmed, recorded
        page.goto(console + f"/audit/cases/{case_id}")
        pages.check(page, "audit history of the case")
        expect(page.locator("table.audit-entries tbody tr")).to_have_count(len(trail))
        auditor_context.close()
    finally:
        server.stop()
        db.engine.dispose()

    verified = portal(portal_env(instance), "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("Audit log OK:")
    assert len(pages.checked) >= 25, pages.checked  # every page of the journey was looked at
    pages.assert_none()
