"""Staff passwords: one memory-hard derivation gives the login verifier and the sealing key.

``scrypt(password, salt)`` is computed once; HKDF-SHA256 with two labels turns its output into
the verifier kept in the database and the key that seals the account's identity, which is never
kept. A guess against a stolen record costs one scrypt of the sealing cost, exactly as a guess
against the sealed identity does: the login hash is no cheaper way in.

A record reads ``scrypt-hkdf$<log_n>$<salt>$<verifier>`` (base64 without padding). The identity
sealed under the derived key is an armored age file to the X25519 recipient whose secret is that
key, so in an emergency ``age -d`` opens it with that key written as ``AGE-SECRET-KEY-1...``
(``crypto.sealing.seal_identity_under_key``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.errors import KeyFormatError, WorkFactorError
from crypto.keys import _scrypt, check_work_factor
from crypto.sealing import SealParams

RECORD_SCHEME = "scrypt-hkdf"
_SALT_BYTES = 16
_VERIFIER_LABEL = b"soe-portal/staff-password/login-verifier/v1"
_SEAL_LABEL = b"soe-portal/staff-password/identity-seal/v1"
# A salt for the derivation that answers for an account that does not exist (same cost).
_NOBODY_SALT = b"\x00" * _SALT_BYTES


@dataclass(frozen=True)
class PasswordKeys:
    """What one derivation of a password gives: the verifier (stored) and the seal key (not)."""

    verifier: bytes
    seal_key: bytes

    def __repr__(self) -> str:  # never the keys in a log line or a traceback
        return "PasswordKeys(...)"


@dataclass(frozen=True)
class PasswordRecord:
    """A stored record: the work factor, the salt and the verifier."""

    log_n: int
    salt: bytes
    verifier: bytes

    def dumps(self) -> str:
        """The text kept in the database."""
        return "$".join((RECORD_SCHEME, str(self.log_n), _b64(self.salt), _b64(self.verifier)))

    @classmethod
    def loads(cls, text: str) -> PasswordRecord:
        """Parse :meth:`dumps`; KeyFormatError for anything else."""
        parts = text.split("$")
        if len(parts) != 4 or parts[0] != RECORD_SCHEME or not parts[1].isdigit():
            raise KeyFormatError("not a scrypt-hkdf password record")
        try:
            salt, verifier = _unb64(parts[2]), _unb64(parts[3])
        except (binascii.Error, ValueError):
            raise KeyFormatError("password record is not base64") from None
        if len(salt) != _SALT_BYTES or len(verifier) != 32:
            raise KeyFormatError("password record has the wrong lengths")
        return cls(int(parts[1]), salt, verifier)


def is_record(text: str) -> bool:
    """Whether ``text`` is a record of this scheme (else an older form or no password)."""
    return text.startswith(RECORD_SCHEME + "$")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _expand(master: bytes, label: bytes) -> bytes:
    return HKDF(SHA256(), length=32, salt=None, info=label).derive(master)


def derive(password: str, salt: bytes, log_n: int) -> PasswordKeys:
    """The one scrypt of ``password`` (N = 2^log_n, r=8, p=1), split by labels."""
    if not password:
        raise ValueError("an empty password derives nothing")
    master = _scrypt(password.encode("utf-8"), salt, check_work_factor(log_n))
    return PasswordKeys(_expand(master, _VERIFIER_LABEL), _expand(master, _SEAL_LABEL))


def new_record(password: str, params: SealParams) -> tuple[PasswordRecord, PasswordKeys]:
    """A record for a new password, with a fresh salt, and its keys."""
    salt = os.urandom(_SALT_BYTES)
    keys = derive(password, salt, params.log_n)
    return PasswordRecord(params.log_n, salt, keys.verifier), keys


def check(record: PasswordRecord, password: str, params: SealParams) -> PasswordKeys | None:
    """The keys of ``password`` if it matches ``record``, else None.

    A record asking for more work than ``params.max_log_n`` raises WorkFactorError unopened.
    """
    if record.log_n > params.max_log_n:
        raise WorkFactorError("the password record asks for more work than allowed")
    keys = derive(password or " ", record.salt, record.log_n)
    return keys if hmac.compare_digest(keys.verifier, record.verifier) else None


def check_nobody(password: str, params: SealParams) -> None:
    """Spend what :func:`check` spends, for an account that does not exist or has no password."""
    derive(password or " ", _NOBODY_SALT, params.log_n)
