"""Receipt codes of anonymous reporters.

A receipt code is 20 random digits, shown as 5 groups of 4. One memory-hard derivation with
the installation pepper turns it into a lookup id (stored) and the seed of the reporter's own
X25519 identity (never stored), so replies can be encrypted to the reporter.

Why 20 digits: the pepper is one salt for every code, so whoever holds the database and the
pepper tests each guess against all N stored lookup ids at once. With 10,000 reports, 16
digits leave about 5*10^11 Argon2id runs to find one (10^16 / 2 / N): within reach of a
determined attacker. 20 digits leave about 5*10^15.

The derivation is versioned (``RECEIPT_VERSIONS``): a code opens its report only with the
parameters it was issued under, so a version's parameters never change once a report was
stored under it. New codes get the current version; a lookup derives the code under every
version still in use (``derive_receipts``).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import secrets
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from crypto.errors import ReceiptCodeError
from crypto.keys import X25519Identity

CODE_DIGITS = 20
_SALT = b"soe-portal/receipt-code/v1"
_DIGITS = {chr(0x30 + i): str(i) for i in range(10)} | {chr(0xFF10 + i): str(i) for i in range(10)}
# Separators people type or paste: spaces (ASCII, no-break, ideographic) and dashes.
_SEPARATORS = frozenset(
    " \t\u00a0\u3000"  # spaces
    "-\u2010\u2011\u2012\u2013\u2014\u2212\ufe58\ufe63\uff0d"  # hyphens and dashes
)


@dataclass(frozen=True)
class ReceiptParams:
    """Argon2id cost: 64 MiB and 3 passes (RFC 9106's second recommended option), one lane.

    One lane: each derivation runs on one core, and a server runs as many at once as it has
    cores (``use_processes``). Several lanes would not make a guess cheaper or dearer for an
    attacker, who runs guesses side by side anyway, but OpenSSL runs them on threads of its
    own, and two such derivations at once in one process never return (OpenSSL 4).
    Lower only explicitly, in tests. The parameters of each version: ``RECEIPT_VERSIONS``.
    """

    memory_cost_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 1


class ReceiptVersions:
    """The receipt derivations a server knows, by version number (1, 2, ...), and the current
    one, which new codes are issued under.

    A version's parameters are fixed for good once a report was stored under it; a change of
    parameters is a new version, and the old one stays until no stored report has it.
    """

    def __init__(self, params: Mapping[int, ReceiptParams], current: int) -> None:
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in params):
            raise ValueError("receipt versions are numbered from 1")
        if current not in params:
            raise ValueError(f"the current receipt version {current} has no parameters")
        self._params = dict(sorted(params.items()))
        self.current = current

    def __contains__(self, version: object) -> bool:
        return version in self._params

    def __getitem__(self, version: int) -> ReceiptParams:
        return self._params[version]

    def __iter__(self) -> Iterator[int]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"ReceiptVersions({self._params!r}, current={self.current})"

    @property
    def current_params(self) -> ReceiptParams:
        """The parameters new codes are derived with."""
        return self._params[self.current]


# Never change a version's parameters: the codes issued under it would open nothing.
RECEIPT_VERSIONS = ReceiptVersions(
    {
        # Issued until the lane change (2026-12-04): four lanes, which OpenSSL runs on threads.
        1: ReceiptParams(memory_cost_kib=64 * 1024, iterations=3, lanes=4),
        # One lane: each derivation on one core, in a process of its own (use_processes).
        2: ReceiptParams(memory_cost_kib=64 * 1024, iterations=3, lanes=1),
    },
    current=2,
)
DEFAULT_RECEIPT_PARAMS = RECEIPT_VERSIONS.current_params
# In one process, one derivation at a time: it holds Python's lock while it runs anyway, and
# this bounds the memory derivations take, and keeps OpenSSL's multi-lane derivations (above)
# from ever running two at once.
_ONE_AT_A_TIME = threading.Lock()
_processes = 0
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def use_processes(count: int) -> None:
    """Run derivations in ``count`` processes of their own (0: in the caller's, in turn).

    A derivation holds the interpreter's lock for its whole run: in the server's process it
    would stop every other request of that process meanwhile, and one process would do one
    at a time. With a process per core they run side by side, and the server's threads wait
    for them without holding anything. The processes are started on first use.
    """
    global _processes
    _processes = max(0, count)


# Scheduling priority (nice value) of the pool processes: 400 derivations from 40 addresses
# at the server's priority made the page requests wait two seconds for the CPU.
NICENESS = 10


def _die_with_parent(parent: int) -> None:
    """In each pool process: killed by the kernel when the thread that started it ends, so a
    server killed in any way (SIGKILL, out of memory) leaves none behind (PR_SET_PDEATHSIG).
    Runs at a lower priority than the server (``NICENESS``): page requests get the CPU first,
    derivations take what is left."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the server ended before the line above ran
        os._exit(1)
    current = os.getpriority(os.PRIO_PROCESS, 0)
    os.setpriority(os.PRIO_PROCESS, 0, max(current, NICENESS))  # lowering needs no privilege


def _started() -> int:
    time.sleep(0.05)  # long enough that every process is started before one is free
    return os.getpid()


_launches: queue.SimpleQueue = queue.SimpleQueue()
_keeper: threading.Thread | None = None


def _keep_pools() -> None:
    """The thread that starts every pool process, and lives as long as the server's process.

    The kernel's parent-death signal follows the starting *thread*: started from a request's
    thread, a pool process would be killed when that request's thread ends.
    """
    while True:
        count, answer = _launches.get()
        try:
            context = multiprocessing.get_context("spawn")  # the server's process has threads
            pool = ProcessPoolExecutor(
                max_workers=count,
                mp_context=context,
                initializer=_die_with_parent,
                initargs=(os.getpid(),),
            )
            # Spawned on demand, one per task waiting: start them all here, in this thread.
            for future in [pool.submit(_started) for _ in range(count)]:
                future.result()
            answer.put(pool)
        except BaseException as error:  # handed to the thread that asked
            answer.put(error)


def _new_pool(count: int) -> ProcessPoolExecutor:
    global _keeper
    if _keeper is None or not _keeper.is_alive():
        _keeper = threading.Thread(target=_keep_pools, name="receipt-pool", daemon=True)
        _keeper.start()
    answer: queue.SimpleQueue = queue.SimpleQueue()
    _launches.put((count, answer))
    pool = answer.get()
    if isinstance(pool, BaseException):
        raise pool
    return pool


def _master(digits: bytes, pepper: bytes, params: ReceiptParams) -> bytes:
    kdf = Argon2id(
        salt=_SALT,
        length=64,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_cost_kib,
        secret=pepper,
    )
    with _ONE_AT_A_TIME:
        return kdf.derive(digits)


def _run(digits: bytes, pepper: bytes, params: Iterable[ReceiptParams]) -> list[bytes]:
    """One master secret per parameter set, in the processes side by side when there are any."""
    global _pool
    params = list(params)
    if _processes > 0:
        with _pool_lock:
            if _pool is None:
                _pool = _new_pool(_processes)
            pool = _pool
        try:
            futures = [pool.submit(_master, digits, pepper, p) for p in params]
            return [future.result() for future in futures]
        except BrokenProcessPool:  # a process died (killed, out of memory): start anew
            with _pool_lock:
                if _pool is pool:
                    _pool = None
    return [_master(digits, pepper, p) for p in params]


@dataclass(frozen=True)
class Receipt:
    """What a receipt code yields: the stored lookup id and the reporter's identity."""

    lookup_id: bytes
    identity: X25519Identity

    @property
    def lookup_hex(self) -> str:
        """The lookup id as hex, for storage."""
        return self.lookup_id.hex()


def format_receipt_code(digits: str) -> str:
    """Group the 20 digits in fives of four: ``dddd dddd dddd dddd dddd``."""
    return " ".join(digits[i : i + 4] for i in range(0, CODE_DIGITS, 4))


def new_receipt_code() -> str:
    """A fresh receipt code from the OS CSPRNG, formatted in 5 groups of 4 digits."""
    digits = "".join(str(secrets.randbelow(10)) for _ in range(CODE_DIGITS))
    return format_receipt_code(digits)


def parse_receipt_code(text: str) -> str:
    """Normalise typed text to the 20 ASCII digits of a receipt code.

    Accepts ASCII and full-width digits with spaces or dashes anywhere between them;
    anything else raises ReceiptCodeError (a ValueError).
    """
    digits = []
    for char in text.strip():
        if char in _DIGITS:
            digits.append(_DIGITS[char])
        elif char not in _SEPARATORS:
            raise ReceiptCodeError("a receipt code has only digits, spaces and dashes")
    if len(digits) != CODE_DIGITS:
        raise ReceiptCodeError(f"a receipt code has {CODE_DIGITS} digits")
    return "".join(digits)


def derive_receipt(
    code: str, pepper: bytes, params: ReceiptParams = DEFAULT_RECEIPT_PARAMS
) -> Receipt:
    """Derive the lookup id and the reporter's identity from a receipt code.

    One Argon2id run (the pepper is its secret input) gives 64 bytes; HKDF-Expand with
    two labels splits them into independent values, so neither output reveals the
    other or the code, and without the pepper a stolen database cannot be brute-forced.
    """
    return derive_receipts(code, pepper, [params])[0]


def derive_receipts(code: str, pepper: bytes, params: Iterable[ReceiptParams]) -> list[Receipt]:
    """Derive a receipt code under each parameter set, in order: one Argon2id run each.

    A lookup passes every version in use, whatever the code, so that its cost does not depend
    on the code or on the version its report has. With processes (``use_processes``) the
    runs go side by side: the answer comes after the longest of them, not after their sum.
    """
    if len(pepper) < 16:
        raise ValueError("the installation pepper must be at least 16 bytes")
    digits = parse_receipt_code(code)
    receipts = []
    for master in _run(digits.encode("ascii"), pepper, params):
        lookup_id = _expand(master, b"lookup id")
        seed = _expand(master, b"reporter identity")
        receipts.append(Receipt(lookup_id, X25519Identity(seed)))
    return receipts


def _expand(master: bytes, label: bytes) -> bytes:
    return HKDFExpand(hashes.SHA256(), 32, b"soe-portal/receipt/" + label).derive(master)
