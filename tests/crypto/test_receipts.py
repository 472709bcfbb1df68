"""Receipt codes: generation, lenient-but-strict parsing, and the derivation."""

from __future__ import annotations

import re
import time

import pytest

from crypto.age import decrypt_bytes, encrypt_bytes
from crypto.errors import ReceiptCodeError
from crypto.receipts import (
    DEFAULT_RECEIPT_PARAMS,
    RECEIPT_VERSIONS,
    ReceiptParams,
    ReceiptVersions,
    derive_receipt,
    derive_receipts,
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


# --- versions ---------------------------------------------------------------------------------

VECTOR_CODE = "3141 5926 5358 9793 2384"
VECTOR_PEPPER = b"soe-portal-test-vector-pepper-000"
# Each version's production derivation of VECTOR_CODE with VECTOR_PEPPER: lookup id, then the
# seed of the reporter's X25519 key, hex. Version 1 was computed with crypto/receipts.py as it
# was before the lane change (64 MiB, 3 passes, 4 lanes); version 2 as it was before versions
# existed (one lane). A change that fails here would leave the codes of that version opening
# nothing: make a new version instead.
VECTORS = {
    1: (
        "68ca2424e87523efb3e457786d14887057033cb390899b77fbf999507ce01f44",
        "fd7d5cb4ad161773800ef2bdfc412f1a05123d1a99148d44af0ce0b33a939d2f",
        "age146xjv94wurgrtgdluppn7g04nn48lpy4qzksfrh6yjms376g4sdswcfpwu",
    ),
    2: (
        "afabe2b58dcdae3edb320a9ceb57230082a5192304e4eb85ddae1b871bea999e",
        "1ab8d5abf04296e2eae54bad157bedc3631f05a9f6fb61df5e767a1f9e23f286",
        "age19078hu3ywyvy90hkt8l2umxcusf82yy6ngy6fzx5fr4yd0tuyuwqpwnkfe",
    ),
}


def test_every_version_has_a_pinned_vector_and_the_current_one_is_the_default() -> None:
    assert set(RECEIPT_VERSIONS) == set(VECTORS)
    assert RECEIPT_VERSIONS.current == max(RECEIPT_VERSIONS) == 2
    assert RECEIPT_VERSIONS.current_params == DEFAULT_RECEIPT_PARAMS
    assert RECEIPT_VERSIONS[1] == ReceiptParams(memory_cost_kib=65536, iterations=3, lanes=4)
    assert RECEIPT_VERSIONS[2] == ReceiptParams(memory_cost_kib=65536, iterations=3, lanes=1)


@pytest.mark.parametrize("version", sorted(VECTORS))
def test_each_version_derives_its_pinned_vector_at_production_cost(version: int) -> None:
    lookup_hex, seed_hex, recipient = VECTORS[version]
    receipt = derive_receipt(VECTOR_CODE, VECTOR_PEPPER, RECEIPT_VERSIONS[version])
    assert receipt.lookup_hex == lookup_hex
    assert receipt.identity.secret_bytes.hex() == seed_hex
    assert str(receipt.identity.recipient) == recipient


def test_one_code_under_several_versions_gives_each_version_its_own_values() -> None:
    versions = [RECEIPT_VERSIONS[v] for v in sorted(VECTORS)]
    full_width = "３１４１－５９２６－５３５８－９７９３－２３８４"
    receipts = derive_receipts(full_width, VECTOR_PEPPER, versions)
    assert [r.lookup_hex for r in receipts] == [VECTORS[v][0] for v in sorted(VECTORS)]
    assert derive_receipts(VECTOR_CODE, VECTOR_PEPPER, []) == []
    with pytest.raises(ReceiptCodeError):
        derive_receipts("3141 5926 5358 9793", VECTOR_PEPPER, versions)


def test_several_versions_in_processes_of_their_own_match_those_derived_here() -> None:
    from crypto import receipts

    weak = [ReceiptParams(64, 1, 4), ReceiptParams(64, 1, 1), ReceiptParams(128, 2, 1)]

    def outputs() -> list[tuple[bytes, bytes]]:
        found = derive_receipts(VECTOR_CODE, PEPPER, weak)
        return [(r.lookup_id, r.identity.secret_bytes) for r in found]

    here = outputs()
    assert len({lookup for lookup, _seed in here}) == 3
    receipts.use_processes(2)
    try:
        assert outputs() == here
        assert receipts._pool is not None
    finally:
        receipts.use_processes(0)
        if receipts._pool is not None:
            receipts._pool.shutdown()
            receipts._pool = None


@pytest.mark.parametrize(
    ("params", "current"),
    [({}, 1), ({1: WEAK}, 2), ({0: WEAK, 1: WEAK}, 1), ({-1: WEAK}, -1), ({True: WEAK}, True)],
)
def test_a_registry_of_versions_is_numbered_from_one_and_has_its_current_version(
    params, current
) -> None:
    with pytest.raises(ValueError):
        ReceiptVersions(params, current)


_POOL_PARENT = """
import time
if __name__ == "__main__":
    from multiprocessing import resource_tracker
    from crypto import receipts
    receipts.use_processes(2)
    weak = receipts.ReceiptParams(64, 1, 1)
    receipts.derive_receipt(receipts.new_receipt_code(), b"p" * 32, weak)
    pids = [*receipts._pool._processes, resource_tracker._resource_tracker._pid]
    print(*pids, flush=True)
    time.sleep(120)
"""


def test_the_derivation_processes_end_with_the_server_killed(tmp_path) -> None:
    """A server process killed outright (SIGKILL, out of memory) leaves no pool process and no
    resource tracker behind: each of them held 44 MB, and repeated attacks piled them up."""
    from tests.helpers.processes import kill_hard, start_script, survivors

    process, pids = start_script(_POOL_PARENT, tmp_path)
    try:
        assert len(pids) >= 2 and survivors(pids, timeout=0) == pids
    finally:
        kill_hard(process)
    assert survivors(pids) == []


def test_the_derivation_processes_run_at_a_lower_priority_than_the_server() -> None:
    """Derivations by the hundred must not take the CPU from page requests: every pool
    process runs at a nice value of at least 10, the server's own is unchanged."""
    import os

    from crypto import receipts
    from tests.helpers.processes import nice_of

    own = nice_of(os.getpid())
    receipts.use_processes(2)
    try:
        derive_receipt(new_receipt_code(), PEPPER, WEAK)
        assert receipts._pool is not None
        pids = list(receipts._pool._processes)
        assert len(pids) == 2
        # A process still starting on a loaded machine sets its priority in its initializer,
        # before it takes any derivation: wait for that, never for long.
        deadline = time.monotonic() + 10
        while not all(nice_of(pid) >= max(own, 10) for pid in pids):
            assert time.monotonic() < deadline, [nice_of(pid) for pid in pids]
            time.sleep(0.05)
        assert nice_of(os.getpid()) == own
    finally:
        receipts.use_processes(0)
        if receipts._pool is not None:
            receipts._pool.shutdown()
            receipts._pool = None
