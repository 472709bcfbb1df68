"""The report form's proof of work: single-use, not forgeable, harder under a flood."""

from __future__ import annotations

import hashlib
import itertools

import pytest
import redis

from app.public.reports import pow as pow_module
from app.public.reports.pow import COUNT_SECONDS, COUNTER, ProofOfWork, leading_zero_bits, solves
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
    assert work.redeem(challenge, wrong) is False
    assert work.redeem(challenge, nonce) is True  # a wrong answer did not use it up
    assert work.redeem(challenge, nonce) is False  # replayed


def test_challenges_the_server_did_not_issue_are_refused(store):
    work = ProofOfWork(store, base_bits=8, step=50)
    issued, _bits = work.issue()
    # An easier difficulty written into a real challenge's token, and a made-up one.
    easier = issued.rpartition(".")[0] + ".0"
    assert work.redeem(easier, "0") is False
    assert work.redeem("0" * 32 + ".0", "0") is False
    for nonce in ("", "1" * 33, "١٢٣"):
        assert work.redeem(issued, nonce) is False
    assert work.redeem("a" * 65, "1") is False


def test_an_expired_challenge_is_refused():
    clock = [0.0]
    work = ProofOfWork(MemoryStore(clock=lambda: clock[0]), base_bits=4, step=50)
    challenge, _bits = work.issue()
    clock[0] += 2 * pow_module.CHALLENGE_SECONDS + 1  # past the end of the bucket after its own
    assert work.redeem(challenge, _solve(challenge)) is False


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
