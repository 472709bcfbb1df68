"""Production rate-limit storage: Redis, shared by every worker, holding no client address."""

import urllib.parse

import pytest
import redis

from tests.helpers.environment import REDIS_URL, skip_or_fail
from tests.helpers.forms import csrf_token
from tests.helpers.servers import Server, first_disclosure_path, portal, portal_env

MARKER_ADDRESS = "198.51.100.77"


@pytest.fixture
def redis_url():
    if not REDIS_URL:
        skip_or_fail("Redis not configured: set PORTAL_TEST_REDIS_URL")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


def test_limits_are_shared_through_redis_and_keys_hold_no_address(instance, redis_url):
    # Two apps stand for two worker processes: the count is shared through Redis.
    settings = {"RATELIMIT_STORAGE_URI": redis_url, "RATELIMIT_DEFAULT": "5 per minute"}
    first = instance.app("public", **settings).test_client()
    second = instance.app("public", **settings).test_client()
    environ = {"REMOTE_ADDR": MARKER_ADDRESS}
    statuses = [c.get("/", environ_base=environ).status_code for c in (first, second) * 3]
    assert statuses == [200, 200, 200, 200, 200, 429]
    # Another visitor is not affected.
    assert first.get("/", environ_base={"REMOTE_ADDR": "198.51.100.78"}).status_code == 200
    client = redis.Redis.from_url(redis_url)
    keys = client.keys("*")
    assert keys, "the limiter should have written to Redis"
    for key in keys:
        assert MARKER_ADDRESS.encode() not in key
        value = client.dump(key) or b""
        assert MARKER_ADDRESS.encode() not in value
    client.close()


def test_unreachable_redis_falls_back_to_limits_in_memory(instance, redis_url):
    app = instance.app(
        "public", RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0", RATELIMIT_DEFAULT="3 per minute"
    )
    app.testing = False
    client = app.test_client()
    statuses = [client.get("/?lang=en").status_code for _ in range(6)]
    # Pages keep working while Redis is down, and the limit still holds in memory (the request
    # that found Redis down is not counted).
    assert statuses[:3] == [200, 200, 200]
    assert statuses[-1] == 429


def _cookie(headers) -> str:
    return "; ".join(value.split(";", 1)[0] for value in headers.get_all("Set-Cookie") or [])


@pytest.mark.slow
def test_question_limit_holds_with_several_workers_on_redis(tmp_path, redis_url):
    env = portal_env(tmp_path / "instance", PORTAL_RATELIMIT_STORAGE_URI=redis_url)
    assert portal(env, "demo").returncode == 0
    server = Server.start("serve", env, tmp_path / "serve.log", "--workers", "2")
    try:
        ask = first_disclosure_path(server) + "/ask"
        status, page, headers = server.get(ask)
        assert status == 200
        token = csrf_token(page.decode())
        cookie = _cookie(headers)
        statuses = []
        for number in range(7):
            body = urllib.parse.urlencode(
                {"csrf_token": token, "body": f"第{number}个问题：预算是多少？ budget {number}"}
            )
            status, _page, _headers = server.request(
                "POST",
                ask,
                body=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Cookie": cookie,
                },
            )
            statuses.append(status)
    finally:
        assert server.stop() == 0, server.output
    assert statuses == [302] * 5 + [429] * 2, statuses


def _redis_dump(client) -> list[bytes]:
    """Every key and every value in the Redis database, as a reader of it finds them."""
    found = []
    for key in client.scan_iter():
        found.append(key)
        kind = client.type(key)
        if kind == b"string":
            found.append(client.get(key))
        elif kind == b"hash":
            found += [item for pair in client.hgetall(key).items() for item in pair]
        elif kind == b"list":
            found += client.lrange(key, 0, -1)
        elif kind == b"zset":
            found += [member for member, _score in client.zrange(key, 0, -1, withscores=True)]
        elif kind == b"set":
            found += list(client.smembers(key))
    return found


def test_a_report_s_pages_and_session_work_across_workers_and_leave_nothing_in_redis(
    demo, instance, redis_url
):
    import re

    from sqlalchemy import select

    from app.models import Report
    from tests.helpers.report_pages import report_form_data

    # Two apps stand for two worker processes behind one address.
    workers = [instance.app("public", RATELIMIT_STORAGE_URI=redis_url) for _ in "12"]
    browser = workers[0].test_client()
    browser.environ_base["REMOTE_ADDR"] = MARKER_ADDRESS
    canary = "挪用班组活动经费 canary-7f3a"
    form = report_form_data(browser, what=canary)
    sent = browser.post("/report/new", data=form)
    assert sent.status_code == 303
    receipt_token = browser.get_cookie("portal_receipt", path="/report/receipt").value
    dumps = [_redis_dump(redis.Redis.from_url(redis_url))]
    browser.application = workers[1]  # the receipt page is served by the other worker
    shown = browser.get(sent.headers["Location"]).get_data(as_text=True)
    code = "".join(re.findall(r"<span>(\d{4})</span>", shown))
    assert len(code) == 20
    page = browser.get("/report/follow-up").get_data(as_text=True)
    entered = browser.post("/report/follow-up", data={"csrf_token": csrf_token(page), "code": code})
    assert entered.status_code == 303
    session_token = browser.get_cookie("portal_followup", path="/report/").value
    dumps.append(_redis_dump(redis.Redis.from_url(redis_url)))
    browser.application = workers[0]  # the session is resumed by the first worker
    thread = browser.get("/report/follow-up").get_data(as_text=True)
    assert "已收到，等待纪检部门确认" in thread  # the thread of the report, not the code form
    with workers[0].extensions["portal.db"].session() as session:
        report_id = session.scalars(select(Report.id)).one()
    secrets_ = [code, report_id, canary, receipt_token, session_token, MARKER_ADDRESS]
    for item in (item for dump in dumps for item in dump):
        for secret in secrets_:
            assert secret.encode() not in item, secret
