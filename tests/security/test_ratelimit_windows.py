"""Rate-limit counters in clock-aligned windows: a counter's expiry tells no time within its
window (when a client first came), in memory and in Redis."""

from __future__ import annotations

import pytest
import redis

from app.security.ratelimit import AlignedMemoryStorage, AlignedRedisStorage, window_end
from tests.helpers.environment import REDIS_URL


def test_a_window_ends_on_the_clock():
    assert window_end(3600 * 1000 + 1.5, 3600) == 3600 * 1001
    assert window_end(3600 * 1001 - 0.001, 3600) == 3600 * 1001
    assert window_end(86_400 * 7 + 5, 86_400) == 86_400 * 8


def test_memory_counters_expire_at_the_end_of_their_window(monkeypatch):
    import app.security.ratelimit as ratelimit

    storage = AlignedMemoryStorage()
    start = 1_796_000_400.0  # a whole hour
    for offset in (0.25, 7.0, 1799.5, 3599.0):
        monkeypatch.setattr(ratelimit.time, "time", lambda offset=offset: start + offset)
        key = f"LIMITER/举报/{offset}"
        assert storage.incr(key, 3600) == 1
        assert storage.incr(key, 3600) == 2
        assert storage.expirations[key] == start + 3600


def test_the_app_counts_in_aligned_windows(one_clock_minute, instance):
    app = instance.app("public", RATELIMIT_DEFAULT="5 per minute")
    client = app.test_client()
    assert [client.get("/report/follow-up").status_code for _ in range(6)][-1] == 429
    storage = app.extensions["portal.limiter"].storage
    assert isinstance(storage, AlignedMemoryStorage)
    assert storage.expirations and all(e % 60 == 0 for e in storage.expirations.values())


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_redis_counters_expire_at_the_end_of_their_window(instance, redis_client):
    app = instance.app("public", RATELIMIT_STORAGE_URI=REDIS_URL, RATELIMIT_DEFAULT="5 per hour")
    client = app.test_client()
    assert [client.get("/report/follow-up").status_code for _ in range(6)][-1] == 429
    assert isinstance(app.extensions["portal.limiter"].storage, AlignedRedisStorage)
    counters = [k for k in redis_client.scan_iter() if b"LIMITER" in k]
    assert counters
    for key in counters:
        assert redis_client.pexpiretime(key) % 3_600_000 == 0, key
    # A client in another address starts its own counter: the same expiry, whenever it came.
    client.get("/report/follow-up", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    expiries = {redis_client.pexpiretime(k) for k in redis_client.scan_iter() if b"LIMITER" in k}
    assert len(expiries) == 1


def test_other_strategies_are_refused(instance):
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="PORTAL_RATELIMIT_STRATEGY"):
        instance.app("public", RATELIMIT_STRATEGY="moving-window")


def test_counting_in_memory_starts_no_thread_per_request(instance, monkeypatch):
    import threading
    import time

    app = instance.app("public", RATELIMIT_DEFAULT="1000 per minute")
    client = app.test_client()
    client.get("/healthz")
    started = []
    original = threading.Thread.start
    monkeypatch.setattr(
        threading.Thread, "start", lambda thread: started.append(thread.name) or original(thread)
    )
    for _ in range(12):
        assert client.get("/search", query_string={"q": "预算"}).status_code == 200
        time.sleep(0.02)  # longer than the 10 ms timer MemoryStorage would start per count
    # At most the one thread that sweeps expired counters for the life of the storage.
    assert started in ([], ["portal-limits-sweep"])


def test_memory_counters_of_clients_that_left_are_dropped(monkeypatch):
    import time

    import app.security.ratelimit as ratelimit

    monkeypatch.setattr(ratelimit, "SWEEP_SECONDS", 0.05)
    storage = AlignedMemoryStorage()
    storage.incr("LIMITER/走了的人", 60)
    storage.incr("LIMITER/还在的人", 60)
    storage.expirations["LIMITER/走了的人"] = time.time() - 1
    deadline = time.monotonic() + 5
    while "LIMITER/走了的人" in storage.storage and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "LIMITER/走了的人" not in storage.storage
    assert storage.storage["LIMITER/还在的人"] == 1
