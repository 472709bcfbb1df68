"""A per-process memo of listing facts that change only when the public record changes.

Counting, sorting and collecting years over 100,000 disclosures on every page view costs
far more than rendering the page. What the index shows changes only with the public
record, which ``public_version`` counts in the database: one primary-key read per lookup
tells whether a memo is still good, in every process.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from sqlalchemy.orm import Session

from app.services import public_version

T = TypeVar("T")
MAX_ENTRIES = 2048
_lock = threading.Lock()
_memo: OrderedDict[Hashable, tuple[int, object]] = OrderedDict()


def record_version(session: Session) -> int:
    """The version of the public record (read each time: the session may have published)."""
    return public_version.current(session)


def memo(session: Session, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, or its value from an earlier call made at the same record version.

    ``key`` must name everything the value depends on besides the public record (the
    reader's scope, the filters, the page); values must be plain data, not ORM objects.
    """
    version = record_version(session)
    # Several apps (tests, both surfaces) may share a process but not a database.
    key = (str(session.get_bind().url), key)
    with _lock:
        hit = _memo.get(key)
        if hit is not None and hit[0] == version:
            _memo.move_to_end(key)
            return hit[1]  # type: ignore[return-value]
    value = compute()
    with _lock:
        _memo[key] = (version, value)
        _memo.move_to_end(key)
        while len(_memo) > MAX_ENTRIES:
            _memo.popitem(last=False)
    return value
