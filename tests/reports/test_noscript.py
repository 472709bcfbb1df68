"""The pass of a form sent without script: signed, counted once, only after its wait, and
worth nothing once a flood has made the wait much longer than the one it was issued with."""

from __future__ import annotations

import pytest

from app.public.reports.noscript import MAX_WAIT_MINUTES, PASS_SECONDS, NoScriptPasses, Pass
from app.services.ephemeral import MemoryStore

START = 1_796_000_400.0  # a whole hour


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _passes(clock: Clock, wait: int = 2, step: int = 4) -> NoScriptPasses:
    store = MemoryStore(now=clock)
    return NoScriptPasses(store, b"secret-key-of-the-public-site-000", wait, step, now=clock)


def test_a_pass_counts_after_its_wait_and_once(clock):
    passes = _passes(clock)
    issued = passes.issue()
    assert passes.check(issued) is Pass.early and passes.minutes_left(issued) == 2
    clock.now += 60
    assert passes.redeem(issued) is Pass.early  # not used up by being early
    clock.now += 60
    assert passes.check(issued) is Pass.ready  # checking does not use it up
    assert passes.redeem(issued) is Pass.ready
    assert passes.redeem(issued) is Pass.refused
    assert passes.check(issued) is Pass.refused


def test_a_forged_or_changed_pass_is_refused(clock):
    passes = _passes(clock)
    minute, wait, nonce, mac = passes.issue().split(".")
    clock.now += 600
    assert passes.check("") is Pass.none
    assert passes.check(f"{int(minute) - 10}.{wait}.{nonce}.{mac}") is Pass.refused  # older
    assert passes.check(f"{minute}.0.{nonce}.{mac}") is Pass.refused  # no wait
    assert passes.check("举报.通行证") is Pass.refused
    assert passes.check("9" * 200) is Pass.refused
    other = NoScriptPasses(MemoryStore(), b"another-site-secret-key-000000000", 2, 4, now=clock)
    assert other.check(f"{minute}.{wait}.{nonce}.{mac}") is Pass.refused


def test_a_pass_expires(clock):
    passes = _passes(clock)
    issued = passes.issue()
    clock.now += PASS_SECONDS + 60
    assert passes.check(issued) is Pass.refused


def test_a_flood_doubles_the_wait_and_old_passes_go_stale(clock):
    passes = _passes(clock, wait=2, step=4)
    quiet = passes.issue()
    for _ in range(4):
        passes.counted()
    assert passes.wait() == 4
    four = passes.issue()
    for _ in range(4):
        passes.counted()
    assert passes.wait() == 8
    clock.now += 8 * 60
    assert passes.check(four) is Pass.ready  # half the wait now still counts
    assert passes.check(quiet) is Pass.stale  # a quarter does not
    for _ in range(10_000):
        passes.counted()
    assert passes.wait() == MAX_WAIT_MINUTES


def test_no_wait_still_counts_once(clock):
    passes = _passes(clock, wait=0)
    issued = passes.issue()
    assert passes.redeem(issued) is Pass.ready and passes.redeem(issued) is Pass.refused
