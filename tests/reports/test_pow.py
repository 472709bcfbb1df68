"""The report form's proof of work: single-use, not forgeable, harder under a flood."""

from __future__ import annotations

import hashlib
import itertools

import pytest
import redis

from app.public.reports import pow as pow_module
from app.public.reports.pow import (
    COUNT_SECONDS,
    COUNTER,
    ProofOfWork,
    Work,
    leading_zero_bits,
    solves,
)
from app.services.ephemeral import MemoryStore, RedisStore
from tests.helpers.environment import REDIS_URL, skip_or_fail


def _solve(challenge: str) -> str:
    bits = int(challenge.rpartition(".")[2])
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
    work = ProofOfWork(store, base_bits=8, step=50)
    challenge, bits = work.issue()
    assert bits == 8 and challenge.endswith(".8")
    nonce = _solve(challenge)
    wrong = next(str(n) for n in itertools.count() if not solves(challenge, str(n), bits))
    assert work.redeem(challenge, wrong) is Work.refused
    assert work.redeem(challenge, nonce) is Work.done  # a wrong answer did not use it up
    assert work.redeem(challenge, nonce) is Work.refused  # replayed


def test_challenges_the_server_did_not_issue_are_refused(store):
    work = ProofOfWork(store, base_bits=8, step=50)
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


def test_an_expired_challenge_is_refused():
    clock = [0.0]
    work = ProofOfWork(MemoryStore(clock=lambda: clock[0]), base_bits=4, step=50)
    challenge, _bits = work.issue()
    clock[0] += 2 * pow_module.CHALLENGE_SECONDS + 1  # past the end of the bucket after its own
    assert work.redeem(challenge, _solve(challenge)) is Work.refused


def test_a_challenge_lives_minutes_not_half_an_hour():
    assert pow_module.CHALLENGE_SECONDS <= 10 * 60


def _raise_load(work: ProofOfWork, total: int) -> None:
    work.store.count(COUNTER, total - work.store.count(COUNTER, 0, COUNT_SECONDS), COUNT_SECONDS)


def test_challenges_collected_while_quiet_do_not_count_once_the_load_has_risen(store):
    work = ProofOfWork(store, base_bits=8, step=50)
    stock = [work.issue() for _ in range(5)]
    assert {bits for _challenge, bits in stock} == {8}
    answers = [(challenge, _solve(challenge)) for challenge, _bits in stock]
    _raise_load(work, 400)  # three doublings past the step: 12 bits
    assert work.bits() == 12
    assert [work.redeem(c, n) for c, n in answers] == [Work.too_easy] * 5
    # Used up: the same answers are not worth anything later either.
    assert [work.redeem(c, n) for c, n in answers] == [Work.refused] * 5


def test_a_challenge_one_bit_easier_than_the_load_now_still_counts(store):
    work = ProofOfWork(store, base_bits=8, step=50)
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
    harder = ProofOfWork(store, base_bits=4, step=10**6)
    challenge, _bits = work.issue()
    assert harder.redeem(challenge, _solve(challenge)) is Work.done


def test_the_difficulty_rises_as_reports_of_the_hour_double(store):
    work = ProofOfWork(store, base_bits=16, step=50)
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
