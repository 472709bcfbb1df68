"""One derivation of a staff password: verifier and seal key apart by label, equal cost."""

from __future__ import annotations

import subprocess

import pytest

from crypto import X25519Identity, passwords
from crypto.errors import BadPassphrase, CryptoError, KeyFormatError, WorkFactorError
from crypto.sealing import (
    SealedIdentity,
    SealParams,
    seal_identity,
    seal_identity_under_key,
    unseal_identity,
    unseal_identity_under_key,
    unwrap_for_session,
    wrap_for_session,
)

WEAK = SealParams(log_n=10)


def test_one_scrypt_gives_the_verifier_and_the_seal_key(monkeypatch):
    calls = []
    real = passwords._scrypt
    monkeypatch.setattr(passwords, "_scrypt", lambda *a: calls.append(a) or real(*a))
    record, derived = passwords.new_record("纪检员的口令 passphrase", WEAK)
    assert len(calls) == 1 and record.log_n == WEAK.log_n
    assert derived.verifier == record.verifier and derived.seal_key != derived.verifier
    again = passwords.check(
        passwords.PasswordRecord.loads(record.dumps()), "纪检员的口令 passphrase", WEAK
    )
    assert len(calls) == 2 and again.seal_key == derived.seal_key
    assert passwords.check(record, "纪检员的口令 passphrasE", WEAK) is None
    assert "seal" not in repr(derived) and derived.seal_key.hex() not in repr(derived)


def test_records_are_strict():
    record, _ = passwords.new_record("口令 passphrase", WEAK)
    text = record.dumps()
    assert text.startswith("scrypt-hkdf$10$") and passwords.is_record(text)
    for bad in (text.replace("$10$", "$x$"), text + "$", text[:-3], "scrypt:32768:8:1$a$b"):
        with pytest.raises(KeyFormatError):
            passwords.PasswordRecord.loads(bad)
    costly = passwords.PasswordRecord(21, record.salt, record.verifier)
    with pytest.raises(WorkFactorError):
        passwords.check(costly, "口令 passphrase", SealParams(log_n=10, max_log_n=20))


def test_the_key_sealed_identity_opens_only_with_its_key_and_not_as_a_passphrase():
    identity = X25519Identity.generate()
    _, derived = passwords.new_record("口令 passphrase", WEAK)
    sealed = SealedIdentity.loads(seal_identity_under_key(identity, derived.seal_key).dumps())
    assert sealed.under_key
    assert unseal_identity_under_key(sealed, derived.seal_key).secret_bytes == identity.secret_bytes
    with pytest.raises(BadPassphrase):
        unseal_identity_under_key(sealed, bytes(32))
    with pytest.raises(BadPassphrase):
        unseal_identity(sealed, "口令 passphrase", WEAK)
    older = seal_identity(identity, "口令 passphrase", WEAK)
    with pytest.raises(BadPassphrase):
        unseal_identity_under_key(older, derived.seal_key)


@pytest.mark.agecli
def test_age_opens_a_key_sealed_identity_with_the_derived_key(tmp_path):
    identity = X25519Identity.generate()
    _, derived = passwords.new_record("口令 passphrase", WEAK)
    sealed = seal_identity_under_key(identity, derived.seal_key)
    key_file = tmp_path / "derived.key"
    key_file.write_text(X25519Identity(derived.seal_key).secret_key_text() + "\n")
    out = subprocess.run(
        ["/usr/bin/age", "-d", "-i", str(key_file)],
        input=sealed.blob,
        capture_output=True,
        check=True,
    )
    assert out.stdout.decode().strip() == identity.secret_key_text()


def test_a_wrapped_identity_is_bound_to_its_associated_data():
    identity = X25519Identity.generate()
    token, wrapped = wrap_for_session(identity, b"session-a")
    assert unwrap_for_session(wrapped, token, b"session-a").secret_bytes == identity.secret_bytes
    for token_, data in ((token, b"session-b"), (token, b""), (bytes(32), b"session-a")):
        with pytest.raises(CryptoError):
            unwrap_for_session(wrapped, token_, data)
