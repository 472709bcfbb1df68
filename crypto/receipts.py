"""Receipt codes of anonymous reporters.

A receipt code is 20 random digits, shown as 5 groups of 4. One memory-hard derivation with
the installation pepper turns it into a lookup id (stored) and the seed of the reporter's own
X25519 identity (never stored), so replies can be encrypted to the reporter.

Why 20 digits: the pepper is one salt for every code, so whoever holds the database and the
pepper tests each guess against all N stored lookup ids at once. With 10,000 reports, 16
digits leave about 5*10^11 Argon2id runs to find one (10^16 / 2 / N): within reach of a
determined attacker. 20 digits leave about 5*10^15.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from crypto.errors import ReceiptCodeError
from crypto.keys import X25519Identity

CODE_DIGITS = 20
_SALT = b"soe-portal/receipt-code/v1"
_DIGITS = {chr(0x30 + i): str(i) for i in range(10)} | {chr(0xFF10 + i): str(i) for i in range(10)}
# Separators people type or paste: spaces (ASCII, no-break, ideographic) and dashes.
_SEPARATORS = frozenset(
    " \t\u00a0\u3000"  # spaces
    "-\u2010\u2011\u2012\u2013\u2014\u2212\ufe58\ufe63\uff0d"  # hyphens and dashes
)


@dataclass(frozen=True)
class ReceiptParams:
    """Argon2id cost: RFC 9106 second recommended option (64 MiB, t=3, p=4) by default.

    Lower only explicitly, in tests.
    """

    memory_cost_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 4


DEFAULT_RECEIPT_PARAMS = ReceiptParams()
# OpenSSL's Argon2 (4.0, as cryptography 50 bundles it) never returns when two derivations
# with several lanes run at the same time in one process: its threads wait on each other.
# One derivation at a time per process; it holds Python's lock while it runs anyway, so this
# costs no parallelism, and it bounds the memory the derivations take to one at a time.
_ONE_AT_A_TIME = threading.Lock()


@dataclass(frozen=True)
class Receipt:
    """What a receipt code yields: the stored lookup id and the reporter's identity."""

    lookup_id: bytes
    identity: X25519Identity

    @property
    def lookup_hex(self) -> str:
        """The lookup id as hex, for storage."""
        return self.lookup_id.hex()


def format_receipt_code(digits: str) -> str:
    """Group the 20 digits in fives of four: ``dddd dddd dddd dddd dddd``."""
    return " ".join(digits[i : i + 4] for i in range(0, CODE_DIGITS, 4))


def new_receipt_code() -> str:
    """A fresh receipt code from the OS CSPRNG, formatted in 5 groups of 4 digits."""
    digits = "".join(str(secrets.randbelow(10)) for _ in range(CODE_DIGITS))
    return format_receipt_code(digits)


def parse_receipt_code(text: str) -> str:
    """Normalise typed text to the 20 ASCII digits of a receipt code.

    Accepts ASCII and full-width digits with spaces or dashes anywhere between them;
    anything else raises ReceiptCodeError (a ValueError).
    """
    digits = []
    for char in text.strip():
        if char in _DIGITS:
            digits.append(_DIGITS[char])
        elif char not in _SEPARATORS:
            raise ReceiptCodeError("a receipt code has only digits, spaces and dashes")
    if len(digits) != CODE_DIGITS:
        raise ReceiptCodeError(f"a receipt code has {CODE_DIGITS} digits")
    return "".join(digits)


def derive_receipt(
    code: str, pepper: bytes, params: ReceiptParams = DEFAULT_RECEIPT_PARAMS
) -> Receipt:
    """Derive the lookup id and the reporter's identity from a receipt code.

    One Argon2id run (the pepper is its secret input) gives 64 bytes; HKDF-Expand with
    two labels splits them into independent values, so neither output reveals the
    other or the code, and without the pepper a stolen database cannot be brute-forced.
    """
    if len(pepper) < 16:
        raise ValueError("the installation pepper must be at least 16 bytes")
    digits = parse_receipt_code(code)
    kdf = Argon2id(
        salt=_SALT,
        length=64,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_cost_kib,
        secret=pepper,
    )
    with _ONE_AT_A_TIME:
        master = kdf.derive(digits.encode("ascii"))
    lookup_id = _expand(master, b"lookup id")
    seed = _expand(master, b"reporter identity")
    return Receipt(lookup_id, X25519Identity(seed))


def _expand(master: bytes, label: bytes) -> bytes:
    return HKDFExpand(hashes.SHA256(), 32, b"soe-portal/receipt/" + label).derive(master)
