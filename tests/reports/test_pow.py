"""The report form's proof of work: single-use, not forgeable, harder under a flood, and
nothing stored until a challenge is used."""

from __future__ import annotations

import hashlib
import itertools
import threading

import pytest
import redis

from app.public.reports import pow as pow_module
from app.public.reports.pow import (
    CHALLENGE_SECONDS,
    COUNT_SECONDS,
    COUNTER,
    ProofOfWork,
    Work,
    leading_zero_bits,
    solves,
)
from app.services.ephemeral import MemoryStore, RedisStore
from tests.helpers.environment import REDIS_URL, skip_or_fail

SECRET = "举报平台的测试密钥，至少三十二个字符长：0123456789".encode()


def _work(store, base_bits: int = 8, step: int = 50, **options) -> ProofOfWork:
    return ProofOfWork(store, base_bits, step, secret=options.pop("secret", SECRET), **options)


def _solve(challenge: str) -> str:
    return _solve_at(challenge, int(challenge.rpartition(".")[2]))


def _solve_at(challenge: str, bits: int) -> str:
    return next(str(n) for n in itertools.count() if solves(challenge, str(n), bits))


def test_leading_zero_bits_counts_bits_not_bytes():
    assert leading_zero_bits(bytes([0, 0, 0x10]) + bytes(29)) == 19
    assert leading_zero_bits(bytes([0x80]) + bytes(31)) == 0
    assert leading_zero_bits(bytes(32)) == 256


@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        yield MemoryStore()
        return
    if not REDIS_URL:
        skip_or_fail("Redis not configured: set PORTAL_TEST_REDIS_URL")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield RedisStore(client, "portal-t:pow:")
    client.flushdb()
    client.close()


def test_a_solved_challenge_is_accepted_once(store):
    work = _work(store)
    challenge, bits = work.issue()
    assert bits == 8 and challenge.endswith(".8")
    nonce = _solve(challenge)
    wrong = next(str(n) for n in itertools.count() if not solves(challenge, str(n), bits))
    assert work.redeem(challenge, wrong) is Work.refused
    assert work.redeem(challenge, nonce) is Work.done  # a wrong answer did not use it up
    assert work.redeem(challenge, nonce) is Work.refused  # replayed


def test_challenges_the_server_did_not_issue_are_refused(store):
    work = _work(store)
    issued, _bits = work.issue()
    # An easier difficulty written into a real challenge's token, and a made-up one.
    easier = issued.rpartition(".")[0] + ".0"
    assert work.redeem(easier, "0") is Work.refused
    assert work.redeem("0" * 32 + ".0", "0") is Work.refused
    # Too long, or not a decimal number (some of these may even solve it: one in 2^8 does).
    for nonce in (
        "1" * 33,
        "١٢٣",
        *(f"{n}x" for n in range(2000)),
        *("１２" + str(n) for n in range(2000)),
    ):
        assert work.redeem(issued, nonce) is Work.refused
    assert work.redeem("a" * 65, "1") is Work.refused
    assert work.redeem(issued, "") is Work.none  # no script: no answer
    assert work.redeem("", "") is Work.none


def _store_bytes(store) -> int:
    if isinstance(store, MemoryStore):
        return len(store) + store._bytes
    return store._client.dbsize()


def test_issuing_challenges_stores_nothing(store):
    work = _work(store)
    issued = [work.issue() for _ in range(1000)]
    assert len({challenge for challenge, _bits in issued}) == 1000
    assert _store_bytes(store) == 0
    # Used, one leaves a hash: not the challenge, nor the minute it names.
    challenge, _bits = issued[0]
    assert work.redeem(challenge, _solve(challenge)) is Work.done
    if isinstance(store, MemoryStore):
        (name,) = store._entries
        kept = store._entries[name][1]
    else:
        (name,) = store._client.keys("*")
        kept = store._client.get(name)
        name = name.decode()
    minute = challenge.split(".")[0]
    assert challenge not in name and minute not in name and minute.encode() not in kept
    assert len(kept) <= 8


def test_challenges_altered_or_signed_under_another_key_are_refused(store):
    clock = [1_000_000 * 60.0]
    work = _work(store, now=lambda: clock[0])
    challenge, _bits = work.issue()
    minute, token, mac, bits = challenge.split(".")
    assert (minute, bits) == (str(1_000_000), "8")
    altered = [
        f"{minute}.{token}.{mac}.1",  # easier
        f"{minute}.{token}.{mac}.9",  # harder
        f"{int(minute) + 5}.{token}.{mac}.{bits}",  # younger
        f"{minute}.{token[::-1]}.{mac}.{bits}",
        f"{minute}.{token}.{mac.upper()}.{bits}",
        f"{minute}.{token}.{mac[:-1]}.{bits}",
        f"{minute}.{token}.{mac}.{bits}.",
        f"{minute}.{token}.{mac}.８",
        f"０{minute}.{token}.{mac}.{bits}",
        challenge.replace(".", "。"),
    ]
    others = [
        _work(store, secret=SECRET + b"!", now=lambda: clock[0]).issue()[0],
        _work(store, counter="entries", now=lambda: clock[0]).issue()[0],  # another form's
    ]
    for forged in altered + others:
        nonce = _solve_at(forged, 8)
        assert work.check(forged, nonce) is Work.refused, forged
        assert work.redeem(forged, nonce) is Work.refused, forged
    assert _store_bytes(store) == 0  # nothing forged was kept either
    assert work.redeem(challenge, _solve(challenge)) is Work.done


