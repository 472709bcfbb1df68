"""Hostile or out-of-range input fails with the package's own errors, in bounded time.

Work factors, numbers, stanza counts, low-order keys, signed-note signatures, and secret
keys that must never show up in a log line.
"""

from __future__ import annotations

import base64
import io
import os
import time
from pathlib import Path

import pytest

from crypto import bech32, keys
from crypto import format as age_format
from crypto.age import decrypt_bytes, encrypt_bytes
from crypto.errors import (
    BadPassphrase,
    CryptoError,
    HeaderError,
    KeyFormatError,
    NoIdentityMatch,
    ProofError,
    WorkFactorError,
)
from crypto.format import Stanza, b64encode, parse_header
from crypto.keys import (
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    X25519Recipient,
)
from crypto.receipts import ReceiptParams, derive_receipt, new_receipt_code
from crypto.sealing import SealedIdentity, SealParams, seal_identity, unseal_identity
from crypto.tlog import Checkpoint, Signer, verify_checkpoint
from tests.helpers.crypto_tools import age_with_passphrase, ours
from tests.helpers.environment import IN_CI

LONG_NUMBER = "1" + "0" * 5000  # past Python's 4,300-digit limit of int(str)
# age's ScryptIdentity refuses work factors above 22 by default, and its CLI uses that.
MAX_SCRYPT_LOG_N = 22
MAX_STANZAS = 256


def _scrypt_file(work_factor: str) -> bytes:
    """An age file with one scrypt stanza carrying ``work_factor`` verbatim."""
    stanza = Stanza("scrypt", [b64encode(os.urandom(16)), work_factor], os.urandom(32))
    header = (
        b"age-encryption.org/v1\n" + stanza.to_bytes() + b"--- " + b64encode(bytes(32)).encode()
    )
    return header + b"\n" + os.urandom(16 + 40)


# --- 1. one scrypt work factor cap, the one age uses --------------------------------------


def test_the_cap_is_age_s_default_maximum() -> None:
    assert keys.MAX_SCRYPT_LOG_N == MAX_SCRYPT_LOG_N


def test_stanzas_above_the_cap_are_refused_without_any_work() -> None:
    for factor in (str(MAX_SCRYPT_LOG_N + 1), "40", "9223372036854775818", LONG_NUMBER):
        start = time.monotonic()
        with pytest.raises(WorkFactorError):
            decrypt_bytes(_scrypt_file(factor), [ScryptIdentity("pw")])
        assert time.monotonic() - start < 1


def test_identity_limits_above_the_cap_are_refused() -> None:
    for bad in (0, -1, MAX_SCRYPT_LOG_N + 1, 40):
        with pytest.raises(WorkFactorError):
            ScryptIdentity("pw", max_log_n=bad)
    ScryptIdentity("pw", max_log_n=MAX_SCRYPT_LOG_N)


def test_recipient_and_seal_params_are_checked_when_made() -> None:
    for bad in (0, -1, MAX_SCRYPT_LOG_N + 1, 40):
        with pytest.raises(WorkFactorError):
            ScryptRecipient("pw", log_n=bad)
        with pytest.raises(WorkFactorError):
            SealParams(log_n=bad)
        with pytest.raises(WorkFactorError):
            SealParams(log_n=10, max_log_n=bad)
    # Callers that caught the old ValueError keep working.
    with pytest.raises(ValueError):
        ScryptRecipient("pw", log_n=MAX_SCRYPT_LOG_N + 1)
    assert SealParams(log_n=MAX_SCRYPT_LOG_N).log_n == MAX_SCRYPT_LOG_N


@pytest.mark.slow
def test_unseal_above_2_gib_of_scrypt_memory_is_still_only_bad_passphrase() -> None:
    # log N = 21 needs 2 GiB + 1 KiB, past the 2 GiB maxmem hashlib.scrypt accepts. One
    # step below the cap and a single scrypt run (a random stanza body, so the passphrase
    # is wrong whatever it is) keep this at 2 GiB and about 10 s.
    sealed = SealedIdentity(X25519Identity.generate().recipient, _scrypt_file("21"))
    with pytest.raises(BadPassphrase):
        unseal_identity(sealed, "any passphrase")


