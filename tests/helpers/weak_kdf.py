"""Cheap parameters for the tests' password hashes, sealed keys and receipts: never production.

Production derives staff passwords and seals staff keys with ``SealParams()`` (one scrypt,
``crypto.passwords``) and derives receipts with ``crypto.receipts.RECEIPT_VERSIONS``.
``TEST_PASSWORD_METHOD`` makes accounts in the older form (a werkzeug hash), which sign-in
moves to the current one.
"""

from __future__ import annotations

from crypto import SealParams
from crypto.receipts import ReceiptParams, ReceiptVersions

TEST_PASSWORD_METHOD = "scrypt:1024:8:1"
TEST_SEAL_PARAMS = SealParams(log_n=10)
# As production's: version 1 with four lanes, the current version 2 with one.
TEST_RECEIPT_VERSIONS = ReceiptVersions(
    {
        1: ReceiptParams(memory_cost_kib=64, iterations=1, lanes=4),
        2: ReceiptParams(memory_cost_kib=64, iterations=1, lanes=1),
    },
    current=2,
)
TEST_RECEIPT_PARAMS = TEST_RECEIPT_VERSIONS.current_params