def test_a_challenge_from_a_clock_a_minute_ahead_counts_and_from_further_not(store):
    clock = [1_000_000 * 60.0]
    work = _work(store, now=lambda: clock[0])
    ahead = _work(store, now=lambda: clock[0] + 60).issue()[0]
    further = _work(store, now=lambda: clock[0] + 120).issue()[0]
    assert work.redeem(ahead, _solve(ahead)) is Work.done
    assert work.redeem(further, _solve(further)) is Work.refused


def test_twenty_requests_redeeming_one_challenge_at_once_count_it_once(store):
    work = _work(store)
    for _round in range(3):
        challenge, _bits = work.issue()
        nonce = _solve(challenge)
        assert work.check(challenge, nonce) is Work.done  # a check uses nothing up
        start = threading.Barrier(20)
        answers = []

        def redeem(challenge=challenge, nonce=nonce, start=start, answers=answers):
            start.wait()
            answers.append(work.redeem(challenge, nonce))

        threads = [threading.Thread(target=redeem) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(a.value for a in answers) == ["done"] + ["refused"] * 19
        assert work.check(challenge, nonce) is Work.refused


def test_a_challenge_counts_for_its_lifetime_and_not_after():
    clock = [600 * 60.0]  # the start of a clock minute
    store = MemoryStore(clock=lambda: clock[0], now=lambda: clock[0])
    work = _work(store, 4, now=lambda: clock[0])
    first, _bits = work.issue()
    second, _bits = work.issue()
    clock[0] += CHALLENGE_SECONDS  # its whole lifetime: still good
    assert work.redeem(first, _solve(first)) is Work.done
    clock[0] += 60  # a minute past it
    assert work.check(second, _solve(second)) is Work.refused
    assert work.redeem(second, _solve(second)) is Work.refused


def test_a_used_challenge_stays_used_for_as_long_as_it_could_count(store):
    # Used at the last second of a minute and of the used hashes' clock bucket (the earliest
    # their expiry can come): replayed at the last second it is still within its lifetime.
    start = 720 * 4_000_000 - 1.0
    clock = [start]
    if isinstance(store, MemoryStore):
        store = MemoryStore(clock=lambda: clock[0], now=lambda: clock[0])
    else:
        store = RedisStore(store._client, "portal-t:pow:", now=lambda: clock[0])
    work = _work(store, 4, now=lambda: clock[0])
    challenge, _bits = work.issue()
    nonce = _solve(challenge)
    assert work.redeem(challenge, nonce) is Work.done
    clock[0] = start + CHALLENGE_SECONDS
    if isinstance(store, MemoryStore):
        assert work.redeem(challenge, nonce) is Work.refused
    else:  # Redis expires keys on its own clock: the used hash's expiry outlives the challenge
        (key,) = store._client.keys("portal-t:pow:*")
        assert store._client.expiretime(key) >= (int(start // 60) + 11) * 60
        assert work.redeem(challenge, nonce) is Work.refused


def test_a_challenge_lives_minutes_not_half_an_hour():
    assert pow_module.CHALLENGE_SECONDS <= 10 * 60


def _raise_load(work: ProofOfWork, total: int) -> None:
    work.store.count(COUNTER, total - work.store.count(COUNTER, 0, COUNT_SECONDS), COUNT_SECONDS)


def test_challenges_collected_while_quiet_do_not_count_once_the_load_has_risen(store):
    work = _work(store)
    stock = [work.issue() for _ in range(5)]
    assert {bits for _challenge, bits in stock} == {8}
    answers = [(challenge, _solve(challenge)) for challenge, _bits in stock]
    _raise_load(work, 400)  # three doublings past the step: 12 bits
    assert work.bits() == 12
    assert [work.redeem(c, n) for c, n in answers] == [Work.too_easy] * 5
    # Used up: the same answers are not worth anything later either.
    assert [work.redeem(c, n) for c, n in answers] == [Work.refused] * 5


def test_a_challenge_one_bit_easier_than_the_load_now_still_counts(store):
    work = _work(store)
    issued = {}
    for total in (0, 50, 100):  # 8, 9 and 10 bits
        _raise_load(work, total)
        challenge, bits = work.issue()
        issued[bits] = (challenge, _solve(challenge))
    assert sorted(issued) == [8, 9, 10] and work.bits() == 10
    assert work.redeem(*issued[10]) is Work.done
    assert work.redeem(*issued[9]) is Work.done  # the load crossed a doubling meanwhile
    assert work.redeem(*issued[8]) is Work.too_easy
    # Harder than needed is fine: the hour's count starts again at the next hour.
    harder = _work(store, 4, 10**6)
    challenge, _bits = work.issue()
    assert harder.redeem(challenge, _solve(challenge)) is Work.done


def test_the_difficulty_rises_as_reports_of_the_hour_double(store):
    work = _work(store, 16)
    seen = []

    def count(add: int) -> int:
        return work.store.count(COUNTER, add, COUNT_SECONDS)

    for total in (0, 49, 50, 100, 200, 400, 100_000_000):
        while count(0) < total:
            count(min(total - count(0), 10**7))
        seen.append(work.bits())
    assert seen == [16, 16, 17, 18, 19, 20, 30]


def test_the_hash_is_plain_sha256_of_challenge_and_nonce():
    challenge, nonce = "abc.1", "42"
    digest = hashlib.sha256(b"abc.1:42").digest()
    assert solves(challenge, nonce, leading_zero_bits(digest))
    assert not solves(challenge, nonce, leading_zero_bits(digest) + 1)
