"""Two machines behind a load balancer: whichever one a request reaches, the portal is one.

Two ``portal serve`` (gunicorn) with instance folders of their own share one PostgreSQL schema
and one Redis database, and the settings docs/operations.md ("Several servers") says both
need. A reporter, an inspector, an approver and a visitor go to either machine, as a load
balancer sends them: a tip sent to one is followed up on the other, and the reply written on
the other is read on the first; a console session opened on one works and ends on the other;
a disclosure approved on one shows on the other's cached pages at once; a rate limit counts
the requests of both; and a machine killed in a burst of tips loses no receipt it gave.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app.services.disclosures import drafting
from tests.helpers.disclosures import draft_fields, staff
from tests.helpers.environment import REDIS_URL, engine_url, skip_or_fail
from tests.helpers.nginx import Nginx, Ports, client_context
from tests.helpers.report_client import Browser, ReportRefused
from tests.helpers.servers import (
    CLIENT_ADDRESS,
    CONSOLE_HOST,
    SERVER_HOST,
    first_disclosure_path,
    free_port,
    portal,
)
from tests.helpers.two_servers import (
    Installation,
    form_of,
    new_installation,
    page_text,
    send_form,
    server_ports,
    sign_in,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("given_server_ports")]

QUESTIONS_PER_HOUR = 4


@pytest.fixture(scope="module")
def pair(tmp_path_factory, database_copies) -> Iterator[tuple]:
    """Machines A and B of one installation on the demo organisation, started once for the
    tests of this module (the last one kills A)."""
    if not REDIS_URL:
        skip_or_fail("Redis not configured: set PORTAL_TEST_REDIS_URL")
    redis_client = redis.Redis.from_url(REDIS_URL)
    redis_client.flushdb()
    installation = new_installation(tmp_path_factory.mktemp("two"), REDIS_URL, database_copies)
    (ports_a, ports_b) = server_ports(2)
    settings = {"PORTAL_RATELIMIT_QUESTIONS": f"{QUESTIONS_PER_HOUR} per hour"}
    a = installation.machine("a", ports_a, **settings)
    try:
        a.start()  # it makes the log keys, which are then copied to B
        b = installation.machine("b", ports_b, **settings)
        b.start()
        yield installation, a, b
    finally:
        outputs = installation.close()
        redis_client.flushdb()
        redis_client.close()
    for output in outputs:
        assert "Traceback" not in output, output


def _in_one_hour_window() -> None:
    """Start counting a limit per hour well inside a clock hour (windows are clock-aligned)."""
    into = time.time() % 3600
    if into > 3590:
        time.sleep(3600 - into + 0.5)


def _draft_in_review(installation: Installation, title: str) -> int:
    """A disclosure the publisher drafted and submitted: it waits for an approver."""
    engine = create_engine(engine_url(installation.database_url))
    try:
        with Session(engine) as session, session.begin():
            author = staff(session, "publisher")
            fields = draft_fields(session, title=title, body=f"{title}。\n\n总价款一百二十万元。")
            disclosure = drafting.create_draft(session, author, fields)
            drafting.submit_for_review(session, disclosure, author)
            session.flush()
            return disclosure.id
    finally:
        engine.dispose()


def test_a_tip_its_reply_and_a_console_session_work_through_either_machine(pair):
    installation, a, b = pair
    what = "二号高炉检修费用虚报，维修队长以家属公司名义承接工程。"
    code = a.browser().send_report(what)
    report_id = installation.report_id(code)
    assert report_id is not None

    # The reporter follows the tip up through B.
    reporter_on_b = b.browser()
    thread = reporter_on_b.follow_up(code)
    assert reporter_on_b.following_up, page_text(thread)[:1000]
    assert "已收到，等待纪检部门确认" in thread

    # An inspector signs in on A; the load balancer sends the next requests to B.
    inspector_on_a = a.console()
    sign_in(inspector_on_a, "mch.inspector")
    inspector_on_b = b.console(dict(inspector_on_a.cookies))
    status, case_page, _headers = inspector_on_b.request("GET", f"/cases/{report_id}")
    assert status == 200, page_text(case_page.decode())[:1000]
    assert what in case_page.decode()  # B unwraps the key that A's sign-in unsealed

    reply = "您好，我们已收到您的举报，正在调取二号高炉的检修台账。请问是否有合同复印件？"
    data = form_of(inspector_on_b, f"/cases/{report_id}", text=reply)
    status, _page = send_form(inspector_on_b, f"/cases/{report_id}/reply", data, multipart=True)
    assert status == 200, page_text(_page)[:1000]

    # The reporter reads B's reply through A.
    reporter_on_a = a.browser()
    thread = reporter_on_a.follow_up(code)
    assert reply in thread, page_text(thread)[:2000]

    # Signing out on B ends the session on A too, for every copy of the cookie.
    cookies = dict(inspector_on_b.cookies)
    status, _page = send_form(inspector_on_b, "/logout", form_of(inspector_on_b, "/cases/"))
    assert status == 200 and 'name="password"' in _page
    stolen_copy = a.console(cookies)
    status, page, _headers = stolen_copy.request("GET", f"/cases/{report_id}")
    assert 'name="password"' in page.decode() and what not in page.decode()


def test_a_disclosure_approved_on_one_machine_shows_on_the_other_s_cached_pages(pair):
    installation, a, b = pair
    title = "关于二〇二六年度职工食堂承包商招标结果的公示"
    disclosure_id = _draft_in_review(installation, title)
    # B's pages are cached (fetched twice) before the approval.
    for _ in range(2):
        status, listing, _headers = b.server.get("/disclosures/")
        assert status == 200 and title.encode() not in listing
    assert b.server.get(f"/disclosures/{disclosure_id}")[0] == 404

    approver = a.console()
    sign_in(approver, "approver")
    data = form_of(approver, f"/publish/{disclosure_id}", comment="同意公开。", approve="1")
    status, page = send_form(approver, f"/publish/{disclosure_id}/review", data)
    assert status == 200 and title in page
    approved = time.monotonic()

    shown = {}
    while time.monotonic() - approved < 1.0 and len(shown) < 3:
        for path in ("/", "/disclosures/", f"/disclosures/{disclosure_id}"):
            if path not in shown and title.encode() in b.server.get(path)[1]:
                shown[path] = time.monotonic() - approved
        time.sleep(0.02)
    assert len(shown) == 3, f"B shows the item on {shown} only, a second after its approval"


def test_a_rate_limit_counts_the_requests_of_both_machines(pair):
    _installation, a, b = pair
    _in_one_hour_window()
    ask = first_disclosure_path(a.server) + "/ask"
    visitor_on_a = a.browser()
    data = form_of(visitor_on_a, ask, body="食堂承包合同的期限是几年？")
    visitor_on_b = b.browser()
    visitor_on_b.cookies = visitor_on_a.cookies  # one browser, sent to either machine
    statuses = []
    for number in range(QUESTIONS_PER_HOUR + 2):
        machine = visitor_on_a if number % 2 == 0 else visitor_on_b
        data["body"] = f"第{number + 1}个问题：食堂承包合同的期限是几年？"
        status, _page = send_form(machine, ask, data)
        statuses.append(status)
    # Half the questions went to each machine: the limit held for their sum.
    assert statuses == [200] * QUESTIONS_PER_HOUR + [429, 429], statuses


def test_the_nginx_example_shares_one_site_between_the_machines(pair, tmp_path):
    """deploy/nginx-two-machines.conf run by the real nginx in front of A and B: a reporter
    and an inspector whose requests nginx sends to either machine, turn by turn."""
    _installation, a, b = pair
    ports = Ports(
        host=SERVER_HOST,
        public=free_port(),
        redirect=free_port(),
        console_host=CONSOLE_HOST,
        console=free_port(CONSOLE_HOST),
        upstream_host=SERVER_HOST,
        upstream_public=0,
        upstream_console_host=CONSOLE_HOST,
        upstream_console=0,
    )
    machines = [(m.server.public_port, m.server.console_port) for m in (a, b)]
    nginx, tls = Nginx.start(tmp_path / "nginx", ports, machines)
    try:
        reporter = Browser(SERVER_HOST, ports.public, CLIENT_ADDRESS, timeout=60, tls=tls)
        code = reporter.send_report("三号仓库的废旧电缆被当作废铁低价卖给保管员的亲戚。")
        thread = reporter.follow_up(code)
        assert reporter.following_up and "已收到，等待纪检部门确认" in thread

        # The test's certificate names the public site's address; the console's is another.
        console_tls = client_context(tmp_path / "nginx" / "portal.pem")
        console_tls.check_hostname = False
        inspector = Browser(
            CONSOLE_HOST, ports.console, CLIENT_ADDRESS, timeout=60, tls=console_tls
        )
        sign_in(inspector, "mch.inspector")
        for _ in range(4):
            status, page, _headers = inspector.request("GET", "/cases/")
            assert status == 200 and 'name="password"' not in page.decode()
    finally:
        assert nginx.stop() == 0, nginx.output
    # Both machines served the inspector's session (the console logs each request).
    for machine in (a, b):
        served = re.findall(r'"GET /cases/ HTTP/1\.[01]" 200', machine.server.output_so_far())
        assert served, machine.name


def test_a_machine_killed_in_a_burst_of_tips_loses_no_receipt_it_gave(pair):
    installation, a, b = pair
    receipts: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def reporter(number: int) -> None:
        count = 0
        while not stop.is_set():
            count += 1
            what = f"第{number}组第{count}份举报：废钢过磅时少记吨数，差额由司磅员私分。"
            try:
                code = a.browser().send_report(what)
            except (OSError, ReportRefused):  # the crash
                return
            with lock:
                receipts.append(code)

    threads = [threading.Thread(target=reporter, args=(n,), daemon=True) for n in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(receipts) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    a.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert len(receipts) >= 4, f"{len(receipts)} receipts in 30 s"

    # Every receipt A gave opens its tip through B.
    for code in receipts:
        browser = b.browser()
        thread = browser.follow_up(code)
        assert browser.following_up and "已收到，等待纪检部门确认" in thread, code
        assert installation.report_id(code) is not None
    # Nothing half stored: every report's files are whole, read through B.
    checked = portal(b.env, "reports", "fsck", "--dry-run")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Report store OK." in checked.stdout
