"""Faults of what the machines share: PostgreSQL restarting under a tip, Redis lost by one machine.

Each fault is made on a TCP proxy between a ``portal serve`` and the shared PostgreSQL or
Redis (tests/helpers/tcp_proxy.py), never on the shared servers themselves: stopping the proxy
resets every connection through it, as a restarting server does, and refuses new ones until
it is started again.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from app.models import Case, EnvelopeRole, Report, ReportEnvelope
from tests.helpers.environment import PG_URL, engine_url
from tests.helpers.report_client import REPORT_FIELDS, Attachment, Multipart
from tests.helpers.servers import first_disclosure_path, free_port, portal
from tests.helpers.tcp_proxy import TcpProxy
from tests.helpers.two_servers import (
    Installation,
    form_of,
    new_installation,
    page_text,
    send_form,
    server_ports,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("given_server_ports")]

PROXY_PORTS = "PORTAL_TEST_PROXY_PORTS"  # two ports for the proxies, else free ones


def _proxy_ports() -> tuple[int, int]:
    given = os.environ.get(PROXY_PORTS)
    if given:
        first, second = (int(port) for port in given.split(","))
        return first, second
    return free_port("127.0.0.1"), free_port("127.0.0.1")


def _through(url: str, proxy: TcpProxy) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")
    host = f"{netloc[0]}@{proxy.address}" if netloc[1] else proxy.address
    return parts._replace(netloc=host).geturl()


def _target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


@pytest.fixture
def installation(tmp_path, redis_url, database_copies) -> Iterator[Installation]:
    made = new_installation(tmp_path, redis_url, database_copies)
    try:
        yield made
    finally:
        made.close()


class CutMidway(Multipart):
    """A report body that ``cut()`` is called in the middle of (its file half sent)."""

    def __init__(self, fields, files, cut) -> None:
        super().__init__(fields, files)
        self.cut = cut

    def __iter__(self):
        parts = list(super().__iter__())
        middle = len(parts) - 3  # the file's head sent, not its content
        yield from parts[:middle]
        time.sleep(0.3)  # the server has read the fields and checked them
        self.cut()
        yield from parts[middle:]


def _counts(database_url: str) -> dict[str, int]:
    engine = create_engine(engine_url(database_url))
    try:
        with Session(engine) as session:
            return {
                "reports": session.scalar(select(func.count()).select_from(Report)),
                "cases": session.scalar(select(func.count()).select_from(Case)),
                "texts": session.scalar(
                    select(func.count())
                    .select_from(ReportEnvelope)
                    .where(ReportEnvelope.role == EnvelopeRole.text)
                    .where(ReportEnvelope.message_id.is_(None))
                ),
            }
    finally:
        engine.dispose()


def test_postgresql_restarting_in_the_middle_of_a_tip(installation):
    pg_port, _redis_port = _proxy_ports()
    proxy = TcpProxy(pg_port, _target(PG_URL))
    proxy.start()
    (ports,) = server_ports(1)
    database_url = _through(installation.database_url, proxy)
    a = installation.machine("a", ports, PORTAL_DATABASE_URL=database_url)
    try:
        a.start()
        assert len(a.browser().send_report("第一份举报：仓库保管员私自变卖库存钢材。")) == 20
        before = _counts(installation.database_url)

        typed = "第二份举报：车间主任虚报加班工时，套取加班费约三万元。"
        reporter = a.browser()
        token = reporter.csrf_token("/report/new")
        form = {"csrf_token": token, "noscript_pass": reporter.noscript_pass, **REPORT_FIELDS}
        form["what"] = typed
        evidence = Attachment("加班记录（三月）.txt", "三月加班记录\n".encode() * 20_000)
        body = CutMidway(form, [evidence], cut=proxy.stop)
        status, page, _headers = reporter.request("POST", "/report/new", body)
        shown = page.decode()
        # The form's answer leads to a page that says what happened and what to do, in the
        # reporter's language; no trace of the fault.
        assert status == 503, page_text(shown)[:2000]
        assert "数据库" in shown and "没有保存" in shown and "刷新本页" in shown, page_text(shown)
        assert "Traceback" not in shown and "psycopg" not in shown

        proxy.start()  # PostgreSQL is back: reloaded, the page shows what was typed
        status, page, _headers = reporter.request("GET", "/report/new")
        shown = page.decode()
        assert status == 503 and typed in shown, page_text(shown)[:2000]
        assert "没有保存" in shown and "重新提交" in shown, page_text(shown)
        assert _counts(installation.database_url) == before  # nothing half stored
        checked = portal(a.env, "reports", "fsck", "--min-age-days", "0")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "Report store OK." in checked.stdout
        assert "deleted 0 orphan blobs" in checked.stdout
        assert not re.search(r"MISSING|WRONG SIZE|DAMAGED", checked.stdout + checked.stderr)

        # The next pages and tips work at once, on connections made anew.
        assert a.server.get("/")[0] == 200
        assert len(reporter.send_report(typed)) == 20
        after = _counts(installation.database_url)
        assert after == {name: count + 1 for name, count in before.items()}
        # The outage is logged as what it was, not as an unhandled error of a page.
        output = a.server.output_so_far()
        assert "database unreachable (OperationalError)" in output
        assert "Exception in endpoint" not in output, output
    finally:
        proxy.stop()


def _messages(database_url: str, report_id: str) -> int:
    engine = create_engine(engine_url(database_url))
    try:
        with Session(engine) as session:
            return session.scalar(
                select(func.count())
                .select_from(ReportEnvelope)
                .where(ReportEnvelope.report_id == report_id)
                .where(ReportEnvelope.message_id.is_not(None))
            )
    finally:
        engine.dispose()


def test_postgresql_restarting_in_the_middle_of_a_reply(installation):
    pg_port, _redis_port = _proxy_ports()
    proxy = TcpProxy(pg_port, _target(PG_URL))
    proxy.start()
    (ports,) = server_ports(1)
    database_url = _through(installation.database_url, proxy)
    a = installation.machine("a", ports, PORTAL_DATABASE_URL=database_url)
    try:
        a.start()
        code = a.browser().send_report("举报：仓库保管员私自变卖库存钢材，金额约八万元。")
        report_id = installation.report_id(code)
        reporter = a.browser()
        reporter.follow_up(code)
        assert reporter.following_up
        before = _messages(installation.database_url, report_id)

        typed = "补充情况：保管员每月初把钢材拉到城西废品站，过磅单在我这里。"
        token = reporter.csrf_token("/report/follow-up")
        evidence = Attachment("过磅单（三月）.txt", "过磅记录\n".encode() * 20_000)
        body = CutMidway({"csrf_token": token, "text": typed}, [evidence], cut=proxy.stop)
        status, page, _headers = reporter.request("POST", "/report/follow-up/reply", body)
        shown = page.decode()
        # As for a tip: the answer says the reply was not stored and what to do, in the
        # reporter's language, and keeps what was written for the page reloaded.
        assert status == 503, page_text(shown)[:2000]
        assert "回复没有保存" in shown and "刷新本页" in shown, page_text(shown)
        assert "Traceback" not in shown and "psycopg" not in shown

        proxy.start()
        status, page, _headers = reporter.request("GET", "/report/follow-up")
        shown = page.decode()
        assert status == 503 and typed in shown, page_text(shown)[:2000]
        assert "回复未能保存" in shown and "重新发送" in shown, page_text(shown)
        assert _messages(installation.database_url, report_id) == before  # nothing half stored

        # Sent again, it is stored.
        token = reporter.csrf_token("/report/follow-up")
        status, page, _headers = reporter.request(
            "POST", "/report/follow-up/reply", Multipart({"csrf_token": token, "text": typed}, [])
        )
        assert status == 200 and typed in page.decode()
        assert _messages(installation.database_url, report_id) == before + 1
        output = a.server.output_so_far()
        assert "A reply could not be stored: database unreachable (OperationalError)" in output
        assert "Exception in endpoint" not in output, output
    finally:
        proxy.stop()


def test_redis_lost_by_one_machine(installation, redis_url):
    _pg_port, redis_port = _proxy_ports()
    proxy = TcpProxy(redis_port, _target(redis_url))
    proxy.start()
    ports_a, ports_b = server_ports(2)
    limit = {"PORTAL_RATELIMIT_QUESTIONS": "4 per hour"}
    a = installation.machine("a", ports_a, **limit)
    a.start()
    b = installation.machine(
        "b", ports_b, PORTAL_RATELIMIT_STORAGE_URI=_through(redis_url, proxy), **limit
    )
    try:
        b.start()
        if time.time() % 3600 > 3560:  # the hour's window must not end during the test
            time.sleep(3600 - time.time() % 3600 + 0.5)
        ask = first_disclosure_path(a.server) + "/ask"
        visitor_a, visitor_b = a.browser(), b.browser()
        data = form_of(visitor_a, ask, body="职工食堂的承包期是几年？")
        visitor_b.cookies = visitor_a.cookies

        def ask_on(visitor, number: int) -> int:
            data["body"] = f"第{number}个问题：职工食堂的承包期是几年？"
            return send_form(visitor, ask, data)[0]

        # Two questions through B while it reaches Redis; then B loses it.
        assert [ask_on(visitor_b, n) for n in (1, 2)] == [200, 200]
        proxy.stop()

        # A keeps counting in the shared store: B's two count, so two more are the limit.
        assert [ask_on(visitor_a, n) for n in (3, 4, 5)] == [200, 200, 429]

        # B keeps serving as docs/operations.md says: pages, limits counted in its own memory,
        # a tip stored and its receipt shown in the answer to the form.
        assert b.server.get("/")[0] == 200
        assert [ask_on(visitor_b, n) for n in range(6, 11)] == [200] * 4 + [429]
        code = b.browser().send_report("第三份举报：食堂采购员收受供应商购物卡。")
        assert len(code) == 20

        # A follow-up session lives in Redis, which every machine must find: while B cannot
        # reach it, a code entered there gets a page saying to try again in a moment.
        status, page, _headers = b.browser().request("GET", "/report/follow-up")
        assert status == 200
        follower = b.browser()
        token = follower.csrf_token("/report/follow-up")
        data = {"csrf_token": token, "code": code}
        status, page = send_form(follower, "/report/follow-up", data)
        assert status == 503 and "服务暂时不可用" in page, page_text(page)[:1000]
        assert "Traceback" not in page

        # Redis back: the tip is followed up through either machine.
        proxy.start()
        for machine in (b, a):
            follower = machine.browser()
            thread = follower.follow_up(code)
            assert follower.following_up and "已收到，等待纪检部门确认" in thread, machine.name
    finally:
        proxy.stop()