@pytest.mark.slow
@pytest.mark.agecli
def test_keys_sealed_at_the_cap_open_here_and_in_age(tmp_path: Path) -> None:
    # Three scrypt runs of 4 GiB and 10 to 20 s each: only on request, and always in CI.
    if not (IN_CI or os.environ.get("PORTAL_TEST_SCRYPT_AT_CAP") == "1"):
        pytest.skip("4 GiB scrypt runs: set PORTAL_TEST_SCRYPT_AT_CAP=1 to run")
    identity = X25519Identity.generate()
    at_cap = SealParams(log_n=MAX_SCRYPT_LOG_N)
    sealed = seal_identity(identity, "cap 上限", at_cap)
    (tmp_path / "sealed.age").write_bytes(sealed.blob)
    status, transcript = age_with_passphrase(
        ["-d", "-o", str(tmp_path / "out"), str(tmp_path / "sealed.age")], "cap 上限", timeout=300
    )
    assert status == 0, transcript
    assert (tmp_path / "out").read_text() == f"{identity.secret_key_text()}\n"
    assert unseal_identity(sealed, "cap 上限", at_cap).secret_bytes == identity.secret_bytes


# --- 2. numbers of any length -------------------------------------------------------------


def test_long_numbers_in_a_checkpoint_are_a_proof_error() -> None:
    signer = Signer.generate("portal.example/disclosures")
    note = Checkpoint("portal.example/disclosures", 8, bytes(32)).sign(signer)
    for size in (LONG_NUMBER, str(2**64), "9" * 21):
        forged = note.replace("\n8\n", f"\n{size}\n", 1)
        with pytest.raises(ProofError):
            verify_checkpoint(forged, signer.verifier)
    largest = Checkpoint("portal.example/disclosures", 2**64 - 1, bytes(32)).sign(signer)
    assert verify_checkpoint(largest, signer.verifier).size == 2**64 - 1


# --- 3. low-order X25519 recipients --------------------------------------------------------

_P = 2**255 - 19
# u-coordinates of the points of order 1, 2, 4 and 8 on Curve25519 and its twist.
_LOW_ORDER_U = [
    0,
    1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
    _P - 1,
]


def _low_order_encodings() -> list[bytes]:
    """Every 32-byte encoding of a low-order u: canonical, plus p, with the top bit set."""
    encodings = []
    for u in _LOW_ORDER_U:
        for value in (u, u + _P):
            if value < 2**255:
                encodings.append(value.to_bytes(32, "little"))
                encodings.append((value | 2**255).to_bytes(32, "little"))
    return encodings


def test_low_order_recipients_are_refused_when_parsed() -> None:
    encodings = _low_order_encodings()
    assert len(encodings) == 14
    for raw in encodings:
        with pytest.raises(KeyFormatError):
            X25519Recipient(raw)
        with pytest.raises(KeyFormatError):
            X25519Recipient.parse(bech32.encode("age", raw))
    good = X25519Identity.generate().recipient
    assert X25519Recipient.parse(str(good)) == good


def test_cli_refuses_a_low_order_recipient_in_one_line(tmp_path: Path) -> None:
    zero = bech32.encode("age", bytes(32))
    (tmp_path / "recipients.txt").write_text(f"# office\n{zero}\n")
    for args in (["-r", zero], ["-R", str(tmp_path / "recipients.txt")]):
        result = ours("encrypt", *args, input=b"tip")
        stderr = result.stderr.decode()
        assert result.returncode == 1, stderr
        assert "Traceback" not in stderr
        assert stderr.startswith("error: key: ") and stderr.count("\n") == 1, stderr
        assert result.stdout == b""


# --- 4. stanza count -----------------------------------------------------------------------


def _header_with(count: int) -> bytes:
    stanza = Stanza("grease", ["a"], b"").to_bytes()
    return b"age-encryption.org/v1\n" + stanza * count + b"--- " + b64encode(bytes(32)).encode()


def test_headers_hold_at_most_256_stanzas() -> None:
    assert age_format.MAX_STANZAS == MAX_STANZAS
    assert len(parse_header(io.BytesIO(_header_with(256) + b"\n")).stanzas) == 256
    with pytest.raises(HeaderError):
        parse_header(io.BytesIO(_header_with(257) + b"\n"))
    # Just under 1 MiB of tiny stanzas: refused at stanza 257, not after reading them all.
    start = time.monotonic()
    with pytest.raises(HeaderError):
        parse_header(io.BytesIO(_header_with(80_000) + b"\n"))
    assert time.monotonic() - start < 0.5


def test_encrypting_to_more_recipients_than_a_header_holds_is_refused() -> None:
    recipients = [X25519Identity.generate().recipient for _ in range(MAX_STANZAS + 1)]
    with pytest.raises(HeaderError):
        encrypt_bytes(b"tip", recipients)
    # The most a header can ask of a reader: every stanza tried with every identity.
    full = encrypt_bytes(b"tip", recipients[:MAX_STANZAS])
    strangers = [X25519Identity.generate() for _ in range(10)]
    start = time.monotonic()
    with pytest.raises(NoIdentityMatch):
        decrypt_bytes(full, strangers)
    assert time.monotonic() - start < 3


