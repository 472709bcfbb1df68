"""age recipients and identities: X25519 keys and scrypt passphrases.

A recipient wraps a file key into stanzas; an identity tries to unwrap one stanza and
returns None when the stanza is not for it, or raises HeaderError when the stanza is
malformed (a malformed stanza is an attack or a bug, never "not mine").
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from crypto import bech32
from crypto.errors import HeaderError, KeyFormatError, WorkFactorError
from crypto.format import Stanza, b64decode, b64encode

FILE_KEY_SIZE = 16
_ZERO_NONCE = bytes(12)
X25519_LABEL = b"age-encryption.org/v1/X25519"
SCRYPT_LABEL = b"age-encryption.org/v1/scrypt"
RECIPIENT_HRP = "age"
IDENTITY_HRP = "AGE-SECRET-KEY-"
DEFAULT_SCRYPT_LOG_N = 18
# The one cap on scrypt work (log2 N, r=8, p=1) for files read and written: age's own
# default limit, so every passphrase file the age CLI opens opens here. N=2^22 needs
# 128 * 8 * 2^22 bytes = 4 GiB and about 15 s.
MAX_SCRYPT_LOG_N = 22
DEFAULT_MAX_SCRYPT_LOG_N = MAX_SCRYPT_LOG_N
_DECIMAL = re.compile(r"[1-9][0-9]*")
# Clamping turns every X25519 scalar into 8 * k with 0 < k below the large prime orders
# of the curve and its twist, so an exchange with this fixed (public) scalar is all zero
# exactly for points of order 1, 2, 4 or 8, whatever their encoding: X25519 ignores the
# top bit and reduces u modulo p.
_LOW_ORDER_PROBE = X25519PrivateKey.from_private_bytes(bytes(range(32)))


class Recipient(Protocol):
    """Something a file can be encrypted to."""

    def wrap(self, file_key: bytes) -> list[Stanza]:
        """Return the stanzas that carry ``file_key`` for this recipient."""
        ...


class Identity(Protocol):
    """Something that can open a file."""

    def unwrap(self, stanza: Stanza) -> bytes | None:
        """Return the file key from ``stanza``, or None if the stanza is not for us."""
        ...


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA256 as used by age (empty salt allowed)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def _aead_unwrap(key: bytes, body: bytes) -> bytes | None:
    if len(body) != FILE_KEY_SIZE + 16:
        # Checked before decrypting so a long body is a header error, not "not mine".
        raise HeaderError("stanza body has the wrong size for a file key")
    try:
        return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, body, None)
    except InvalidTag:
        return None


@dataclass(frozen=True)
class X25519Recipient:
    """An X25519 public key, written ``age1...``."""

    public_bytes: bytes

    def __post_init__(self) -> None:
        if len(self.public_bytes) != 32:
            raise KeyFormatError("an X25519 public key is 32 bytes")
        try:
            _LOW_ORDER_PROBE.exchange(X25519PublicKey.from_public_bytes(self.public_bytes))
        except ValueError:
            # Every file key wrapped to it would be readable by anyone.
            raise KeyFormatError("X25519 public key is a low-order point") from None

    @classmethod
    def parse(cls, text: str) -> X25519Recipient:
        """Parse an ``age1...`` recipient string."""
        if text.lower() != text:
            raise KeyFormatError("recipient must be lower case")
        hrp, data = bech32.decode(text.strip())
        if hrp != RECIPIENT_HRP:
            raise KeyFormatError("not an age X25519 recipient (expected age1...)")
        return cls(data)

    def __str__(self) -> str:
        return bech32.encode(RECIPIENT_HRP, self.public_bytes)

    def wrap(self, file_key: bytes) -> list[Stanza]:
        """Wrap ``file_key`` under an ephemeral X25519 share."""
        ephemeral = X25519PrivateKey.generate()
        share = ephemeral.public_key().public_bytes_raw()
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(self.public_bytes))
        key = hkdf_sha256(shared, share + self.public_bytes, X25519_LABEL)
        body = ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)
        return [Stanza("X25519", [b64encode(share)], body)]


class X25519Identity:
    """An X25519 private key, written ``AGE-SECRET-KEY-1...`` by :meth:`secret_key_text`.

    ``str()``, ``repr()`` and f-strings show only the recipient, so a log line or a
    message cannot carry the secret by accident.
    """

    __slots__ = ("_key", "_secret", "recipient")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise KeyFormatError("an X25519 secret key is 32 bytes")
        self._secret = bytes(secret)
        self._key = X25519PrivateKey.from_private_bytes(self._secret)
        self.recipient = X25519Recipient(self._key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> X25519Identity:
        """A new random identity from the OS CSPRNG."""
        return cls(os.urandom(32))

    @classmethod
    def parse(cls, text: str) -> X25519Identity:
        """Parse an ``AGE-SECRET-KEY-1...`` string."""
        text = text.strip()
        if text.upper() != text:
            raise KeyFormatError("secret key must be upper case")
        hrp, data = bech32.decode(text)
        if hrp != IDENTITY_HRP.lower():
            raise KeyFormatError("not an age X25519 secret key (expected AGE-SECRET-KEY-1...)")
        return cls(data)

    @property
    def secret_bytes(self) -> bytes:
        """The raw 32-byte scalar (handle with care)."""
        return self._secret

    def secret_key_text(self) -> str:
        """The secret key as ``AGE-SECRET-KEY-1...``, for an identity file (handle with care)."""
        return bech32.encode(IDENTITY_HRP, self._secret)

    def __repr__(self) -> str:
        return f"X25519Identity(recipient={self.recipient})"

    __str__ = __repr__

    def unwrap(self, stanza: Stanza) -> bytes | None:
        """Open an ``X25519`` stanza addressed to this key."""
        if stanza.type != "X25519":
            return None
        if len(stanza.args) != 1:
            raise HeaderError("X25519 stanza must have exactly one argument")
        share = b64decode(stanza.args[0])
        if len(share) != 32:
            raise HeaderError("X25519 share must be 32 bytes")
        if len(stanza.body) != FILE_KEY_SIZE + 16:
            raise HeaderError("X25519 stanza body has the wrong size")
        try:
            shared = self._key.exchange(X25519PublicKey.from_public_bytes(share))
        except ValueError:
            shared = bytes(32)
        if hmac.compare_digest(shared, bytes(32)):
            raise HeaderError("X25519 share is a low-order point")
        key = hkdf_sha256(shared, share + self.recipient.public_bytes, X25519_LABEL)
        return _aead_unwrap(key, stanza.body)


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    return passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)


def check_work_factor(log_n: int) -> int:
    """Return ``log_n`` if it is a work factor we run (1 to MAX_SCRYPT_LOG_N), else raise.

    Raises WorkFactorError (a HeaderError and a ValueError).
    """
    if isinstance(log_n, bool) or not isinstance(log_n, int):
        raise WorkFactorError("scrypt work factor must be an integer")
    if not 1 <= log_n <= MAX_SCRYPT_LOG_N:
        raise WorkFactorError(f"scrypt work factor must be between 1 and {MAX_SCRYPT_LOG_N}")
    return log_n


def _scrypt(passphrase: bytes, salt: bytes, log_n: int) -> bytes:
    # Not hashlib.scrypt: its maxmem must stay below 2 GiB, so work factors 21 and 22
    # (2 and 4 GiB), which age accepts, would fail. This Scrypt takes the memory the
    # parameters need (128 * r * N bytes), which the cap bounds.
    check_work_factor(log_n)
    kdf = Scrypt(salt=SCRYPT_LABEL + salt, length=32, n=1 << log_n, r=8, p=1)
    try:
        return kdf.derive(passphrase)
    except MemoryError:
        mib = 128 * 8 * (1 << log_n) // (1024 * 1024)
        raise WorkFactorError(
            f"not enough memory for scrypt work factor {log_n} ({mib} MiB)"
        ) from None


@dataclass(frozen=True)
class ScryptRecipient:
    """A passphrase recipient; it must be the only recipient of a file."""

    passphrase: bytes
    log_n: int = DEFAULT_SCRYPT_LOG_N

    def __init__(self, passphrase: str | bytes, log_n: int = DEFAULT_SCRYPT_LOG_N) -> None:
        check_work_factor(log_n)
        object.__setattr__(self, "passphrase", _passphrase_bytes(passphrase))
        object.__setattr__(self, "log_n", log_n)

    def __repr__(self) -> str:
        return f"ScryptRecipient(log_n={self.log_n})"

    def wrap(self, file_key: bytes) -> list[Stanza]:
        """Wrap ``file_key`` under a key derived from the passphrase."""
        salt = os.urandom(16)
        key = _scrypt(self.passphrase, salt, self.log_n)
        body = ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)
        return [Stanza("scrypt", [b64encode(salt), str(self.log_n)], body)]


@dataclass(frozen=True)
class ScryptIdentity:
    """A passphrase identity; refuses work factors above ``max_log_n`` before any work.

    ``max_log_n`` may lower the package's cap (MAX_SCRYPT_LOG_N), never raise it.
    """

    passphrase: bytes
    max_log_n: int = DEFAULT_MAX_SCRYPT_LOG_N

    def __init__(self, passphrase: str | bytes, max_log_n: int = DEFAULT_MAX_SCRYPT_LOG_N) -> None:
        check_work_factor(max_log_n)
        object.__setattr__(self, "passphrase", _passphrase_bytes(passphrase))
        object.__setattr__(self, "max_log_n", max_log_n)

    def __repr__(self) -> str:
        return f"ScryptIdentity(max_log_n={self.max_log_n})"

    def unwrap(self, stanza: Stanza) -> bytes | None:
        """Open an ``scrypt`` stanza if the passphrase is right."""
        if stanza.type != "scrypt":
            return None
        if len(stanza.args) != 2:
            raise HeaderError("scrypt stanza must have exactly two arguments")
        salt = b64decode(stanza.args[0])
        if len(salt) != 16:
            raise HeaderError("scrypt salt must be 16 bytes")
        factor = stanza.args[1]
        if not _DECIMAL.fullmatch(factor):
            raise HeaderError("scrypt work factor is not a canonical decimal")
        # Length first: int() of thousands of digits is slow, and refused past 4,300.
        if len(factor) > len(str(self.max_log_n)) or int(factor) > self.max_log_n:
            raise WorkFactorError(f"scrypt work factor is above the limit {self.max_log_n}")
        log_n = int(factor)
        if len(stanza.body) != FILE_KEY_SIZE + 16:
            raise HeaderError("scrypt stanza body has the wrong size")
        return _aead_unwrap(_scrypt(self.passphrase, salt, log_n), stanza.body)


def parse_recipient(text: str) -> X25519Recipient:
    """Parse one recipient string (``age1...``)."""
    return X25519Recipient.parse(text)


def parse_identity(text: str) -> X25519Identity:
    """Parse one identity string (``AGE-SECRET-KEY-1...``)."""
    return X25519Identity.parse(text)


def _key_lines(text: str) -> Iterable[str]:
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            yield line


def parse_identities_file(text: str) -> list[X25519Identity]:
    """Parse an identity file as written by age-keygen (comments and blank lines ignored)."""
    identities = [X25519Identity.parse(line) for line in _key_lines(text)]
    if not identities:
        raise KeyFormatError("no identities found in file")
    return identities


def parse_recipients_file(text: str) -> list[X25519Recipient]:
    """Parse a recipients file: one ``age1...`` per line, comments and blank lines ignored."""
    recipients = [X25519Recipient.parse(line) for line in _key_lines(text)]
    if not recipients:
        raise KeyFormatError("no recipients found in file")
    return recipients
