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
