"""Interoperability with the reference ``age`` command line tool, in both directions."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from crypto.age import decrypt_bytes, encrypt_bytes, rewrap
from crypto.errors import NoIdentityMatch
from crypto.keys import (
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    X25519Recipient,
    parse_identities_file,
)
from tests.helpers.crypto_tools import age, age_keygen, age_with_passphrase

pytestmark = pytest.mark.agecli


def _write_identity(path: Path, identity: X25519Identity) -> Path:
    path.write_text(f"# public key: {identity.recipient}\n{identity.secret_key_text()}\n")
    return path


def test_age_keygen_keys_load_in_ours(tmp_path: Path) -> None:
    result = age_keygen("-o", str(tmp_path / "key.txt"))
    assert result.returncode == 0
    text = (tmp_path / "key.txt").read_text()
    (identity,) = parse_identities_file(text)
    assert f"# public key: {identity.recipient}" in text
    assert identity.secret_key_text() in text


def test_our_keys_load_in_age_keygen(tmp_path: Path) -> None:
    identity = X25519Identity.generate()
    result = age_keygen("-y", str(_write_identity(tmp_path / "key.txt", identity)))
    assert result.returncode == 0
    assert result.stdout.decode().strip() == str(identity.recipient)


@pytest.mark.parametrize("armor", [False, True])
@pytest.mark.parametrize("size", [0, 1000, 200_000])
def test_age_decrypts_ours_x25519(tmp_path: Path, armor: bool, size: int) -> None:
    identities = [X25519Identity.generate() for _ in range(3)]
    plaintext = os.urandom(size)
    ciphertext = encrypt_bytes(plaintext, [i.recipient for i in identities], armor=armor)
    for identity in identities:
        key = _write_identity(tmp_path / "key.txt", identity)
        result = age("-d", "-i", str(key), input=ciphertext)
        assert result.returncode == 0, result.stderr
        assert result.stdout == plaintext
    stranger = _write_identity(tmp_path / "stranger.txt", X25519Identity.generate())
    assert age("-d", "-i", str(stranger), input=ciphertext).returncode != 0


def test_age_rejects_our_file_when_tampered(tmp_path: Path) -> None:
    identity = X25519Identity.generate()
    ciphertext = bytearray(encrypt_bytes(b"x" * 5000, [identity.recipient]))
    ciphertext[-20] ^= 1
    key = _write_identity(tmp_path / "key.txt", identity)
    assert age("-d", "-i", str(key), input=bytes(ciphertext)).returncode != 0


@pytest.mark.parametrize("armor", [False, True])
def test_ours_decrypts_age_x25519(tmp_path: Path, armor: bool) -> None:
    identities = [X25519Identity.generate() for _ in range(2)]
    plaintext = os.urandom(150_000)
    args = [arg for i in identities for arg in ("-r", str(i.recipient))]
    result = age(*args, *(["-a"] if armor else []), input=plaintext)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"-----BEGIN" if armor else b"age-encryption.org/v1\n")
    for identity in identities:
        assert decrypt_bytes(result.stdout, [identity]) == plaintext


def test_age_decrypts_our_passphrase_file(tmp_path: Path) -> None:
    ciphertext = encrypt_bytes(b"sealed words", [ScryptRecipient("it is a secret", log_n=10)])
    (tmp_path / "in.age").write_bytes(ciphertext)
    status, transcript = age_with_passphrase(
        ["-d", "-o", str(tmp_path / "out"), str(tmp_path / "in.age")], "it is a secret"
    )
    assert status == 0, transcript
    assert (tmp_path / "out").read_bytes() == b"sealed words"


@pytest.mark.slow
@pytest.mark.parametrize("armor", [False, True])
def test_ours_decrypts_age_passphrase_file(tmp_path: Path, armor: bool) -> None:
    (tmp_path / "in").write_bytes(b"typed at a terminal")
    out = tmp_path / "out.age"
    args = ["-p", *(["-a"] if armor else []), "-o", str(out), str(tmp_path / "in")]
    status, transcript = age_with_passphrase(args, "correct horse battery")
    assert status == 0, transcript
    ciphertext = out.read_bytes()
    assert decrypt_bytes(ciphertext, [ScryptIdentity("correct horse battery")]) == (
        b"typed at a terminal"
    )
    with pytest.raises(NoIdentityMatch):
        decrypt_bytes(ciphertext, [ScryptIdentity("wrong horse battery")])


def test_rewrapped_file_opens_with_age_and_drops_old_recipient(tmp_path: Path) -> None:
    old, kept, new = (X25519Identity.generate() for _ in range(3))
    plaintext = os.urandom(70_000)
    result = age("-r", str(old.recipient), "-r", str(kept.recipient), input=plaintext)
    assert result.returncode == 0
    out = io.BytesIO()
    rewrap(io.BytesIO(result.stdout), out, [kept], [kept.recipient, new.recipient])
    rewrapped = out.getvalue()
    payload_size = len(plaintext) + 2 * 16 + 16
    assert rewrapped[-payload_size:] == result.stdout[-payload_size:]
    for identity in (kept, new):
        key = _write_identity(tmp_path / "key.txt", identity)
        opened = age("-d", "-i", str(key), input=rewrapped)
        assert opened.returncode == 0, opened.stderr
        assert opened.stdout == plaintext
    dropped = _write_identity(tmp_path / "old.txt", old)
    assert age("-d", "-i", str(dropped), input=rewrapped).returncode != 0
    with pytest.raises(NoIdentityMatch):
        decrypt_bytes(rewrapped, [old])


def test_recipient_strings_match_age_keygen(tmp_path: Path) -> None:
    result = age_keygen()
    text = result.stdout.decode()
    (identity,) = parse_identities_file(text)
    public = next(line for line in text.splitlines() if line.startswith("# public key: "))
    recipient = X25519Recipient.parse(public.removeprefix("# public key: "))
    assert recipient == identity.recipient
