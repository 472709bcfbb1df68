"""Behaviour of our age implementation on its own: round trips, tampering, limits."""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path

import pytest

from crypto import bech32
from crypto.age import decrypt, decrypt_bytes, decrypt_stream, encrypt, encrypt_bytes, rewrap
from crypto.errors import (
    ArmorError,
    HeaderError,
    HmacError,
    KeyFormatError,
    NoIdentityMatch,
    PayloadError,
    WorkFactorError,
)
from crypto.format import b64decode
from crypto.keys import ScryptIdentity, ScryptRecipient, X25519Identity, X25519Recipient
from crypto.stream import CHUNK_SIZE, ENCRYPTED_CHUNK_SIZE

FAST_LOG_N = 4


class PatternSource(io.RawIOBase):
    """``size`` bytes of a repeating pattern, produced on demand (never held in memory)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.remaining = size
        self.block = bytes(range(256)) * 4096

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.remaining, len(self.block))
        buffer[:n] = self.block[:n]
        self.remaining -= n
        return n


class NullSink(io.RawIOBase):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.count += len(data)
        return len(data)


@pytest.fixture(scope="module")
def alice() -> X25519Identity:
    return X25519Identity.generate()


@pytest.fixture(scope="module")
def bob() -> X25519Identity:
    return X25519Identity.generate()


@pytest.mark.parametrize(
    "size",
    [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE + 5],
)
def test_round_trip_at_chunk_boundaries(alice: X25519Identity, size: int) -> None:
    plaintext = os.urandom(size)
    ciphertext = encrypt_bytes(plaintext, [alice.recipient])
    chunks = max(1, -(-size // CHUNK_SIZE))
    header_len = ciphertext.index(b"\n---") + 1 + len("--- ") + 43 + 1
    # No empty final chunk unless the whole plaintext is empty.
    assert len(ciphertext) - header_len - 16 == size + 16 * chunks
    assert decrypt_bytes(ciphertext, [alice]) == plaintext


def test_small_writes_equal_one_write(alice: X25519Identity) -> None:
    plaintext = os.urandom(3 * CHUNK_SIZE)
    out = io.BytesIO()
    with encrypt(out, [alice.recipient]) as writer:
        for i in range(0, len(plaintext), 1000):
            writer.write(plaintext[i : i + 1000])
    assert decrypt_bytes(out.getvalue(), [alice]) == plaintext


def test_several_recipients_each_open(alice: X25519Identity, bob: X25519Identity) -> None:
    ciphertext = encrypt_bytes(b"tip", [alice.recipient, bob.recipient])
    assert decrypt_bytes(ciphertext, [alice]) == b"tip"
    assert decrypt_bytes(ciphertext, [bob]) == b"tip"


def test_wrong_key_is_no_match(alice: X25519Identity, bob: X25519Identity) -> None:
    ciphertext = encrypt_bytes(b"tip", [alice.recipient])
    with pytest.raises(NoIdentityMatch):
        decrypt_bytes(ciphertext, [bob])


def test_armored_round_trip_and_detection(alice: X25519Identity) -> None:
    plaintext = os.urandom(100_000)
    armored = encrypt_bytes(plaintext, [alice.recipient], armor=True)
    assert armored.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----\n")
    assert all(len(line) <= 64 for line in armored.split(b"\n"))
    assert decrypt_bytes(armored, [alice]) == plaintext
    with pytest.raises(ArmorError):
        decrypt_bytes(armored.replace(b"\n", b"\r\n ", 2), [alice])


def test_tampered_payload_fails_at_the_damaged_chunk(alice: X25519Identity) -> None:
    plaintext = os.urandom(3 * CHUNK_SIZE)
    ciphertext = bytearray(encrypt_bytes(plaintext, [alice.recipient]))
    ciphertext[-ENCRYPTED_CHUNK_SIZE - 100] ^= 1  # inside the second chunk
    released = bytearray()
    with pytest.raises(PayloadError):
        for chunk in decrypt(io.BytesIO(bytes(ciphertext)), [alice]):
            released += chunk
    assert released == plaintext[:CHUNK_SIZE]


def test_truncated_and_extended_payload_fail(alice: X25519Identity) -> None:
    ciphertext = encrypt_bytes(os.urandom(2 * CHUNK_SIZE + 10), [alice.recipient])
    cut = len(ciphertext) - (CHUNK_SIZE // 2)
    for damaged in (ciphertext[:cut], ciphertext[: -10 - 16], ciphertext + b"\0"):
        with pytest.raises(PayloadError):
            decrypt_bytes(damaged, [alice])


def test_changed_header_fails_mac(alice: X25519Identity, bob: X25519Identity) -> None:
    ciphertext = encrypt_bytes(b"tip", [alice.recipient, bob.recipient])
    # Drop bob's stanza: alice still unwraps the file key, but the MAC covers the header.
    lines = ciphertext.split(b"\n")
    tampered = b"\n".join(lines[:3] + lines[5:])
    with pytest.raises(HmacError):
        decrypt_bytes(tampered, [alice])


def test_header_is_verified_before_decrypt_returns(alice: X25519Identity) -> None:
    with pytest.raises(HeaderError):
        decrypt(io.BytesIO(b"age-encryption.org/v2\n"), [alice])
    with pytest.raises(HeaderError):
        decrypt(io.BytesIO(b"not an age file at all"), [alice])


def test_unknown_stanzas_are_skipped(alice: X25519Identity) -> None:
    from crypto import age
    from crypto.format import Stanza

    class Grease:
        def wrap(self, file_key: bytes) -> list[Stanza]:
            return [Stanza("example.com/grease", ["a", "b!"], os.urandom(70))]

    ciphertext = encrypt_bytes(b"tip", [Grease(), alice.recipient])  # type: ignore[list-item]
    assert age.decrypt_bytes(ciphertext, [alice]) == b"tip"


def test_passphrase_round_trip_and_wrong_passphrase() -> None:
    ciphertext = encrypt_bytes(b"tip", [ScryptRecipient("correct horse", log_n=FAST_LOG_N)])
    assert decrypt_bytes(ciphertext, [ScryptIdentity("correct horse")]) == b"tip"
    with pytest.raises(NoIdentityMatch):
        decrypt_bytes(ciphertext, [ScryptIdentity("wrong horse")])


def test_scrypt_work_factor_cap_is_enforced_before_work() -> None:
    ciphertext = encrypt_bytes(b"tip", [ScryptRecipient("pw", log_n=10)])
    with pytest.raises(WorkFactorError):
        decrypt_bytes(ciphertext, [ScryptIdentity("pw", max_log_n=9)])
    assert decrypt_bytes(ciphertext, [ScryptIdentity("pw", max_log_n=10)]) == b"tip"
    # A forged log N of 40 would need 128 TiB; refusing must be instant.
    forged = ciphertext.replace(b" 10\n", b" 40\n", 1)
    with pytest.raises(WorkFactorError):
        decrypt_bytes(forged, [ScryptIdentity("pw")])


def test_scrypt_must_be_alone(alice: X25519Identity) -> None:
    with pytest.raises(ValueError, match="only recipient"):
        encrypt_bytes(b"x", [ScryptRecipient("pw", log_n=FAST_LOG_N), alice.recipient])


def test_streaming_memory_does_not_grow(alice: X25519Identity, tmp_path: Path) -> None:
    size = 24 * 1024 * 1024
    ciphertext = (tmp_path / "big.age").open("w+b")
    tracemalloc.start()
    try:
        with encrypt(ciphertext, [alice.recipient]) as writer:
            source = PatternSource(size)
            buffer = memoryview(bytearray(1024 * 1024))
            while n := source.readinto(buffer):
                writer.write(buffer[:n])
        _, encrypt_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        ciphertext.seek(0)
        sink = NullSink()
        decrypt_stream(ciphertext, sink, [alice])
        _, decrypt_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        ciphertext.close()
    assert sink.count == size
    assert encrypt_peak < 4 * 1024 * 1024
    assert decrypt_peak < 4 * 1024 * 1024


def test_plaintext_is_released_before_the_file_is_read(alice: X25519Identity) -> None:
    ciphertext = encrypt_bytes(os.urandom(8 * CHUNK_SIZE), [alice.recipient])
    src = io.BytesIO(ciphertext)
    first = next(iter(decrypt(src, [alice])))
    assert len(first) == CHUNK_SIZE
    assert src.tell() < len(ciphertext) // 2


def test_rewrap_keeps_payload_and_changes_access(
    alice: X25519Identity, bob: X25519Identity
) -> None:
    carol = X25519Identity.generate()
    plaintext = os.urandom(CHUNK_SIZE + 7)
    original = encrypt_bytes(plaintext, [alice.recipient, bob.recipient])
    out = io.BytesIO()
    rewrap(io.BytesIO(original), out, [alice], [alice.recipient, carol.recipient])
    rewrapped = out.getvalue()
    payload = len(plaintext) + 2 * 16 + 16
    assert rewrapped[-payload:] == original[-payload:]
    assert decrypt_bytes(rewrapped, [carol]) == plaintext
    assert decrypt_bytes(rewrapped, [alice]) == plaintext
    with pytest.raises(NoIdentityMatch):
        decrypt_bytes(rewrapped, [bob])
    with pytest.raises(NoIdentityMatch):
        rewrap(io.BytesIO(original), io.BytesIO(), [carol], [carol.recipient])


def test_keys_round_trip_through_strings(alice: X25519Identity) -> None:
    text = alice.secret_key_text()
    assert text.startswith("AGE-SECRET-KEY-1") and text.isupper()
    assert X25519Identity.parse(text).recipient == alice.recipient
    recipient = str(alice.recipient)
    assert recipient.startswith("age1")
    assert X25519Recipient.parse(recipient) == alice.recipient
    with pytest.raises(KeyFormatError):
        X25519Recipient.parse(recipient[:-1] + ("q" if recipient[-1] != "q" else "p"))
    with pytest.raises(KeyFormatError):
        X25519Identity.parse(text.lower())
    with pytest.raises(KeyFormatError):
        X25519Recipient.parse(text)


def test_bech32_bip173_vectors() -> None:
    valid = [
        "A12UEL5L",
        "a12uel5l",
        "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        "?1ezyfcl",
    ]
    for text in valid:
        hrp, data = bech32.decode(text)
        assert bech32.encode(hrp, data) == text.lower()
    invalid = [
        "pzry9x0s0muk",
        "1pzry9x0s0muk",
        "x1b4n0q5v",
        "li1dgmt3",
        "A1G7SGD8",
        "10a06t8",
        "1qzzfhee",
    ]
    for text in invalid:
        with pytest.raises(KeyFormatError):
            bech32.decode(text)
    long = bech32.encode("age", bytes(200))  # longer than BIP-173's 90: allowed, as in age
    assert bech32.decode(long) == ("age", bytes(200))


def test_strict_base64() -> None:
    assert b64decode("AAAA") == bytes(3)
    for bad in ("AAA=", "AB", "A", "AA\n", "A A"):
        with pytest.raises(HeaderError):
            b64decode(bad)
