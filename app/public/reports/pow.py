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
stock of challenges solved at today's difficulty can only be gathered in that time, and the
store holds fewer.

Challenges and the count of the hour are kept in the short-lived store
(``app.services.ephemeral``: memory or Redis, with an expiry), never with anything about the
client; the count is named by its clock hour and expires at a fixed time after it.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import math
import secrets

from app.services.ephemeral import Store

CHALLENGE_SECONDS = 10 * 60
# How much easier than the difficulty now a challenge may be and still count as work.
SLACK_BITS = 1
MAX_NONCE_LENGTH = 32
# The reports of each clock hour are counted under this name.
COUNTER = "reports"
COUNT_SECONDS = 3600


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
    refused = "refused"  # an answer that does not count: wrong, unknown, expired or used


class ProofOfWork:
    def __init__(
        self,
        store: Store,
        base_bits: int,
        step: int,
        counter: str = COUNTER,
        window: int = COUNT_SECONDS,
    ) -> None:
        self.store = store
        self.base_bits = base_bits
        self.step = step
        self.counter = counter
        self.window = window

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

    def issue(self) -> tuple[str, int]:
        """A new challenge and its difficulty, to put in the form."""
        bits = self.bits()
        challenge = f"{secrets.token_hex(16)}.{bits}"
        try:
            self.store.put(challenge, b"1", CHALLENGE_SECONDS)
        except Exception:
            return "", bits  # no store: the form works within the budget without script
        return challenge, bits

    def check(self, challenge: str, nonce: str) -> Work:
        """What the answer sent with a form would be worth, without using it up: a form is
        checked before its files are read, and redeemed only when it is stored."""
        return self._answer(challenge, nonce, self.store.get)

    def redeem(self, challenge: str, nonce: str) -> Work:
        """What the answer sent with a form is worth; ``Work.done`` once for a challenge we
        issued, solved, and at most ``SLACK_BITS`` easier than the difficulty now.

        A challenge is used up by its first solved answer, even one that is too easy."""
        return self._answer(challenge, nonce, self.store.take)  # one taker only

    def _answer(self, challenge: str, nonce: str, find) -> Work:
        if not nonce:
            return Work.none
        if not challenge or len(nonce) > MAX_NONCE_LENGTH or len(challenge) > 64:
            return Work.refused
        if not (nonce.isascii() and nonce.isdigit()):  # the script sends a decimal number
            return Work.refused
        token, _, bits_text = challenge.rpartition(".")
        if not token or not bits_text.isdigit() or not bits_text.isascii():
            return Work.refused
        if not solves(challenge, nonce, int(bits_text)):
            return Work.refused  # checked first: a wrong answer does not use up the challenge
        try:
            if find(challenge) is None:
                return Work.refused
        except Exception:
            return Work.refused
        if int(bits_text) < self.bits() - SLACK_BITS:
            return Work.too_easy
        return Work.done

    def counted(self) -> None:
        """Count one stored report towards this hour's difficulty."""
        with contextlib.suppress(Exception):  # the count only tunes the difficulty
            self.store.count(self.counter, 1, self.window)
