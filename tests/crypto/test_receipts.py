"""Receipt codes: generation, lenient-but-strict parsing, and the derivation."""

from __future__ import annotations

import re

import pytest

from crypto.age import decrypt_bytes, encrypt_bytes
from crypto.errors import ReceiptCodeError
from crypto.receipts import (
    DEFAULT_RECEIPT_PARAMS,
    ReceiptParams,
    derive_receipt,
    new_receipt_code,
    parse_receipt_code,
)

WEAK = ReceiptParams(memory_cost_kib=64, iterations=1, lanes=1)
PEPPER = b"installation-pepper-0123456789"


def test_new_codes_are_five_groups_of_four_digits_and_differ() -> None:
    codes = {new_receipt_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(re.fullmatch(r"\d{4} \d{4} \d{4} \d{4} \d{4}", c) for c in codes)
    assert all(parse_receipt_code(c) == c.replace(" ", "") for c in codes)


@pytest.mark.parametrize(
    "text",
    [
        "1234 5678 9012 3456 7890",
        "1234-5678-9012-3456-7890",
        "12345678901234567890",
        "  1234 5678 9012 3456 7890\n",
        # Full-width digits and ideographic spaces.
        "１２３４　５６７８　９０１２　３４５６　７８９０",
        "１２３４－５６７８－９０１２－３４５６－７８９０",  # full-width hyphen-minus
        "1234\u20105678\u20139012\u22123456\u30007890",  # hyphen, en dash, minus sign
        "12 34-56 78 9012 3456 78-90",
    ],
)
def test_accepted_spellings(text: str) -> None:
    assert parse_receipt_code(text) == "12345678901234567890"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1234 5678 9012 3456",  # the 16 digits of an older code
        "1234 5678 9012 3456 789",
        "1234 5678 9012 3456 78901",
        "1234 5678 9012 3456 789a",
        "abcd efgh ijkl mnop qrst",
        "١٢٣٤ ٥٦٧٨ ٩٠١٢ ٣٤٥٦ ٧٨٩٠",  # Arabic-Indic digits
        "1234 5678 9012 3456 789\u0663",
        "1234_5678_9012_3456_7890",
        "1234.5678.9012.3456.7890",
        "²234 5678 9012 3456 7890",
    ],
)
def test_rejected_spellings(text: str) -> None:
    with pytest.raises(ReceiptCodeError):
        parse_receipt_code(text)
    with pytest.raises(ValueError):
        parse_receipt_code(text)


def test_derivation_is_deterministic_and_accepts_any_spelling() -> None:
    a = derive_receipt("1234 5678 9012 3456 7890", PEPPER, WEAK)
    b = derive_receipt("１２３４-５６７８-９０１２-３４５６-７８９０", PEPPER, WEAK)
    assert a.lookup_id == b.lookup_id
    assert a.identity.recipient == b.identity.recipient
    assert len(a.lookup_id) == 32 and a.lookup_hex == a.lookup_id.hex()


def test_outputs_are_independent_and_hide_the_code() -> None:
    code = "1234 5678 9012 3456 7890"
    receipt = derive_receipt(code, PEPPER, WEAK)
    assert receipt.lookup_id != receipt.identity.secret_bytes
    assert receipt.lookup_id not in bytes(receipt.identity.secret_bytes)
    assert b"12345678901234567890" not in receipt.lookup_id
    assert receipt.lookup_id.hex() not in str(receipt.identity)


def test_code_and_pepper_both_matter() -> None:
    base = derive_receipt("1234 5678 9012 3456 7890", PEPPER, WEAK)
    other_code = derive_receipt("1234 5678 9012 3456 7891", PEPPER, WEAK)
    other_pepper = derive_receipt("1234 5678 9012 3456 7890", PEPPER + b"!", WEAK)
    for other in (other_code, other_pepper):
        assert other.lookup_id != base.lookup_id
        assert other.identity.recipient != base.identity.recipient


def test_reply_to_reporter_round_trip() -> None:
    code = new_receipt_code()
    reporter = derive_receipt(code, PEPPER, WEAK)
    reply = encrypt_bytes(b"we received your tip", [reporter.identity.recipient])
    again = derive_receipt(code, PEPPER, WEAK)
    assert decrypt_bytes(reply, [again.identity]) == b"we received your tip"


def test_default_parameters_are_production_strength() -> None:
    assert DEFAULT_RECEIPT_PARAMS.memory_cost_kib >= 64 * 1024
    assert DEFAULT_RECEIPT_PARAMS.iterations >= 3


def test_short_pepper_is_refused() -> None:
    with pytest.raises(ValueError):
        derive_receipt("1234 5678 9012 3456 7890", b"short", WEAK)


def test_derivations_at_the_same_moment_all_return() -> None:
    """Two reporters entering codes at once: each derivation ends (none waits forever)."""
    import threading

    codes = [new_receipt_code() for _ in range(4)]
    results: dict[str, bytes] = {}

    def derive(code: str) -> None:
        results[code] = derive_receipt(code, PEPPER).lookup_id  # production parameters

    threads = [threading.Thread(target=derive, args=(code,), daemon=True) for code in codes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a derivation never returned"
    assert len(set(results.values())) == 4


def test_derivations_in_processes_of_their_own_match_and_run_side_by_side() -> None:
    from crypto import receipts

    codes = [new_receipt_code() for _ in range(6)]
    here = {code: derive_receipt(code, PEPPER, WEAK).lookup_id for code in codes}
    receipts.use_processes(2)
    try:
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(6) as threads:
            there = dict(
                zip(
                    codes,
                    threads.map(lambda c: derive_receipt(c, PEPPER, WEAK).lookup_id, codes),
                    strict=True,
                )
            )
        assert there == here
        assert receipts._pool is not None  # they ran in the pool, not here
    finally:
        receipts.use_processes(0)
        if receipts._pool is not None:
            receipts._pool.shutdown()
            receipts._pool = None
