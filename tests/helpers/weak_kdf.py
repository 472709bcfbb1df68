"""Cheap parameters for the tests' password hashes, sealed keys and receipts: never production.

Production hashes passwords with ``staff.PASSWORD_METHOD``, seals staff keys with
``SealParams()`` and derives receipts with ``crypto.receipts``' defaults.
"""

from __future__ import annotations

from crypto import SealParams
from crypto.receipts import ReceiptParams

TEST_PASSWORD_METHOD = "scrypt:1024:8:1"
TEST_SEAL_PARAMS = SealParams(log_n=10)
TEST_RECEIPT_PARAMS = ReceiptParams(memory_cost_kib=64, iterations=1, lanes=1)
