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
from tests.helpers.servers import free_port, portal
from tests.helpers.tcp_proxy import TcpProxy
from tests.helpers.two_servers import (
    Installation,
    new_installation,
    page_text,
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
