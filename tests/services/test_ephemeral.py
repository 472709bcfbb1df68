"""The short-lived store (memory and Redis alike) and the codec sealed under a browser's token."""

from __future__ import annotations

import base64
import secrets
import threading
import time

import pytest
import redis

from app.services.ephemeral import (
    Budget,
    MemoryStore,
    RedisStore,
    SealedValues,
    Stores,
    expiry_after,
    new_token,
    parse_token,
)
from tests.helpers.environment import REDIS_URL, skip_or_fail
from tests.helpers.redis_faults import OutOfMemory, Unreachable

PLAIN = "举报内容：挪用班组活动经费 report #42".encode()


class Harness:
    """One store under test, with what a test needs to see through it and move its clocks."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.clock = 1000.0  # the memory store's monotonic clock
        # A real recent time, frozen: budgets and counters stay in one window during a test,
        # and Redis's EXPIREAT at the window's end still lies in the future.
        self.wall = time.time()
        if kind == "memory":
            self.store = MemoryStore(clock=lambda: self.clock, now=lambda: self.wall)
            return
        self.client = redis.Redis.from_url(REDIS_URL)
        self.prefix = f"test-ephemeral:{secrets.token_hex(4)}:"
        self.store = RedisStore(self.client, self.prefix, now=lambda: self.wall)

    def make(self, **bounds) -> MemoryStore | RedisStore:
        """Another store like this one (in Redis, the same keys)."""
        if self.kind == "memory":
            return MemoryStore(clock=lambda: self.clock, now=lambda: self.wall, **bounds)
        return RedisStore(self.client, self.prefix, now=lambda: self.wall)

    def redis_keys(self) -> list[bytes]:
        return list(self.client.scan_iter(match=self.prefix + "*"))

    def dump(self) -> list[bytes]:
        """Every key and every value the store holds, as a reader of the store finds them."""
        if self.kind == "memory":
            store = self.store
            found = [k.encode() for k in (*store._entries, *store._counters, *store._owners)]
            found += [value for _expiry, value in store._entries.values()]
            found += [
                repr(v).encode() for v in (*store._counters.values(), *store._owners.values())
            ]
            return found
        found = []
        for key in self.redis_keys():
            found.append(key)
            if self.client.type(key) == b"hash":
                for field, value in self.client.hgetall(key).items():
                    found += [field, value]
            else:
                found.append(self.client.get(key))
        return found

    def expire_all(self) -> None:
        if self.kind == "memory":
            self.clock += 10**6
            return
        for key in self.redis_keys():
            self.client.pexpire(key, 1)
        time.sleep(0.01)

    def close(self) -> None:
        if self.kind == "redis":
            for key in self.redis_keys():
                self.client.delete(key)
            self.client.close()


@pytest.fixture(params=["memory", "redis"])
def harness(request):
    if request.param == "redis" and not REDIS_URL:
        skip_or_fail("Redis not configured: set PORTAL_TEST_REDIS_URL")
    made = Harness(request.param)
    yield made
    made.close()


def test_values_are_kept_read_refreshed_taken_and_deleted(harness):
    store = harness.store
    assert store.put("a", b"one", 60) is True
    assert store.get("a") == b"one" and store.get("a") == b"one"
    assert store.get("missing") is None
    assert store.get("a", refresh_seconds=600) == b"one"
    if harness.kind == "redis":
        assert harness.client.expiretime(harness.prefix + "a") == expiry_after(harness.wall, 600)
    assert store.take("a") == b"one" and store.take("a") is None
    store.put("b", b"two", 60)
    store.delete("b")
    store.delete("b")  # no error
    assert store.get("b") is None
    with pytest.raises(ValueError):
        store.put("#count:x", b"", 60)  # the store's own names


def test_values_expire(harness):
    store = harness.store
    store.put("a", b"one", 60)
    store.put("b", b"two", 60)
    lifetime = expiry_after(harness.wall, 60) - harness.wall
    assert 60 < lifetime <= 120
    if harness.kind == "memory":
        harness.clock += lifetime - 0.5
        assert store.get("a") == b"one"
        harness.clock += 1
    else:
        assert harness.client.expiretime(harness.prefix + "a") == expiry_after(harness.wall, 60)
        harness.expire_all()
    assert store.get("a") is None and store.take("b") is None


def _expiry_of(harness, key: str) -> float:
    """When the store lets ``key`` go, in Unix time, as a reader of the store finds it."""
    if harness.kind == "memory":
        return round(harness.wall + harness.store._entries[key][0] - harness.clock, 6)
    return harness.client.pexpiretime(harness.prefix + key) / 1000


def test_an_expiry_tells_no_time_within_its_bucket(harness):
    # Values put, read or refreshed at any moment of one clock bucket of their lifetime all
    # expire at the bucket's end plus a lifetime: not a second, nor a millisecond, apart.
    store = harness.store
    start = (int(harness.wall) // 900 + 1) * 900  # the next bucket: Redis's expiries lie ahead
    expiries = set()
    for n, offset in enumerate((0.0, 1.25, 431.5, 899.999)):
        harness.wall = start + offset
        harness.clock += 1.0
        store.put(f"put{n}", b"v", 900)
        store.put_new(f"new{n}", b"v", 900)
        store.put(f"read{n}", b"v", 60)
        assert store.get(f"read{n}", refresh_seconds=900) == b"v"
        expiries |= {_expiry_of(harness, f"{kind}{n}") for kind in ("put", "new", "read")}
    assert expiries == {start + 2 * 900}


def test_take_under_two_threads_at_once_gives_the_value_to_exactly_one(harness):
    store = harness.store
    for round_ in range(100):
        key = f"k{round_}"
        store.put(key, b"v%d" % round_, 60)
        barrier = threading.Barrier(2)
        got: list[bytes | None] = []

        def take(key: str = key, barrier: threading.Barrier = barrier, got: list = got) -> None:
            barrier.wait()
            got.append(store.take(key))

        threads = [threading.Thread(target=take) for _ in "12"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(got, key=lambda v: v is None) == [b"v%d" % round_, None]


def test_the_first_value_put_new_stays_until_it_expires(harness):
    store = harness.store
    assert store.put_new("day", b"first", 60) == b"first"
    assert store.put_new("day", b"second", 60) == b"first"
    assert harness.make().put_new("day", b"third", 60) == (
        b"first" if harness.kind == "redis" else b"third"  # a memory store is one process's
    )
    harness.expire_all()
    assert store.put_new("day", b"fourth", 60) == b"fourth"


def test_a_byte_budget_refuses_the_owner_past_it_and_no_one_else(harness):
    store = harness.store
    budget = Budget(seconds=120, bytes=1000)
    assert all(store.put(f"a{n}", b"x" * 100, 60, owner="a", budget=budget) for n in range(10))
    assert store.put("a10", b"x", 60, owner="a", budget=budget) is False
    assert store.get("a10") is None and store.get("a9") == b"x" * 100
    assert store.put("b0", b"x" * 1000, 60, owner="b", budget=budget) is True
    assert store.put("c0", b"x" * 1001, 60, owner="c", budget=budget) is False
    assert store.put("free", b"x" * 5000, 60) is True  # no owner: the store's bounds only
    # Taking what was put gives nothing back; the next window does.
    assert store.take("a0") == b"x" * 100
    assert store.put("a11", b"x", 60, owner="a", budget=budget) is False
    harness.wall += 120
    assert store.put("a12", b"x" * 100, 60, owner="a", budget=budget) is True


def test_everyone_s_budget_bounds_a_use_and_an_owner_refused_spends_none_of_it(harness):
    store = harness.store
    everyone = Budget(seconds=120, bytes=1000)
    each = Budget(seconds=120, bytes=300)
    for n in range(20):  # one owner past its own budget, again and again
        store.put(f"a{n}", b"x" * 100, 60, owner="a", budget=each, everyone=everyone)
    assert store.get("a2") == b"x" * 100 and store.get("a3") is None
    # Others together get what is left of everyone's budget (700 bytes), and no more.
    kept = [
        store.put(f"{owner}0", b"y" * 250, 60, owner=owner, budget=each, everyone=everyone)
        for owner in "bcdef"
    ]
    assert kept == [True, True, False, False, False]
    assert store.put("free", b"z" * 5000, 60) is True  # another use: not counted
    harness.wall += 120  # the next window starts from nothing
    assert store.put("g0", b"y" * 250, 60, owner="g", budget=each, everyone=everyone)


def test_a_budget_of_entries_counts_values_whatever_their_size(harness):
    store = harness.store
    budget = Budget(seconds=120, entries=20)
    assert all(store.put(f"a{n}", b"", 60, owner="a", budget=budget) for n in range(20))
    assert store.put("a20", b"", 60, owner="a", budget=budget) is False
    assert store.put("b0", b"y" * 10_000, 60, owner="b", budget=budget) is True


def test_counters_count_in_clock_windows_and_expire_at_a_fixed_time(harness):
    store = harness.store
    harness.wall = (int(harness.wall) // 3600) * 3600 + 10.25  # early in an hour
    assert store.count("reports", 0, 3600) == 0
    assert store.count("reports", 1, 3600) == 1
    assert store.count("reports", 0, 3600) == 1
    if harness.kind == "redis":
        (name,) = harness.redis_keys()
        end_of_next_hour = (int(harness.wall) // 3600 + 2) * 3600
        assert harness.client.expiretime(name) == end_of_next_hour
    harness.wall += 3000  # later in the same hour: the expiry does not move
    assert store.count("reports", 2, 3600) == 3
    if harness.kind == "redis":
        assert harness.client.expiretime(name) == end_of_next_hour
        assert str(int(harness.wall)).encode() not in name
    harness.wall += 3600  # the next hour starts from nothing
    assert store.count("reports", 0, 3600) == 0
    assert store.count("reports", 5, 3600) == 5
    assert store.count("others", 0, 3600) == 0


@pytest.fixture
def redis_harness():
    if not REDIS_URL:
        skip_or_fail("Redis not configured: set PORTAL_TEST_REDIS_URL")
    made = Harness("redis")
    yield made
    made.close()


def test_a_budget_s_record_expires_at_the_end_of_its_window_not_after_a_put(redis_harness):
    harness = redis_harness
    harness.wall = (int(harness.wall) // 120) * 120 + 7.5
    budget = Budget(seconds=120, entries=20)
    harness.store.put("a0", b"", 60, owner="owner-hash", budget=budget)
    harness.wall += 100
    harness.store.put("a1", b"", 60, owner="owner-hash", budget=budget)
    (name,) = [k for k in harness.redis_keys() if b"#owner:" in k]
    assert harness.client.expiretime(name) == (int(harness.wall) // 120 + 2) * 120


def test_a_value_a_full_redis_refuses_is_not_kept_and_says_so(redis_harness):
    store = RedisStore(OutOfMemory(redis_harness.client), redis_harness.prefix)
    assert store.put("page", PLAIN, 60) is False
    assert SealedValues(store, b"test").put(PLAIN, 60) is None
    budget = Budget(seconds=120, bytes=1000)  # no room for a budget's record either
    assert store.put("page", PLAIN, 60, owner="a", budget=budget, everyone=budget) is False
    assert redis_harness.redis_keys() == []
    # Any other refusal is an error, as before.
    broken = RedisStore(redis.Redis.from_url("redis://127.0.0.1:1/0"), "x:")
    with pytest.raises(redis.exceptions.ConnectionError):
        broken.put("page", PLAIN, 60)


def test_the_memory_store_is_bounded_in_bytes_and_sweeps_what_expired():
    now = [0.0]
    store = MemoryStore(max_entries=100, clock=lambda: now[0], max_bytes=1000)
    for n in range(50):
        store.put(f"k{n}", b"x" * 100, 60)
    assert store._bytes <= 1000 and len(store) == 10
    assert store.get("k49", 60) == b"x" * 100  # the newest stay
    now[0] = 121.0 + MemoryStore.SWEEP_SECONDS  # past any value's life: 60 s to 120 s
    store.put("late", b"y", 60)
    assert len(store) == 1 and store._bytes == 1
    assert store.put("huge", b"z" * 1001, 60) is False and store.get("huge") is None


def test_a_full_memory_store_drops_the_nearest_to_expiry_or_keeps_the_newest_out():
    now = [0.0]
    store = MemoryStore(max_entries=3, clock=lambda: now[0])
    for n, seconds in enumerate((30, 10, 20)):
        store.put(f"k{n}", b"v", seconds)
    assert store.put("new", b"v", 60) is True
    assert store.get("k1") is None and len(store) == 3  # the one that had least to live
    assert store.put("newer", b"v", 60, evict=False) is False
    assert store.get("newer") is None and store.get("k0") == b"v"


def test_memory_budgets_and_counters_are_forgotten_with_their_window():
    now = [1_000_000.0]
    store = MemoryStore(max_entries=10, now=lambda: now[0])
    budget = Budget(seconds=60, entries=1)
    for owner in "abc":
        store.put(f"k{owner}", b"", 60, owner=owner, budget=budget)
    store.count("n", 1, 60)
    now[0] += 60
    store._sweep(0.0)
    assert store._owners == {} and store._counters == {}


def test_stores_come_from_the_rate_limit_storage_uri():
    stores = Stores.from_uri("memory://", "portal-t")
    first, second = stores.store("one"), stores.store("one", max_entries=3)
    assert isinstance(first, MemoryStore) and first is not second and not stores.shared
    for uri in ("redis+sentinel://:pass-word@h:26379/m", "mongodb://h", "nothing"):
        with pytest.raises(ValueError, match="PORTAL_RATELIMIT_STORAGE_URI") as refused:
            Stores.from_uri(uri, "portal-t")
        assert "pass-word" not in str(refused.value)


def test_redis_stores_share_one_client_under_a_prefix_per_namespace():
    if not REDIS_URL:
        skip_or_fail("Redis not configured: set PORTAL_TEST_REDIS_URL")
    prefix = f"test-ephemeral-{secrets.token_hex(4)}"
    stores = Stores.from_uri(REDIS_URL, prefix)
    try:
        assert stores.shared
        one, other = stores.store("followup"), stores.store("handover")
        assert isinstance(one, RedisStore)
        one.put("k", b"1", 60)
        other.put("k", b"2", 60)
        assert one.get("k") == b"1" and other.get("k") == b"2"
        assert stores.redis.get(f"{prefix}:followup:k") == b"1"
    finally:
        for key in stores.redis.scan_iter(match=f"{prefix}:*"):
            stores.redis.delete(key)
        stores.redis.close()


def test_a_sealed_value_opens_with_its_token_only(harness):
    sealed = SealedValues(harness.store, b"test/sealed/v1")
    token = sealed.put(PLAIN, 60)
    other = sealed.put(b"another value", 60)
    assert parse_token(token) is not None and len(token) == 43
    assert sealed.get(token) == PLAIN and sealed.get(token, refresh_seconds=60) == PLAIN
    assert sealed.get(new_token()) is None  # a token never issued
    # Under another label (another use) the same token opens nothing.
    assert SealedValues(harness.store, b"test/sealed/v2").get(token) is None
    assert sealed.take(token) == PLAIN and sealed.take(token) is None
    sealed.delete(other)
    assert sealed.get(other) is None


def _names_and_values(harness) -> dict[bytes, bytes]:
    if harness.kind == "memory":
        return {k.encode(): v for k, (_e, v) in harness.store._entries.items()}
    return {k[len(harness.prefix) :]: harness.client.get(k) for k in harness.redis_keys()}


def test_a_wrong_token_or_a_changed_value_opens_nothing(harness):
    sealed = SealedValues(harness.store, b"test/sealed/v1")
    first, second = sealed.put(b"first", 60), sealed.put(b"second", 60)
    (name_1, value_1), (name_2, value_2) = _names_and_values(harness).items()
    # Each value put under the other's name: a token finds a value sealed under another.
    harness.store.put(name_1.decode(), value_2, 60)
    harness.store.put(name_2.decode(), value_1, 60)
    assert sealed.get(first) is None and sealed.get(second) is None
    third = sealed.put(PLAIN, 60)
    name, value = next(
        (n, v) for n, v in _names_and_values(harness).items() if n not in (name_1, name_2)
    )
    for changed in (value[:-1] + bytes([value[-1] ^ 1]), value[:12] + b"\x00" + value[13:], b""):
        harness.store.put(name.decode(), changed, 60)
        assert sealed.get(third) is None and sealed.take(third) is None


@pytest.mark.parametrize(
    "forged", ["", "x" * 43, "A" * 42, "A" * 44, "é" * 43, "A" * 42 + "B", "=" * 43, None]
)
def test_forged_tokens_open_nothing(forged):
    sealed = SealedValues(MemoryStore(), b"test/sealed/v1")
    sealed.put(PLAIN, 60)
    assert sealed.get(forged) is None and sealed.take(forged) is None
    sealed.delete(forged)  # no error


def test_the_store_holds_neither_the_token_nor_the_value(harness):
    sealed = SealedValues(harness.store, b"test/sealed/v1")
    tokens = [sealed.put(PLAIN, 60, owner="owner-hash", budget=Budget(120, 5)) for _ in range(3)]
    harness.store.count("reports", 1, 3600)
    dump = harness.dump()
    assert len(dump) >= 6
    for token in tokens:
        raw = parse_token(token)
        forms = (token.encode(), raw, raw.hex().encode(), base64.b64encode(raw).rstrip(b"="))
        for item in dump:
            assert not any(form in item for form in forms)
    for item in dump:
        assert PLAIN not in item and "举报内容".encode() not in item and b"report #42" not in item
    assert all(sealed.get(t) == PLAIN for t in tokens)


def test_a_fallback_store_keeps_used_markers_in_memory_while_redis_is_away():
    """The markers of used challenges and passes (what keeps the report form open) are kept
    in this process while Redis cannot be reached, and in Redis again once it answers."""
    if not REDIS_URL:
        skip_or_fail("Redis not configured: set PORTAL_TEST_REDIS_URL")
    prefix = f"test-ephemeral-{secrets.token_hex(4)}"
    stores = Stores.from_uri(REDIS_URL, prefix)
    used = stores.store("pow", fallback=True)
    plain = stores.store("followup")
    client = stores.redis
    try:
        assert isinstance(plain, RedisStore)
        used.shared._client = plain._client = Unreachable()
        # Redis away: a marker is kept once, in memory; a store without fallback fails.
        assert used.put_new("挑战-1", b"first", 60) == b"first"
        assert used.put_new("挑战-1", b"again", 60) == b"first"
        assert used.count("reports", 1, 3600) == 1
        with pytest.raises(redis.exceptions.ConnectionError):
            plain.put("k", b"v", 60)
        # Redis back: what is put now is shared (in Redis), and read from there.
        used.shared._client = client
        assert used.put_new("挑战-2", b"second", 60) == b"second"
        assert client.get(f"{prefix}:pow:挑战-2") == b"second"
        assert client.get(f"{prefix}:pow:挑战-1") is None
    finally:
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
        client.close()
