"""One-time codes that stand in for a TOTP code at sign-in, and the hash they are kept under.

A code is 16 random symbols (79 bits) shown as four groups of four letters and digits (no
0/O, 1/I/L); the database keeps only a SHA-256 of it, enough for a secret of that size (nobody
can try 2^79 guesses). Using one deletes its row in one statement, so of two sign-ins with the
same code at the same moment exactly one gets in. Enrolment codes are made and kept the same way.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.models import RecoveryCode, StaffUser

RECOVERY_CODE_COUNT = 10
# 31 symbols, no 0, 1, I, L, O: a code copied from paper is read back right.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_code(groups: int = 4) -> str:
    """A random code of ``groups`` groups of four symbols, for example ``K7QM-2XWD-...``."""
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(4 * groups))
    return "-".join(symbols[i : i + 4] for i in range(0, len(symbols), 4))


def normalise(code: str) -> str:
    """What was typed, as the code is kept: full-width forms folded, case, spaces and dashes
    ignored."""
    text = unicodedata.normalize("NFKC", code or "").upper()
    return "".join(ch for ch in text if ch.isalnum())[:64]


def code_hash(code: str, label: str) -> str:
    """The stored form of a one-time code: SHA-256 of a label and the normalised code."""
    return hashlib.sha256(f"soe-portal/{label}/v1\0{normalise(code)}".encode()).hexdigest()


def new_recovery_codes(session: Session, user: StaffUser) -> list[str]:
    """Replace the account's recovery codes by ten new ones; returns them (shown once)."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == user.id))
    codes = [new_code() for _ in range(RECOVERY_CODE_COUNT)]
    session.add_all(
        RecoveryCode(staff_id=user.id, code_hash=code_hash(code, "recovery-code")) for code in codes
    )
    session.flush()
    return codes


def use_recovery_code(session: Session, user: StaffUser, code: str) -> bool:
    """Accept ``code`` once if it is one of the account's recovery codes (it is used up)."""
    if len(normalise(code)) != 16:
        return False
    used = session.execute(
        delete(RecoveryCode).where(
            RecoveryCode.staff_id == user.id,
            RecoveryCode.code_hash == code_hash(code, "recovery-code"),
        )
    )
    return used.rowcount == 1


def remove_recovery_codes(session: Session, user: StaffUser) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == user.id))


def recovery_codes_left(session: Session, user: StaffUser) -> int:
    return session.scalar(
        select(func.count()).select_from(RecoveryCode).where(RecoveryCode.staff_id == user.id)
    )
