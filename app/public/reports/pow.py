"""A proof of work for the report form: single-use challenges, harder as reports flood in.

The page carries a challenge the server issued; a small same-origin script finds a nonce such
that SHA-256("challenge:nonce") starts with ``bits`` zero bits, and sends it with the form. A
challenge is accepted once and for a limited time. A form sent without one (no JavaScript)
counts by the page's pass instead (``noscript.py``): a flood from scripts that do no work
cannot close the channel for people, and people without JavaScript can still report.

The difficulty rises by one bit each time the reports of the current hour double past
``REPORT_POW_STEP``, and a challenge counts as work only while it is as hard as the difficulty
when it is redeemed, or one bit easier (the load may cross a doubling while someone writes):
challenges collected while the site is quiet, solved cheaply, are worth nothing once a flood
has raised the difficulty. Such a form, and one whose challenge expired, is taken if its pass
is ready; else the view says why and shows the form again with a fresh challenge. The same
class asks work of receipt codes tried past everyone's budget (``followup_views.py``).

A challenge lives ``CHALLENGE_SECONDS`` (10 minutes): the script solves it as soon as the page
opens, so it only has to last until the form is sent, and a slow writer whose challenge
expired loses nothing (the page's pass counts by then). Shorter is better for the channel: a
stock of challenges solved at today's difficulty can only be gathered in that time.

Nothing is stored when a challenge is issued: it is signed (an HMAC under a key derived from
the app's secret), and names the minute it was issued in and its difficulty, so a visitor
fetching pages fills no store. A redeemed challenge leaves only its hash in the short-lived
store (``app.services.ephemeral``: memory or Redis) until it could no longer count anyway, so
it is taken once; the count of the hour is kept there too, named by its clock hour and
expiring at a fixed time after it. Neither says anything of a client, nor a time finer than
their buckets. The minute a challenge was issued in is in the page and in the form sent back,
never stored.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable

from app.services.ephemeral import Store

CHALLENGE_SECONDS = 10 * 60
# A challenge naming the minute after this worker's: another machine's clock may be ahead.
SKEW_MINUTES = 1
# How long a used challenge's hash is kept: as long as the challenge could still count.
USED_SECONDS = CHALLENGE_SECONDS + (SKEW_MINUTES + 1) * 60
# How much easier than the difficulty now a challenge may be and still count as work.
SLACK_BITS = 1
MAX_NONCE_LENGTH = 32
MAX_CHALLENGE_LENGTH = 100
# The reports of each clock hour are counted under this name.
COUNTER = "reports"
COUNT_SECONDS = 3600
_LABEL = b"soe-portal/pow-challenge/v1\x00"


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def solves(challenge: str, nonce: str, bits: int) -> bool:
    digest = hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()
    return leading_zero_bits(digest) >= bits


class Work(enum.Enum):
    """What the proof of work sent with a form is worth."""

    done = "done"  # a challenge we issued, solved, hard enough for the load now
    none = "none"  # no answer sent: a browser without script (or no challenge to solve)
    too_easy = "too_easy"  # ours and solved, but issued before the load raised the difficulty
    refused = "refused"  # an answer that does not count: wrong, forged, expired or used


class ProofOfWork:
    """Challenges signed under a key derived from ``secret`` (one key per ``counter``: a
    challenge of one form is worth nothing on another), and the count that sets their
    difficulty."""

    def __init__(
        self,
        store: Store,
        base_bits: int,
        step: int,
        counter: str = COUNTER,
        window: int = COUNT_SECONDS,
        *,
        secret: bytes,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.base_bits = base_bits
        self.step = step
        self.counter = counter
        self.window = window
        self.now = now
        self._key = hmac.new(secret, _LABEL + counter.encode(), hashlib.sha256).digest()

    def load(self) -> int:
        """What was counted in this window (0 if the store cannot say)."""
        try:
            return self.store.count(self.counter, 0, self.window)
        except Exception:
            return 0

    def bits(self) -> int:
        """The difficulty now: one more bit each time this hour's reports double past a step."""
        count = self.load()
        if count < self.step:
            return self.base_bits
        return min(self.base_bits + 1 + int(math.log2(count / self.step)), 30)

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self) -> tuple[str, int]:
        """A new challenge and its difficulty, to put in the form; nothing is stored.

        The challenge reads ``minute.random.mac.bits``: the difficulty last, as the page's
        script and the form's answer read it."""
        bits = self.bits()
        minute = int(self.now() // 60)
        token = secrets.token_hex(12)
        return f"{minute}.{token}.{self._mac(f'{minute}.{token}.{bits}')}.{bits}", bits

    def _parse(self, challenge: str) -> tuple[int, int] | None:
        """The minute a challenge was issued in and its difficulty; None unless we signed it."""
        if not challenge or len(challenge) > MAX_CHALLENGE_LENGTH or not challenge.isascii():
            return None
        parts = challenge.split(".")
        if len(parts) != 4:
            return None
        minute, token, mac, bits = parts
        if not hmac.compare_digest(mac.encode(), self._mac(f"{minute}.{token}.{bits}").encode()):
            return None
        return int(minute), int(bits)

    @staticmethod
    def _marker(challenge: str) -> str:
        return "challenge-used:" + hashlib.sha256(challenge.encode()).hexdigest()[:32]

    def check(self, challenge: str, nonce: str) -> Work:
        """What the answer sent with a form would be worth, without using it up: a form is
        checked before its files are read, and redeemed only when it is stored."""
        return self._answer(challenge, nonce, use=False)

    def redeem(self, challenge: str, nonce: str) -> Work:
        """What the answer sent with a form is worth; ``Work.done`` once for a challenge we
        issued, solved, and at most ``SLACK_BITS`` easier than the difficulty now.

        A challenge is used up by its first solved answer, even one that is too easy."""
        return self._answer(challenge, nonce, use=True)

    def _answer(self, challenge: str, nonce: str, use: bool) -> Work:
        if not nonce:
            return Work.none
        if len(nonce) > MAX_NONCE_LENGTH or not (nonce.isascii() and nonce.isdigit()):
            return Work.refused  # the script sends a decimal number
        parsed = self._parse(challenge)
        if parsed is None:
            return Work.refused
        minute, bits = parsed
        age = int(self.now() // 60) - minute
        if age < -SKEW_MINUTES or age * 60 > CHALLENGE_SECONDS:
            return Work.refused
        if not solves(challenge, nonce, bits):
            return Work.refused  # checked first: a wrong answer does not use up the challenge
        marker = self._marker(challenge)
        try:
            if use:
                mine = secrets.token_bytes(8)
                if self.store.put_new(marker, mine, USED_SECONDS) != mine:
                    return Work.refused  # used before, or by another request just now
            elif self.store.get(marker) is not None:
                return Work.refused
        except Exception:
            return Work.refused
        if bits < self.bits() - SLACK_BITS:
            return Work.too_easy
        return Work.done

    def counted(self) -> None:
        """Count one stored report towards this hour's difficulty."""
        with contextlib.suppress(Exception):  # the count only tunes the difficulty
            self.store.count(self.counter, 1, self.window)
