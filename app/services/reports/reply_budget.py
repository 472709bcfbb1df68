"""The bytes of reply files one report may take each day: replies need no proof of work, so
what a follow-up session can store is bounded here, all its replies of a day together.

The count lives in the short-lived store (``app.services.ephemeral``), as the follow-up
sessions' generations do: under an HMAC of the reporter's key (which the store never holds)
and the day, as a counter of the clock-aligned day that expires at a fixed time after it.
What a reader of the store finds: a number under a name that opens nothing, names no report
and changes each day; nothing of when within the day a reply was sent.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from app.services.ephemeral import Store
from crypto.keys import X25519Identity

DAY_SECONDS = 24 * 60 * 60
_LABEL = b"soe-portal/reply-bytes/v1"


class ReplyBytes:
    """How many bytes of files the replies to a report may still take today, and counting
    those of a reply stored."""

    def __init__(
        self,
        store: Store,
        per_day: int,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.per_day = per_day
        self._now = now

    def _name(self, identity: X25519Identity) -> str:
        day = int(self._now() // DAY_SECONDS)
        message = _LABEL + b"\x00day\x00" + str(day).encode("ascii")
        return hmac.new(identity.secret_bytes, message, hashlib.sha256).hexdigest()

    def left(self, identity: X25519Identity) -> int:
        """The bytes of files the replies to this reporter's report may still take today."""
        used = self.store.count(self._name(identity), 0, DAY_SECONDS)
        return max(0, self.per_day - used)

    def spend(self, identity: X25519Identity, size: int) -> None:
        """Count the files of a reply stored."""
        if size > 0:
            self.store.count(self._name(identity), size, DAY_SECONDS)
