"""Sealed identities: an X25519 identity kept at rest under a passphrase.

The sealed form is an armored age file with a single scrypt stanza holding the
identity line, so it can also be opened with ``age -d`` in an emergency. The public
key is stored next to it: it can be shown and used without the passphrase, and the
unsealed key is checked against it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from crypto.age import decrypt_bytes, encrypt_bytes
from crypto.errors import BadPassphrase, CryptoError, KeyFormatError, NoIdentityMatch
from crypto.keys import (
    DEFAULT_MAX_SCRYPT_LOG_N,
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    X25519Recipient,
    check_work_factor,
)

_PUBLIC_KEY_PREFIX = "# public key: "
_KEY_SEALED_LINE = "# sealed to: the key derived from the password"
_SESSION_LABEL = b"soe-portal/session-wrapped-identity/v1"


@dataclass(frozen=True)
class SealParams:
    """scrypt cost of sealing: log2 N with r=8, p=1 (N=2^18 needs 256 MiB, ~1 s).

    Lower only explicitly, in tests: ``SealParams(log_n=10)``. Both values must lie
    between 1 and MAX_SCRYPT_LOG_N (else WorkFactorError).
    """

    log_n: int = 18
    max_log_n: int = DEFAULT_MAX_SCRYPT_LOG_N

    def __post_init__(self) -> None:
        check_work_factor(self.log_n)
        check_work_factor(self.max_log_n)


DEFAULT_SEAL_PARAMS = SealParams()


@dataclass(frozen=True)
class SealedIdentity:
    """A sealed identity: its public key (usable without the passphrase) and the blob.

    ``under_key``: sealed to a key derived from the password (:func:`seal_identity_under_key`)
    rather than to the passphrase itself (scrypt stanza, :func:`seal_identity`).
    """

    recipient: X25519Recipient
    blob: bytes
    under_key: bool = False

    def dumps(self) -> str:
        """Text form: a ``# public key:`` line (and the mark of a key-sealed one) followed by
        the armored age file."""
        mark = f"{_KEY_SEALED_LINE}\n" if self.under_key else ""
        return f"{_PUBLIC_KEY_PREFIX}{self.recipient}\n{mark}{self.blob.decode('ascii')}"

    @classmethod
    def loads(cls, text: str) -> SealedIdentity:
        """Parse the text form written by :meth:`dumps`."""
        first, _, rest = text.partition("\n")
        if not first.startswith(_PUBLIC_KEY_PREFIX) or not rest:
            raise KeyFormatError("sealed identity must start with a public key line")
        recipient = X25519Recipient.parse(first.removeprefix(_PUBLIC_KEY_PREFIX))
        under_key = rest.startswith(_KEY_SEALED_LINE + "\n")
        if under_key:
            rest = rest.removeprefix(_KEY_SEALED_LINE + "\n")
        return cls(recipient, rest.encode("ascii"), under_key)


def seal_identity(
    identity: X25519Identity, passphrase: str, params: SealParams = DEFAULT_SEAL_PARAMS
) -> SealedIdentity:
    """Seal ``identity`` under ``passphrase`` with scrypt (cost from ``params``)."""
    if not passphrase:
        raise ValueError("an empty passphrase cannot seal a key")
    blob = encrypt_bytes(
        f"{identity.secret_key_text()}\n".encode("ascii"),
        [ScryptRecipient(passphrase, log_n=params.log_n)],
        armor=True,
    )
    return SealedIdentity(identity.recipient, blob)


def unseal_identity(
    sealed: SealedIdentity, passphrase: str, params: SealParams = DEFAULT_SEAL_PARAMS
) -> X25519Identity:
    """Open a sealed identity; a wrong passphrase raises BadPassphrase and nothing else.

    A blob asking for more scrypt work than ``params.max_log_n`` is refused unopened.
    """
    if sealed.under_key:
        raise BadPassphrase("wrong passphrase")
    try:
        plaintext = decrypt_bytes(sealed.blob, [ScryptIdentity(passphrase, params.max_log_n)])
    except NoIdentityMatch:
        raise BadPassphrase("wrong passphrase") from None
    return _checked_identity(sealed, plaintext)


def seal_identity_under_key(identity: X25519Identity, key: bytes) -> SealedIdentity:
    """Seal ``identity`` to the X25519 identity whose secret is ``key`` (32 bytes derived from
    the owner's password, ``crypto.passwords``): no work factor of its own, the derivation
    carries it. ``age -d`` opens it given ``X25519Identity(key)`` as an identity file."""
    blob = encrypt_bytes(
        f"{identity.secret_key_text()}\n".encode("ascii"),
        [X25519Identity(key).recipient],
        armor=True,
    )
    return SealedIdentity(identity.recipient, blob, under_key=True)


def unseal_identity_under_key(sealed: SealedIdentity, key: bytes) -> X25519Identity:
    """Open an identity sealed by :func:`seal_identity_under_key`; BadPassphrase if ``key`` is
    not the one (or the identity was sealed another way)."""
    if not sealed.under_key:
        raise BadPassphrase("wrong passphrase")
    try:
        plaintext = decrypt_bytes(sealed.blob, [X25519Identity(key)])
    except NoIdentityMatch:
        raise BadPassphrase("wrong passphrase") from None
    return _checked_identity(sealed, plaintext)


def _checked_identity(sealed: SealedIdentity, plaintext: bytes) -> X25519Identity:
    try:
        identity = X25519Identity.parse(plaintext.decode("ascii"))
    except (UnicodeDecodeError, KeyFormatError):
        raise CryptoError("sealed identity is corrupt") from None
    if identity.recipient != sealed.recipient:
        raise CryptoError("sealed identity does not match its public key")
    return identity


def wrap_for_session(identity: X25519Identity, associated_data: bytes = b"") -> tuple[bytes, bytes]:
    """Wrap an unsealed identity under a fresh random token: returns (token, wrapped).

    The server keeps ``wrapped``; only the browser session keeps ``token``, so the
    unsealed key works across server processes and dies with the session.
    ``associated_data`` (for example the session's id) binds the wrapped key to its place: it
    opens only with the same data.
    """
    token = ChaCha20Poly1305.generate_key()
    return token, wrap_under_token(identity, token, associated_data)


def wrap_under_token(identity: X25519Identity, token: bytes, associated_data: bytes = b"") -> bytes:
    """Wrap ``identity`` under an existing ``token`` (a session that holds several keys)."""
    if len(token) != 32:
        raise CryptoError("session key material is malformed")
    nonce = os.urandom(12)
    aad = _SESSION_LABEL + associated_data
    return nonce + ChaCha20Poly1305(token).encrypt(nonce, identity.secret_bytes, aad)


def unwrap_for_session(
    wrapped: bytes, token: bytes, associated_data: bytes = b""
) -> X25519Identity:
    """Reverse :func:`wrap_for_session`; a wrong token, changed blob or other associated data
    raises CryptoError."""
    if len(token) != 32 or len(wrapped) != 12 + 32 + 16:
        raise CryptoError("session key material is malformed")
    try:
        aad = _SESSION_LABEL + associated_data
        secret = ChaCha20Poly1305(token).decrypt(wrapped[:12], wrapped[12:], aad)
    except InvalidTag:
        raise CryptoError("session key does not open the wrapped identity") from None
    return X25519Identity(secret)
