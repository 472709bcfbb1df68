"""A pass for forms sent without script: it comes with the page, and counts once, some minutes
after the page was opened.

The proof of work (``pow.py``) needs the page's script. A browser without script sends the
form's pass instead: a value the server signed when it made the page, naming the minute it was
made and the wait it asks for. It counts only once that wait has passed since then, and only
once. Writing a report takes minutes anyway, so a reporter does not notice; a flood of forms
without script has to ask for its pages minutes before it sends them, and each page is worth
one form.

The wait is ``REPORT_NOSCRIPT_WAIT_MINUTES``, doubled each time this hour's passes redeemed
double past ``step``: a flood makes each further form cost more time, never closes the path.
A pass issued with a wait less than half the wait now is worth nothing (a stock gathered
while the site was quiet), nor is one older than ``PASS_SECONDS``; the page that sends the
form back carries a fresh one.

Nothing is stored when a pass is issued: a visitor fetching pages fills no store. A redeemed
pass leaves its hash in the short-lived store (``app.services.ephemeral``) until it could no
longer count anyway, so it is taken once; the hour's count is kept there too, named by its
clock hour. Neither says anything of a client, nor a time finer than their buckets. The
minute a pass was made is in the page and in the form sent back, never stored.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable

from app.services.ephemeral import Store

PASS_SECONDS = 2 * 3600
# The longest wait a flood can bring, in minutes: past it, passes would expire before counting.
MAX_WAIT_MINUTES = 60
COUNT_SECONDS = 3600
_LABEL = b"soe-portal/noscript-pass/v1\x00"
MAX_PASS_LENGTH = 100


class Pass(enum.Enum):
    """What the pass sent with a form is worth."""

    ready = "ready"  # ours, waited for, not used
    none = "none"  # no pass sent
    early = "early"  # ours, but its wait is not over
    stale = "stale"  # ours, issued with a wait far shorter than the wait now
    refused = "refused"  # forged, expired or used


class NoScriptPasses:
    def __init__(
        self,
        store: Store,
        secret: bytes,
        wait_minutes: int,
        step: int,
        counter: str = "noscript",
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._key = hmac.new(secret, _LABEL + counter.encode(), hashlib.sha256).digest()
        self.base_wait = wait_minutes
        self.step = step
        self.counter = counter
        self.now = now

    def wait(self) -> int:
        """The wait asked of a pass issued now, in minutes."""
        try:
            count = self.store.count(self.counter, 0, COUNT_SECONDS)
        except Exception:
            count = 0
        if count < self.step or self.base_wait == 0:
            return self.base_wait
        doublings = 1 + int(math.log2(count / self.step))
        return min(self.base_wait << min(doublings, 16), MAX_WAIT_MINUTES)

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self) -> str:
        body = f"{int(self.now() // 60)}.{self.wait()}.{secrets.token_hex(12)}"
        return f"{body}.{self._mac(body)}"

    def _parse(self, text: str) -> tuple[int, int] | None:
        """The minute a pass was issued and its wait; None unless we signed it."""
        if not text or len(text) > MAX_PASS_LENGTH or not text.isascii():
            return None
        body, _, mac = text.rpartition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return None
        minute, wait, _nonce = body.split(".")
        return int(minute), int(wait)

    @staticmethod
    def _marker(text: str) -> str:
        return "used:" + hashlib.sha256(text.encode()).hexdigest()[:32]

    def minutes_left(self, text: str) -> int:
        """How long the pass ``text`` still has to wait (0 if none or not ours)."""
        parsed = self._parse(text)
        if parsed is None:
            return 0
        minute, wait = parsed
        return max(0, minute + wait - int(self.now() // 60))

    def check(self, text: str) -> Pass:
        """What the pass would be worth now, without using it up."""
        if not text:
            return Pass.none
        parsed = self._parse(text)
        if parsed is None:
            return Pass.refused
        minute, wait = parsed
        age = int(self.now() // 60) - minute
        if age < 0 or age * 60 > PASS_SECONDS:
            return Pass.refused
        try:
            if self.store.get(self._marker(text)) is not None:
                return Pass.refused
        except Exception:
            return Pass.refused
        if wait * 2 < self.wait():
            return Pass.stale
        if age < wait:
            return Pass.early
        return Pass.ready

    def redeem(self, text: str) -> Pass:
        """``check``, and a pass that is ready is used up (by one caller only)."""
        answer = self.check(text)
        if answer is not Pass.ready:
            return answer
        mine = secrets.token_bytes(8)
        try:
            if self.store.put_new(self._marker(text), mine, PASS_SECONDS) != mine:
                return Pass.refused
        except Exception:
            return Pass.refused
        return Pass.ready

    def counted(self) -> None:
        """Count one pass redeemed towards this hour's wait."""
        try:
            self.store.count(self.counter, 1, COUNT_SECONDS)
        except Exception:  # the count only tunes the wait
            return
