"""An age file written in two parts: the payload first (file key only), the header later."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from crypto.age import (
    PayloadWriter,
    decrypt_bytes,
    make_header,
    new_file_key,
    rewrap_header,
)
from crypto.errors import HeaderError, HmacError, NoIdentityMatch, PayloadError
from crypto.format import Stanza, parse_header
from crypto.keys import ScryptRecipient, X25519Identity
from tests.helpers.crypto_tools import age


def _payload(file_key: bytes, plaintext: bytes) -> bytes:
    out = io.BytesIO()
    with PayloadWriter(out, file_key) as writer:
        writer.write(plaintext)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, 64 * 1024, 64 * 1024 + 1, 300_000])
def test_a_header_made_after_the_payload_opens_it(size):
    plaintext = os.urandom(size)
    file_key = new_file_key()
    payload = _payload(file_key, plaintext)
    alice, bob = X25519Identity.generate(), X25519Identity.generate()
    header = make_header(file_key, [alice.recipient, bob.recipient])
    assert header.startswith(b"age-encryption.org/v1\n") and header.endswith(b"\n")
    for identity in (alice, bob):
        assert decrypt_bytes(header + payload, [identity]) == plaintext
    with pytest.raises(NoIdentityMatch):
        decrypt_bytes(header + payload, [X25519Identity.generate()])


def test_rewrap_header_changes_only_the_header():
    plaintext = "举报内容：食堂采购虚开发票。".encode() * 1000
    file_key = new_file_key()
    payload = _payload(file_key, plaintext)
    old, new = X25519Identity.generate(), X25519Identity.generate()
    header = make_header(file_key, [old.recipient])
    rewrapped = rewrap_header(header, [old], [old.recipient, new.recipient])
    assert rewrapped != header
    assert decrypt_bytes(rewrapped + payload, [new]) == plaintext
    assert decrypt_bytes(rewrapped + payload, [old]) == plaintext
    # Taking a reader away: the new header no longer opens for them.
    only_new = rewrap_header(rewrapped, [new], [new.recipient])
    with pytest.raises(NoIdentityMatch):
        decrypt_bytes(only_new + payload, [old])


def test_rewrap_header_refuses_what_is_not_one_authentic_header():
    file_key = new_file_key()
    alice = X25519Identity.generate()
    header = make_header(file_key, [alice.recipient])
    with pytest.raises(NoIdentityMatch):
        rewrap_header(header, [X25519Identity.generate()], [alice.recipient])
    with pytest.raises(HeaderError):
        rewrap_header(header + b"x", [alice], [alice.recipient])
    with pytest.raises(HeaderError):
        rewrap_header(header[:-5], [alice], [alice.recipient])
    mac_at = header.rindex(b"--- ") + 4
    forged = header[:mac_at] + (b"B" if header[mac_at : mac_at + 1] != b"B" else b"C")
    forged += header[mac_at + 1 :]
    with pytest.raises((HmacError, HeaderError)):
        rewrap_header(forged, [alice], [alice.recipient])


def test_a_payload_for_another_file_key_does_not_open():
    alice = X25519Identity.generate()
    header = make_header(new_file_key(), [alice.recipient])
    with pytest.raises(PayloadError):
        decrypt_bytes(header + _payload(new_file_key(), b"x" * 100), [alice])


def test_file_keys_have_one_size():
    with pytest.raises(ValueError):
        make_header(b"short", [X25519Identity.generate().recipient])
    with pytest.raises(ValueError):
        PayloadWriter(io.BytesIO(), b"x" * 32)
    assert len(new_file_key()) == 16 and new_file_key() != new_file_key()


@pytest.mark.agecli
@pytest.mark.parametrize("size", [0, 5000, 200_000])
def test_the_age_tool_decrypts_a_joined_file(tmp_path: Path, size: int):
    plaintext = os.urandom(size)
    file_key = new_file_key()
    payload = _payload(file_key, plaintext)
    first, second = X25519Identity.generate(), X25519Identity.generate()
    header = rewrap_header(make_header(file_key, [first.recipient]), [first], [second.recipient])
    key = tmp_path / "key.txt"
    key.write_text(f"{second.secret_key_text()}\n")
    result = age("-d", "-i", str(key), input=header + payload)
    assert result.returncode == 0, result.stderr
    assert result.stdout == plaintext


LABEL = Stanza("example.com/label", ["1", "report-7", "text"])


def test_a_label_is_covered_by_the_mac_and_kept_by_rewrap_if_asked():
    plaintext = "举报内容：仓库物资被私自变卖。".encode()
    file_key = new_file_key()
    payload = _payload(file_key, plaintext)
    alice, bob = X25519Identity.generate(), X25519Identity.generate()
    header = make_header(file_key, [alice.recipient], [LABEL])
    assert parse_header(io.BytesIO(header)).stanzas[0] == LABEL
    assert decrypt_bytes(header + payload, [alice]) == plaintext
    # Changed by someone without the file key, the label breaks the header MAC.
    moved = header.replace(b"report-7", b"report-8")
    with pytest.raises(HmacError):
        decrypt_bytes(moved + payload, [alice])
    with pytest.raises(HmacError):
        rewrap_header(moved, [alice], [bob.recipient], keep_labels=[LABEL.type])
    kept = rewrap_header(header, [alice], [bob.recipient], keep_labels=[LABEL.type])
    assert parse_header(io.BytesIO(kept)).stanzas[0] == LABEL
    assert decrypt_bytes(kept + payload, [bob]) == plaintext
    dropped = rewrap_header(header, [alice], [bob.recipient])
    assert [s.type for s in parse_header(io.BytesIO(dropped)).stanzas] == ["X25519"]


def test_a_label_is_no_recipient_stanza():
    file_key = new_file_key()
    alice = X25519Identity.generate()
    for label in (
        Stanza("X25519", ["x"]),
        Stanza("scrypt", ["x", "10"]),
        Stanza("有空格 的类型", []),
        Stanza("example.com/label", ["two words"]),
    ):
        with pytest.raises(ValueError):
            make_header(file_key, [alice.recipient], [label])
    with pytest.raises(ValueError):
        make_header(file_key, [ScryptRecipient("口令", log_n=10)], [LABEL])


@pytest.mark.agecli
def test_the_age_tool_skips_a_label(tmp_path: Path):
    plaintext = "标签不影响解密".encode() * 3000
    file_key = new_file_key()
    alice = X25519Identity.generate()
    header = make_header(file_key, [alice.recipient], [LABEL])
    key = tmp_path / "key.txt"
    key.write_text(f"{alice.secret_key_text()}\n")
    result = age("-d", "-i", str(key), input=header + _payload(file_key, plaintext))
    assert result.returncode == 0, result.stderr
    assert result.stdout == plaintext
