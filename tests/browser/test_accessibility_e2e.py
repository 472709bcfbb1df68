"""Every page a reader, a reporter or a staff member meets passes axe-core's WCAG 2.0/2.1 A and
AA rules, in Chinese and in English, in Chromium (with what a browser without script shows in
place of the script's parts too: see tests/helpers/accessibility.py).

How to add a page (for example a new console area):

- a page reached by a plain GET: add its path to ``PUBLIC_PAGES`` or to the role's list in
  ``CONSOLE_PAGES`` (one line; ``{draft}``, ``{in_review}``, ``{question_disclosure}`` and
  ``{mch_case}`` stand for demo items made by ``_demo_items``; add a key there for a new kind
  of item). A new role's first page: add the demo user with the paths it sees.
- a page reached by a form (an error shown, a confirmation): drive it in the browser as in
  ``_report_journey`` and call ``audit.here("what it is")`` once it is shown.
- anywhere else, ``tests.helpers.accessibility.assert_accessible(page)`` checks the page
  shown now and fails with axe's findings.

A violation is fixed in the templates or the CSS (app/templates, app/static), never by turning
a rule off. axe-core comes bundled with the ``axe-playwright-python`` package (dev extra), so
nothing is downloaded; Chromium is Debian's (tests/browser/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.db import utcnow
from app.i18n import today
from app.models import (
    Disclosure,
    DisclosureQuestion,
    QuestionState,
    Report,
    ReportReader,
    StaffUser,
    WorkState,
)
from app.services import enrolment, units
from app.services.demo import DEMO_LOGINS
from app.services.disclosures import drafting
from app.services.reports import messages
from app.services.reports.submission import submit
from app.services.staff import totp_now
from tests.helpers.accessibility import violations
from tests.helpers.browser import LiveServer
from tests.helpers.disclosures import draft_fields, staff
from tests.helpers.reports import form as report_form
from tests.helpers.reports import upload_files
from tests.helpers.servers import free_port
from tests.helpers.weak_kdf import TEST_RECEIPT_VERSIONS

LANGUAGES = ["zh", "en"]

# The public site: (what, path) or (what, path, the status it answers when not 200).
PUBLIC_PAGES = [
    ("home", "/"),
    ("disclosures index", "/disclosures/"),
    ("disclosures filtered", "/disclosures/?domain=party"),
    ("disclosure", "/disclosures/3"),
    ("disclosure with questions", "/disclosures/{question_disclosure}"),
    ("retracted disclosure", "/disclosures/16"),
    ("disclosure history", "/disclosures/3/history"),
    ("disclosure print view", "/disclosures/3/print"),
    ("disclosure inclusion proof", "/disclosures/3/proof"),
    ("ask a question", "/disclosures/3/ask"),
    ("disclosure with a decision record, reviewed", "/disclosures/{congress_item}"),
    ("history with congress reviews", "/disclosures/{congress_item}/history"),
    ("print view with a decision record", "/disclosures/{congress_item}/print"),
    ("catalogue of units", "/disclosures/catalogue/"),
    ("catalogue of a unit", "/disclosures/catalogue/GRP"),
    ("search with results", "/search?q=招标"),
    ("search with results (English words)", "/search?q=canteen"),
    ("search without results", "/search?q=不存在的词语组合"),
    ("search without a query", "/search"),
    ("transparency log", "/log/"),
    ("report safety page", "/report/"),
    ("report dropped", "/report/sent"),
    ("receipt already shown", "/report/receipt"),
    ("report form", "/report/new"),
    ("follow-up entry", "/report/follow-up"),
    ("statistics of report handling", "/stats"),
    ("not found", "/没有这个页面", 404),
    ("disclosure not found", "/disclosures/999999", 404),
]

# The console, signed in as each demo user: the paths they meet, or (path, status) for the
# forbidden and missing ones (their error pages keep the console's frame).
CONSOLE_PAGES: dict[str, list[str | tuple[str, int]]] = {
    "publisher": [
        "/",
        "/publish/",
        "/publish/new",
        "/publish/{draft}",
        "/publish/{draft}/edit",
        "/publish/{in_review}",
        "/publish/3",
        "/publish/questions",
        "/account/sessions",
        "/account/password",
        ("/admin/", 403),
        ("/publish/999999", 404),
        ("/没有这个页面", 404),
    ],
    "approver": ["/", "/publish/", "/publish/{in_review}", "/publish/questions"],
    "admin": [
        "/",
        "/admin/",
        "/admin/disclosures/",
        "/admin/outbox",
        "/admin/retention",
        "/admin/units/",
        "/admin/units/{mch_unit}",
        "/admin/staff/new",
        "/admin/staff/{mch_inspector}",
        "/admin/staff/{mch_inspector}/reset",
        "/admin/keys/",
        "/admin/keys/{mch_office}/ceremony",
        "/admin/keys/{mch_office}/check",
        "/admin/report-categories",
        "/admin/report-categories/other",
        "/admin/calendar",
        "/admin/calendar?year=2027",
    ],
    "inspector": [
        "/",
        "/cases/",
        "/cases/?status=received&kind=misconduct",
        "/cases/?received_from=2020-01-01&received_to=2020-01-31",
        "/cases/{case}",
        "/account/email",
        "/account/digests",
    ],
    "mch.inspector": ["/cases/", "/cases/{mch_case}", "/cases/{mch_case}/recuse"],
    "head": ["/", "/cases/", "/cases/{case}", "/cases/recovery"],
    "auditor": [
        "/",
        "/audit/",
        "/audit/?case={case}",
        "/audit/cases/{case}",
    ],
    "congress": [
        "/",
        "/congress/",
        "/congress/{congress_item}",
        ("/publish/", 403),
        ("/congress/999999", 404),
    ],
}


def _mch_case(app) -> str:
    """A report to the MCH office (read by mch.inspector), sent through the intake service."""
    from app.i18n import today
    from app.resources import blob_store, receipt_pepper, receipt_versions
    from app.services.reports.submission import submit
    from tests.helpers.reports import form

    with app.test_request_context(), app.extensions["portal.db"].session() as session:
        done = submit(
            session,
            blob_store(),
            receipt_pepper(),
            form(unit_code="MCH-W1"),
            [],
            today(),
            receipt_versions(),
        )
    return done.report_id


def _demo_items(instance) -> dict[str, int | str]:
    """The items the paths above name: a draft, an item waiting for review, an item with a
    pending question, a case of the group's office with a file (its audit entries are made by
    the inspector's visit before the auditor's)."""
    app = instance.app("console")
    mch_case = _mch_case(app)  # before the session below takes the write lock
    blobs = app.extensions["portal.blobs"]
    files = upload_files(blobs, [("食堂采购清单.txt", "text/plain", "大米 五百斤\n".encode())])
    with app.app_context(), app.extensions["portal.db"].session() as session:
        case = submit(
            session,
            blobs,
            app.extensions["portal.receipt_pepper"],
            report_form(unit_code="GRP-FIN", level="staff"),
            files,
            today(),
            TEST_RECEIPT_VERSIONS,
        ).report_id
    with app.extensions["portal.db"].session() as session:
        author = staff(session, "publisher")
        draft = drafting.create_draft(
            session, author, draft_fields(session, title="食堂承包合同公示（草稿）")
        )
        in_review = session.scalar(
            select(Disclosure.id).where(Disclosure.work_state == WorkState.in_review)
        )
        question = session.scalar(
            select(DisclosureQuestion.disclosure_id).where(
                DisclosureQuestion.state == QuestionState.published
            )
        )
        # The demo item the workers' congress reviewed (its decision record on the page too).
        congress_item = session.scalar(
            select(Disclosure.id)
            .where(Disclosure.congress_status.is_not(None), Disclosure.decision_record.is_not(None))
            .order_by(Disclosure.id)
        )
        session.flush()
        mch = units.by_code(session, "MCH")
        return {
            "mch_unit": mch.id,
            "mch_office": mch.office.id,
            "mch_inspector": staff(session, "mch.inspector").id,
            "congress_item": congress_item,
            "draft": draft.id,
            "in_review": in_review,
            "question_disclosure": question,
            "mch_case": mch_case,
            "case": case,
        }


@pytest.fixture
def demo_servers(sqlite_instance, demo_sqlite) -> Iterator[dict[str, LiveServer]]:
    """Both apps served as a demo instance (its banner shown on every page)."""
    binds = {s: free_port("127.0.0.1") for s in ("public", "console")}
    settings = {f"{s.upper()}_BIND": f"127.0.0.1:{port}" for s, port in binds.items()}
    servers = {
        s: LiveServer(sqlite_instance.app(s, DEMO=True, **settings), binds[s]) for s in binds
    }
    yield servers
    for server in servers.values():
        server.stop()


def _with_language(path: str, language: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}lang={language}"


class Audit:
    """axe on each page shown, every finding kept so that one run lists them all."""

    def __init__(self, page: Any, base: str, language: str) -> None:
        self.page, self.base, self.language = page, base, language
        self.found: list[str] = []

    def visit(self, path: str, what: str = "", status: int = 200) -> None:
        response = self.page.goto(self.base + _with_language(path, self.language))
        if response.status != status:  # a wrong path in a list would check an error page
            self.found.append(f"{what or path}: answered {response.status}, not {status}")
        self.here(what or path)

    def here(self, what: str) -> None:
        found = violations(self.page)
        if found:
            self.found.append(f"{what} [{self.language}] {self.page.url}:\n  " + "\n  ".join(found))

    def assert_none(self) -> None:
        assert not self.found, "\n".join(self.found)


def _submit(page, selector: str) -> None:
    """Press a form's button as a person would, past the browser's own checks of required
    fields (the server's messages are what is tested)."""
    page.evaluate("document.querySelectorAll('form').forEach(f => f.noValidate = true)")
    for form in page.locator("form[data-pow-challenge]").all():  # sent once its work is done
        expect(form).to_have_attribute("data-pow-done", "1", timeout=60_000)
    with page.expect_navigation():
        page.locator(selector).click()


def _report_journey(audit: Audit, instance) -> None:
    """The report form with errors, the receipt, the follow-up entry with a wrong code and the
    report's page."""
    page = audit.page
    page.goto(audit.base + _with_language("/disclosures/3/ask", audit.language))
    _submit(page, "form:has([name=body]) button[type=submit]")
    audit.here("question with an error")
    page.goto(audit.base + _with_language("/disclosures/3/print", audit.language))
    page.emulate_media(media="print")
    audit.here("print view, as printed")
    page.emulate_media(media="screen")
    page.goto(audit.base + _with_language("/report/new", audit.language))
    _submit(page, "button[name=send]")
    audit.here("report form with errors")
    page.locator("input[name=kind][value=misconduct]").check()
    page.locator("select[name=category]").select_option("misuse_of_funds")
    page.locator("input[name=unit][value=CHM-W1]").check()
    page.locator("input[name=level][value=middle_manager]").check()
    page.locator("[name=persons]").fill("车间主任 李某")
    page.locator("[name=what]").fill("挪用班组活动经费，用于私人聚餐。")
    _submit(page, "button[name=show_inspectors]")
    audit.here("report form showing who reads it")
    _submit(page, "button[name=send]")
    code = "".join(page.locator(".receipt-code span").all_inner_texts())
    assert len(code) == 20, "the report was not stored"
    audit.here("receipt")
    page.goto(audit.base + "/report/follow-up")
    page.locator("[name=code]").fill("1234 5678 9012 3456 7890")
    _submit(page, "form:has([name=code]) button[type=submit]")
    audit.here("follow-up with a code that opens nothing")
    page.locator("[name=code]").fill(code)
    _submit(page, "form:has([name=code]) button[type=submit]")
    assert page.locator("[name=text]").count() == 1, "the report did not open"
    audit.here("follow-up page of the report")
    _office_writes(instance, "请问聚餐的时间和地点？")
    page.reload()
    audit.here("follow-up page with the office's question")
    _submit(page, "form:has([name=text]) button[type=submit]")
    audit.here("follow-up page with an empty reply")
    _submit(page, "form[action$='/leave'] button[type=submit]")
    audit.here("follow-up left")


def _office_writes(instance, text: str) -> None:
    """An inspector of the routed office writes to the reporter (what the console will do)."""
    app = instance.app("console")
    with app.extensions["portal.db"].session() as session:
        inspector = session.scalar(select(StaffUser).where(StaffUser.username == "chm.inspector"))
        # The report the journey sent (the case of _demo_items goes to the group's office).
        report = session.scalars(
            select(Report).join(ReportReader).where(ReportReader.staff_id == inspector.id)
        ).one()
        messages.post_office_message(
            session, app.extensions["portal.blobs"], report, inspector, text, [], report.received_on
        )
        session.commit()


@pytest.mark.browser
@pytest.mark.parametrize("language", LANGUAGES)
def test_public_pages_have_no_wcag_violations(browser, demo_servers, sqlite_instance, language):
    items = _demo_items(sqlite_instance)
    context = browser.new_context(java_script_enabled=True)
    audit = Audit(context.new_page(), demo_servers["public"].url, language)
    for what, path, *status in PUBLIC_PAGES:
        audit.visit(path.format(**items), what, *status)
    _report_journey(audit, sqlite_instance)
    context.close()
    audit.assert_none()


def _enrolment(audit: Audit, instance) -> None:
    """First sign-in with an enrolment code: the code page, the page with the QR code (also
    with an error), the recovery codes."""
    app = instance.app("console")
    with app.extensions["portal.db"].session() as session:
        code = enrolment.issue_code(session, staff(session, "mch.head"), utcnow()).code
    page = audit.page
    audit.visit("/enrol", "enrolment code")
    page.locator("[name=username]").fill("mch.head")
    page.locator("[name=code]").fill(code)
    _submit(page, "form:has([name=username]) button[type=submit]")
    audit.here("enrolment: password and authenticator")
    secret = page.locator("code.secret").inner_text().replace(" ", "")
    page.locator("[name=password]").fill("审核食堂合同-新口令-2026")
    page.locator("[name=repeat]").fill("审核食堂合同-新口令-2026")
    page.locator("[name=code]").fill("000000")
    _submit(page, "form:has([name=repeat]) button[type=submit]")
    audit.here("enrolment with an error")
    page.locator("[name=password]").fill("审核食堂合同-新口令-2026")
    page.locator("[name=repeat]").fill("审核食堂合同-新口令-2026")
    page.locator("[name=code]").fill(totp_now(secret))
    _submit(page, "form:has([name=repeat]) button[type=submit]")
    audit.here("enrolment: recovery codes")


def _sign_in(audit: Audit, username: str, code: str | None = None) -> None:
    login = next(login for login in DEMO_LOGINS if login.username == username)
    page = audit.page
    page.goto(audit.base + _with_language("/login", audit.language))
    page.locator("[name=username]").fill(login.username)
    page.locator("[name=password]").fill(login.password)
    page.locator("[name=code]").fill(code or totp_now(login.totp_secret))
    _submit(page, "form:has([name=password]) button[type=submit]")


@pytest.mark.browser
@pytest.mark.parametrize("language", LANGUAGES)
def test_console_pages_have_no_wcag_violations(browser, demo_servers, sqlite_instance, language):
    items = _demo_items(sqlite_instance)
    base = demo_servers["console"].url
    context = browser.new_context(java_script_enabled=True)
    audit = Audit(context.new_page(), base, language)
    audit.visit("/login", "sign-in")
    _sign_in(audit, "publisher", code="000000")
    audit.here("sign-in with an error")
    _enrolment(audit, sqlite_instance)
    context.close()
    for username, paths in CONSOLE_PAGES.items():
        context = browser.new_context(java_script_enabled=True)
        audit.page = context.new_page()
        _sign_in(audit, username)
        assert "/login" not in audit.page.url, f"{username} could not sign in"
        for entry in paths:
            path, status = entry if isinstance(entry, tuple) else (entry, 200)
            audit.visit(path.format(**items), f"{username}: {path}", status)
        if username == "publisher":
            audit.page.goto(base + _with_language("/publish/new", language))
            _submit(audit.page, "[name=save]")
            audit.here("publisher: new draft with errors")
            audit.page.goto(base + _with_language("/publish/3", language))
            _submit(audit.page, "form[action$='/retract'] button[type=submit]")
            audit.here("publisher: retraction without a reason")
        if username == "admin":
            audit.page.goto(base + _with_language("/admin/disclosures/", language))
            _submit(audit.page, "form[action$='/categories'] button[type=submit]")
            audit.here("admin: category with errors")
            audit.page.goto(base + _with_language("/admin/retention", language))
            audit.page.fill("[name='retention-years_other']", "五年")
            _submit(audit.page, "form[action$='/retention'] button[type=submit]")
            audit.here("admin: retention period with errors")
            audit.page.goto(base + _with_language("/admin/units/", language))
            audit.page.locator("[name=unit-code]").fill("炼钢 二厂")
            _submit(audit.page, "form[action$='/admin/units/'] button[type=submit]")
            audit.here("admin: unit with errors")
            audit.page.goto(base + _with_language("/admin/staff/new", language))
            _submit(audit.page, "form[action$='/admin/staff/'] button[type=submit]")
            audit.here("admin: staff account with errors")
            audit.page.goto(base + _with_language(f"/admin/units/{items['mch_unit']}", language))
            _submit(audit.page, "form[action$='/close'] button[type=submit]")
            audit.here("admin: unit that cannot be closed, its open cases listed")
            audit.page.goto(base + _with_language("/admin/staff/new", language))
            audit.page.locator("[name=user-username]").fill(f"wang.fang.{language}")
            audit.page.locator("[name=user-display_name]").fill("纪检员 王芳")
            audit.page.locator("[name=user-roles][value=publisher]").check()
            _submit(audit.page, "form[action$='/admin/staff/'] button[type=submit]")
            audit.here("admin: enrolment code shown once")
            ceremony = f"/admin/keys/{items['mch_office']}/ceremony"
            audit.page.goto(base + _with_language(ceremony, language))
            audit.page.locator("[name=ceremony-holders]").fill("王芳\n李娜\n张伟\n赵磊\n刘洋")
            audit.page.locator("[name=ceremony-replace]").check()
            _submit(audit.page, "form[action$='/ceremony'] button[type=submit]")
            audit.here("admin: share sheets shown once")
            audit.page.goto(base + _with_language("/admin/report-categories", language))
            _submit(audit.page, "form[action$='/report-categories'] button[type=submit]")
            audit.here("admin: report category with errors")
            audit.page.goto(base + _with_language("/admin/calendar", language))
            audit.page.fill("[name=cal-holidays]", "2027-13-01")
            _submit(audit.page, "form[method=post][action$='/calendar'] button[type=submit]")
            audit.here("admin: calendar year with errors")
        context.close()
    audit.assert_none()
