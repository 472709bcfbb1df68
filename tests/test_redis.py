"""Production rate-limit storage: Redis, shared by every worker, holding no client address."""

import hashlib
import hmac
import ipaddress
import re
import urllib.parse

import pytest
import redis

from app.security.daily_key import DailyKey, new_seed
from tests.helpers.environment import REDIS_URL
from tests.helpers.forms import csrf_token
from tests.helpers.servers import Server, first_disclosure_path, portal, portal_env

MARKER_ADDRESS = "198.51.100.77"


def test_limits_are_shared_through_redis_and_keys_hold_no_address(
    one_clock_minute, instance, redis_url
):
    # Two apps stand for two worker processes of one server, given one seed of the day's key:
    # the count is shared through Redis.
    settings = {
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_DEFAULT": "5 per minute",
        "RATELIMIT_SEED": new_seed(),
    }
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


def test_unreachable_redis_falls_back_to_limits_in_memory(one_clock_minute, instance, redis_url):
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


CLIENTS_NETWORK = ipaddress.ip_network("10.77.0.0/16")


def _redis_copy(client) -> tuple[list[bytes], list[bytes], dict[bytes, int]]:
    """What a copy of Redis holds: its keys and values, the values of its plain keys, and when
    each key expires (ms)."""
    keys = list(client.scan_iter())
    values = [v for v in client.mget(keys) if v is not None] if keys else []
    return _redis_dump(client), values, {key: client.pexpiretime(key) for key in keys}


def _candidate_keys(app, instance, values: list[bytes]) -> set[bytes]:
    """Every HMAC key an operator holding a copy of Redis and of the instance would try: each
    value in Redis the size of a key, each small file and secret of the instance; each also
    as the seed the day's key could be derived from."""
    found = {value for value in values if 16 <= len(value) <= 64}
    for path in instance.path.rglob("*"):
        if path.is_file() and path.stat().st_size <= 256:  # keys, secrets: not the blobs
            found |= {path.read_bytes(), path.read_bytes().strip()}
    for name in ("SECRET_KEY", "PUBLIC_SECRET_KEY", "CONSOLE_SECRET_KEY", "RECEIPT_PEPPER"):
        found.add(str(app.config[name]).encode())
    return found | {DailyKey(key).current() for key in found}


@pytest.fixture
def redis_policy(redis_url):
    """Set Redis's eviction policy (a setting of the whole server) for one test."""
    client = redis.Redis.from_url(redis_url)
    before = client.config_get("maxmemory-policy")["maxmemory-policy"]
    yield lambda policy: client.config_set("maxmemory-policy", policy)
    client.config_set("maxmemory-policy", before)
    client.close()


@pytest.mark.xdist_group("redis_policy")  # a setting of the whole server: one test at a time
def test_a_redis_that_keeps_access_times_is_named_in_the_log(instance, redis_policy, caplog):
    redis_policy("allkeys-lru")
    instance.app("public", RATELIMIT_STORAGE_URI=REDIS_URL)
    assert "maxmemory-policy is 'allkeys-lru'" in caplog.text
    assert "volatile-lfu" in caplog.text
    caplog.clear()
    redis_policy("volatile-lfu")
    instance.app("public", RATELIMIT_STORAGE_URI=REDIS_URL)
    assert "maxmemory-policy" not in caplog.text


@pytest.mark.slow
@pytest.mark.xdist_group("redis_policy")
def test_a_copy_of_redis_and_the_instance_ties_no_address_to_a_counter_or_a_report(
    demo, instance, redis_url, redis_policy
):
    """50 clients of one /16 send reports and follow them up; a copy of Redis taken meanwhile,
    with the instance's database and files: no address is matched to a counter however every
    address of the /16 is tried, no report id appears, no expiry is finer than the minute."""
    from sqlalchemy import select

    from app.models import Report
    from tests.helpers.report_pages import report_form_data

    redis_policy("volatile-lfu")  # as docs/operations.md asks: no access time per key
    settings = {
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_SEED": new_seed(),  # two workers of one server
    }
    workers = [instance.app("public", **settings) for _ in "12"]
    client = redis.Redis.from_url(redis_url)
    addresses = [str(CLIENTS_NETWORK[257 * n + 3]) for n in range(50)]
    copies = []
    for n, address in enumerate(addresses):
        browser = workers[n % 2].test_client()
        browser.environ_base["REMOTE_ADDR"] = address
        form = report_form_data(browser, what=f"第{n}号举报：食堂采购账目不清，金额与发票不符。")
        sent = browser.post("/report/new", data=form)
        assert sent.status_code == 303, sent.get_data(as_text=True)
        browser.application = workers[(n + 1) % 2]
        shown = browser.get(sent.headers["Location"]).get_data(as_text=True)
        code = "".join(re.findall(r"<span>(\d{4})</span>", shown))
        page = browser.get("/report/follow-up").get_data(as_text=True)
        entered = browser.post(
            "/report/follow-up", data={"csrf_token": csrf_token(page), "code": code}
        )
        assert entered.status_code == 303
        assert "已收到" in browser.get("/report/follow-up").get_data(as_text=True)
        if n % 3 == 0:  # some leave a form on the page: a live challenge, a live session
            browser.get("/report/new")
        if n in (10, 30, 49):
            copies.append(_redis_copy(client))
    with workers[0].extensions["portal.db"].session() as session:
        report_ids = list(session.scalars(select(Report.id)))
    assert len(report_ids) == 50
    dump = [item for items, _values, _expiries in copies for item in items]
    values = [value for _items, found, _expiries in copies for value in found]
    expiries = {key: ms for _items, _values, found in copies for key, ms in found.items()}
    # No report id, no address, in any key or value.
    for item in dump:
        for secret in (*report_ids, *addresses):
            assert secret.encode() not in item, secret
    # Counters name a keyed hash of the address: no key the copies hold turns one back.
    counters = {h for key in expiries for h in re.findall(rb"[0-9a-f]{32}", key)}
    assert counters, "the copies should hold the counters of the clients"
    for key in _candidate_keys(workers[0], instance, values):
        keyed = hmac.new(key, b"ratelimit:", hashlib.sha256)
        for address in CLIENTS_NETWORK:
            mac = keyed.copy()
            mac.update(str(address).encode())
            assert mac.hexdigest()[:32].encode() not in counters, address
    # Nor does any key tell the second it was last read.
    for key in client.scan_iter():
        with pytest.raises(redis.ResponseError, match="idle time not tracked"):
            client.object("idletime", key)
    # Every key expires at a whole minute (the end of a clock bucket), or never (-1: none is).
    assert expiries and all(ms > 0 and ms % 60_000 == 0 for ms in expiries.values()), {
        key: ms for key, ms in expiries.items() if ms <= 0 or ms % 60_000
    }