# --- 5. signed notes: a known key's signature must verify -----------------------------------


def _signature_line(name: str, raw: bytes) -> str:
    return f"\u2014 {name} {base64.b64encode(raw).decode()}\n"


@pytest.mark.parametrize("length", [0, 1, 32, 63, 65, 128])
def test_a_known_key_with_a_wrong_length_signature_is_refused(length: int) -> None:
    signer = Signer.generate("portal.example/disclosures")
    note = Checkpoint("portal.example/disclosures", 8, bytes(32)).sign(signer)
    body, _, good_line = note.partition("\n\n")
    bad_line = _signature_line(signer.name, signer.verifier.key_hash + os.urandom(length))
    with pytest.raises(ProofError):
        verify_checkpoint(f"{body}\n\n{bad_line}{good_line}", signer.verifier)
    with pytest.raises(ProofError):
        verify_checkpoint(f"{body}\n\n{bad_line}", signer.verifier)


def test_signatures_shorter_than_a_key_id_and_one_byte_are_malformed() -> None:
    signer = Signer.generate("portal.example/disclosures")
    note = Checkpoint("portal.example/disclosures", 8, bytes(32)).sign(signer)
    body, _, good_line = note.partition("\n\n")
    for raw in (b"", b"\x01\x02\x03\x04"):
        line = _signature_line("witness.example", raw)
        with pytest.raises(ProofError):
            verify_checkpoint(f"{body}\n\n{line}{good_line}", signer.verifier)
    # Other keys' signatures are still ignored, whatever they say.
    other = _signature_line("witness.example", os.urandom(68))
    assert verify_checkpoint(f"{body}\n\n{other}{good_line}", signer.verifier).size == 8


# --- 6. secret keys are printed only on purpose ---------------------------------------------


def _secret_forms(identity: X25519Identity) -> list[str]:
    secret = identity.secret_bytes
    text = bech32.encode("AGE-SECRET-KEY-", secret).upper()
    return [
        "AGE-SECRET-KEY",
        text,
        text.lower(),
        text.split("1", 1)[1],
        secret.hex(),
        base64.b64encode(secret).decode(),
        b64encode(secret),
        str(secret),
        repr(secret)[2:-1],
    ]


def _printed(obj: object) -> list[str]:
    return [str(obj), repr(obj), f"{obj}", f"{obj!r}", format(obj, ""), "%s" % (obj,)]  # noqa: UP031


def test_printing_an_identity_never_shows_the_secret() -> None:
    identity = X25519Identity.generate()
    for printed in _printed(identity):
        assert str(identity.recipient) in printed
        for secret in _secret_forms(identity):
            assert secret.upper() not in printed.upper(), (printed, secret)
    text = identity.secret_key_text()
    assert text.startswith("AGE-SECRET-KEY-1") and text.isupper()
    assert X25519Identity.parse(text).secret_bytes == identity.secret_bytes


def test_printing_wrappers_never_shows_a_secret() -> None:
    identity = X25519Identity.generate()
    receipt = derive_receipt(
        new_receipt_code(), os.urandom(32), ReceiptParams(memory_cost_kib=64, iterations=1, lanes=1)
    )
    sealed = seal_identity(identity, "秘密口令 passphrase", SealParams(log_n=10))
    unsealed = unseal_identity(sealed, "秘密口令 passphrase", SealParams(log_n=10))
    cases: list[tuple[object, X25519Identity]] = [
        (receipt, receipt.identity),
        (sealed, identity),
        (unsealed, identity),
        ([identity], identity),
        ({"office": identity}, identity),
    ]
    for obj, held in cases:
        for printed in _printed(obj):
            for secret in _secret_forms(held):
                assert secret.upper() not in printed.upper(), (type(obj), printed, secret)
    passphrase = "秘密口令 passphrase"
    for holder in (ScryptIdentity(passphrase), ScryptRecipient(passphrase, log_n=10)):
        for printed in _printed(holder):
            assert "秘密口令" not in printed
            assert repr(passphrase.encode())[2:14] not in printed  # its UTF-8 bytes


def test_work_factor_error_is_caught_as_before() -> None:
    # Parsing raised HeaderError, out-of-range settings raised ValueError: both still work.
    assert issubclass(WorkFactorError, HeaderError)
    assert issubclass(WorkFactorError, CryptoError)
    assert issubclass(WorkFactorError, ValueError)
