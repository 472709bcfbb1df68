"""A bounded, thread-safe memo of text results, keyed by what they were computed from."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class TextMemo:
    """Remember ``compute(*texts)`` by a hash of the texts, least recently used out first.

    For work whose cost grows with its input (Markdown, diffs): a page rendered again for
    another language or host reuses it instead of paying for it again. Bounded by the number
    of entries and by the total length of the remembered results.
    """

    def __init__(self, max_entries: int = 512, max_chars: int = 32 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_chars = max_chars
        self._lock = threading.Lock()
        self._items: OrderedDict[bytes, tuple[object, int]] = OrderedDict()
        self._chars = 0

    def get(self, compute: Callable[..., T], *texts: str) -> T:
        digest = hashlib.sha256()
        for text in texts:
            digest.update(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest())
        key = digest.digest()
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found[0]  # type: ignore[return-value]
        value = compute(*texts)
        size = len(value) if isinstance(value, str) else 0
        if size > self.max_chars:
            return value
        with self._lock:
            if key not in self._items:
                self._items[key] = (value, size)
                self._chars += size
                while len(self._items) > self.max_entries or self._chars > self.max_chars:
                    _key, (_value, old_size) = self._items.popitem(last=False)
                    self._chars -= old_size
        return value

    def __len__(self) -> int:
        return len(self._items)
