"""Sealed identities: passphrase at rest, public key readable without it."""

from __future__ import annotations

import dataclasses

import pytest

from crypto.age import decrypt_bytes
from crypto.errors import BadPassphrase, CryptoError, HmacError, WorkFactorError
from crypto.keys import ScryptIdentity, X25519Identity
from crypto.sealing import (
    DEFAULT_SEAL_PARAMS,
    SealedIdentity,
    SealParams,
    seal_identity,
    unseal_identity,
    unwrap_for_session,
    wrap_for_session,
)

WEAK = SealParams(log_n=10)


def test_seal_and_unseal() -> None:
    identity = X25519Identity.generate()
    sealed = seal_identity(identity, "inspector passphrase", WEAK)
    assert sealed.recipient == identity.recipient
    assert identity.secret_key_text().encode() not in sealed.blob
    assert unseal_identity(sealed, "inspector passphrase", WEAK).secret_bytes == (
        identity.secret_bytes
    )


def test_wrong_passphrase_is_bad_passphrase_without_detail() -> None:
    sealed = seal_identity(X25519Identity.generate(), "right", WEAK)
    with pytest.raises(BadPassphrase) as caught:
        unseal_identity(sealed, "wrong", WEAK)
    assert str(caught.value) == "wrong passphrase"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_text_form_shows_public_key_without_passphrase() -> None:
    identity = X25519Identity.generate()
    text = seal_identity(identity, "pw", WEAK).dumps()
    assert text.startswith(f"# public key: {identity.recipient}\n-----BEGIN AGE")
    loaded = SealedIdentity.loads(text)
    assert loaded.recipient == identity.recipient
    assert unseal_identity(loaded, "pw", WEAK).recipient == identity.recipient


def test_sealed_blob_is_a_standard_age_file() -> None:
    identity = X25519Identity.generate()
    sealed = seal_identity(identity, "pw", WEAK)
    assert (
        decrypt_bytes(sealed.blob, [ScryptIdentity("pw")])
        == f"{identity.secret_key_text()}\n".encode()
    )


def test_defaults_are_production_strength() -> None:
    assert DEFAULT_SEAL_PARAMS.log_n >= 18
    assert SealParams().log_n >= 18


def test_swapped_public_key_is_detected() -> None:
    sealed = seal_identity(X25519Identity.generate(), "pw", WEAK)
    forged = dataclasses.replace(sealed, recipient=X25519Identity.generate().recipient)
    with pytest.raises(CryptoError, match="does not match"):
        unseal_identity(forged, "pw", WEAK)


def test_tampered_or_too_costly_blob_is_refused() -> None:
    sealed = seal_identity(X25519Identity.generate(), "pw", SealParams(log_n=12))
    with pytest.raises(WorkFactorError):
        unseal_identity(sealed, "pw", SealParams(log_n=10, max_log_n=11))
    lines = sealed.blob.split(b"\n")
    # Flip a base64 character inside the MAC line region of the armored header.
    lines[3] = lines[3][:10] + (b"A" if lines[3][10:11] != b"A" else b"B") + lines[3][11:]
    with pytest.raises((HmacError, BadPassphrase, CryptoError)):
        unseal_identity(dataclasses.replace(sealed, blob=b"\n".join(lines)), "pw", WEAK)


def test_session_wrapping() -> None:
    identity = X25519Identity.generate()
    token, wrapped = wrap_for_session(identity)
    assert identity.secret_bytes not in wrapped
    assert unwrap_for_session(wrapped, token).recipient == identity.recipient
    other_token, _ = wrap_for_session(identity)
    with pytest.raises(CryptoError):
        unwrap_for_session(wrapped, other_token)
