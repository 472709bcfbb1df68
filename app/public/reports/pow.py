"""A proof of work for the report form: single-use challenges, harder as reports flood in.

The page carries a challenge the server issued; a small same-origin script finds a nonce such
that SHA-256("challenge:nonce") starts with ``bits`` zero bits, and sends it with the form. A
challenge is accepted once and for a limited time. Forms sent with a solved challenge count
against the global budget of reports; forms sent without one (no JavaScript) count against a
separate, smaller budget, so a flood from scripts that do no work cannot exhaust the channel
for people, and people without JavaScript can still report.

The difficulty rises by one bit each time the reports of the current hour double past
``REPORT_POW_STEP``. Challenges and the count of the hour are kept in the short-lived store
(``app.services.ephemeral``: memory or Redis, with an expiry), never with anything about the
client; the count is named by its clock hour and expires at a fixed time after it.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import secrets

from app.services.ephemeral import Store

CHALLENGE_SECONDS = 30 * 60
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


class ProofOfWork:
    def __init__(self, store: Store, base_bits: int, step: int) -> None:
        self.store = store
        self.base_bits = base_bits
        self.step = step

    def bits(self) -> int:
        """The difficulty now: one more bit each time this hour's reports double past a step."""
        try:
            count = self.store.count(COUNTER, 0, COUNT_SECONDS)
        except Exception:
            count = 0
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

    def redeem(self, challenge: str, nonce: str) -> bool:
        """True once for a challenge we issued whose nonce solves it."""
        if not challenge or not nonce or len(nonce) > MAX_NONCE_LENGTH or len(challenge) > 64:
            return False
        token, _, bits_text = challenge.rpartition(".")
        if not token or not bits_text.isdigit() or not bits_text.isascii():
            return False
        if not solves(challenge, nonce, int(bits_text)):
            return False  # checked first: a wrong answer does not use up the challenge
        try:
            return self.store.take(challenge) is not None  # one taker only
        except Exception:
            return False

    def counted(self) -> None:
        """Count one stored report towards this hour's difficulty."""
        with contextlib.suppress(Exception):  # the count only tunes the difficulty
            self.store.count(COUNTER, 1, COUNT_SECONDS)
