"""Short-lived secrets: one store of values that expire, and one codec for values sealed under a
token that only the browser holds.

What lives here lives for minutes, at most a day: reporters' follow-up sessions, the pages a
POST hands to the GET that shows them, the hashes of used proof-of-work challenges and
no-script passes, and the console's sessions. Each use has a
namespace of its own. The store is this process's memory (bounded in entries and bytes, every
change under one lock) or Redis, shared by every worker; ``Stores.from_uri`` makes either from
the rate-limit storage URI.

What a reader of the store (a Redis dump, a memory image) must not find:

- a browser's token or what was sealed under it: ``SealedValues`` files a value under an HMAC
  of its token and encrypts it under another key derived from the token, so nothing there
  opens without the cookie and nothing names a report in the clear;
- a time finer than a clock bucket: a counter (``count``, and the budgets of owners) is named
  by its clock-aligned window and expires at a fixed time after it (EXPIREAT), the same for
  every addition; a value kept for ``seconds`` (or kept alive again by a ``get``) expires at
  the end of the clock-aligned bucket of ``seconds`` after the one it was put in
  (``expiry_after``): it lives more than ``seconds`` and at most twice that, and neither its
  name nor its expiry says when within its bucket it was put or last read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_MAX_BYTES = 64 << 20
# Schemes of the rate-limit storage URI that the store can share between workers.
REDIS_SCHEMES = ("redis", "rediss", "unix")


def expiry_after(now: float, seconds: int) -> int:
    """When a value put at ``now`` for ``seconds`` expires: the end of the clock-aligned
    bucket of ``seconds`` that follows the one ``now`` falls in (Unix time, whole seconds)."""
    if seconds < 1:
        raise ValueError("a value lives at least a second")
    return (int(now // seconds) + 2) * seconds


@dataclass(frozen=True)
class Budget:
    """What one owner may put into a store in each clock-aligned window of ``seconds``: at most
    ``entries`` values of at most ``bytes`` in all (None: no bound). What was put counts for
    the whole window, taken or not, and so do the puts refused for going past it."""

    seconds: int
    entries: int | None = None
    bytes: int | None = None

    def allows(self, entries: int, size: int) -> bool:
        return (self.entries is None or entries <= self.entries) and (
            self.bytes is None or size <= self.bytes
        )


class Store:
    """Values that expire, under keys a caller chooses (short names: hashes, random ids)."""

    def _guard(self) -> AbstractContextManager[Any]:
        return nullcontext()  # what makes a budget's charge and the put one step

    def _charge(self, owner: str, budget: Budget, size: int) -> bool:
        raise NotImplementedError

    def _keep(self, key: str, value: bytes, seconds: int, evict: bool) -> bool:
        raise NotImplementedError

    def put(
        self,
        key: str,
        value: bytes,
        seconds: int,
        *,
        evict: bool = True,
        owner: str | None = None,
        budget: Budget | None = None,
        everyone: Budget | None = None,
    ) -> bool:
        """Keep ``value`` for ``seconds``; False if it was not kept: the store full and
        ``evict`` False (in memory), Redis out of memory (its ``maxmemory`` reached under
        ``noeviction``), ``owner`` past its ``budget`` (which this put counts against all
        the same), or everyone's puts together past ``everyone``, the budget of this use in
        the whole store (counted, like an owner's, only once the owner's budget allows it:
        one owner refused again and again does not spend everyone's)."""
        _check_key(key)
        size = len(value)
        with self._guard():
            charged = owner is None or budget is None or self._charge(owner, budget, size)
            if charged and everyone is not None:
                charged = self._charge(EVERYONE, everyone, size)
            return charged and self._keep(key, value, seconds, evict)

    def put_new(self, key: str, value: bytes, seconds: int) -> bytes | None:
        """Keep ``value`` unless a live one is there (the first of several workers wins);
        returns the one kept, or None if the store kept none (as ``put`` says)."""
        raise NotImplementedError

    def get(self, key: str, refresh_seconds: int | None = None) -> bytes | None:
        """The live value of ``key``; with ``refresh_seconds``, it lives that long again."""
        raise NotImplementedError

    def take(self, key: str) -> bytes | None:
        """Take a value: the one caller that gets it is the only one."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def count(self, key: str, add: int, window_seconds: int) -> int:
        """Add ``add`` to the counter of this clock-aligned window; returns its total."""
        raise NotImplementedError


# The owner whose budget every put of a use counts against ("#" is no owner's first character:
# owners are keyed hashes).
EVERYONE = "#everyone"


def _check_key(key: str) -> None:
    if not key or key.startswith("#"):  # "#" begins the store's own counters in Redis
        raise ValueError("a key is a non-empty name that does not begin with '#'")


class MemoryStore(Store):
    """One process's values in a dict, expiring on the monotonic clock.

    Bounded in count and in the bytes of the values: past either bound, what has expired goes
    first, then the entries nearest to expiry (or, with ``evict`` False, the new value is not
    kept). Expired entries are also swept every few seconds. Counters and owners' budgets are
    forgotten once their window is over.
    """

    SWEEP_SECONDS = 5.0

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._counters: dict[str, tuple[int, int, int]] = {}  # key: (seconds, window, total)
        self._owners: dict[str, tuple[int, int, int, int]] = {}  # (seconds, window, n, bytes)
        self._lock = threading.Lock()
        self._max = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._clock = clock  # expiries
        self._now = now  # clock-aligned windows
        self._swept = clock()

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[1])

    def _full(self, size: int) -> bool:
        return len(self._entries) >= self._max or self._bytes + size > self._max_bytes

    def _sweep(self, now: float) -> None:
        for expired in [k for k, v in self._entries.items() if v[0] <= now]:
            self._drop(expired)
        wall = self._now()
        self._counters = {k: v for k, v in self._counters.items() if v[1] == int(wall // v[0])}
        self._owners = {k: v for k, v in self._owners.items() if v[1] == int(wall // v[0])}
        self._swept = now

    def _charge(self, owner: str, budget: Budget, size: int) -> bool:
        window = int(self._now() // budget.seconds)
        seconds, last, entries, used = self._owners.get(owner, (budget.seconds, window, 0, 0))
        if (seconds, last) != (budget.seconds, window):
            entries, used = 0, 0
        if owner not in self._owners and len(self._owners) >= self._max:
            self._sweep(self._clock())
            if len(self._owners) >= self._max:  # as many owners as entries: start again
                self._owners.clear()
        self._owners[owner] = (budget.seconds, window, entries + 1, used + size)
        return budget.allows(entries + 1, used + size)

    def _guard(self) -> AbstractContextManager[Any]:
        return self._lock

    def _expiry(self, now: float, seconds: int) -> float:
        """``expiry_after`` on the monotonic clock that ``now`` was read from."""
        wall = self._now()
        return now + (expiry_after(wall, seconds) - wall)

    def _keep(self, key: str, value: bytes, seconds: int, evict: bool) -> bool:
        now = self._clock()
        self._drop(key)
        if len(value) > self._max_bytes:
            return False
        if self._full(len(value)) or now - self._swept > self.SWEEP_SECONDS:
            self._sweep(now)
        if self._full(len(value)):
            if not evict:
                return False
            while self._entries and self._full(len(value)):  # the nearest to expiry goes
                self._drop(min(self._entries, key=lambda k: self._entries[k][0]))
        self._entries[key] = (self._expiry(now, seconds), value)
        self._bytes += len(value)
        return True

    def put_new(self, key: str, value: bytes, seconds: int) -> bytes | None:
        _check_key(key)
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                return entry[1]
            return value if self._keep(key, value, seconds, True) else None

    def get(self, key: str, refresh_seconds: int | None = None) -> bytes | None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= now:
                self._drop(key)
                return None
            if refresh_seconds is not None:
                self._entries[key] = (self._expiry(now, refresh_seconds), entry[1])
            return entry[1]

    def take(self, key: str) -> bytes | None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            self._drop(key)
        return entry[1] if entry is not None and entry[0] > now else None

    def delete(self, key: str) -> None:
        with self._lock:
            self._drop(key)

    def count(self, key: str, add: int, window_seconds: int) -> int:
        _check_key(key)
        window = int(self._now() // window_seconds)
        with self._lock:
            seconds, last, total = self._counters.get(key, (window_seconds, window, 0))
            if (seconds, last) != (window_seconds, window):
                total = 0  # a new window: forget the last one
            if add:
                self._counters[key] = (window_seconds, window, total + add)
            return total + add


class RedisStore(Store):
    """Values shared by every worker: one Redis key each, ``prefix`` + the key, with an expiry.

    Redis bounds its own memory; ``evict`` does not apply, and a put that Redis refuses for
    its ``maxmemory`` (policy ``noeviction``) is not kept. A use that visitors can fill bounds
    itself with a budget of ``everyone``: under an evicting policy, what it puts would push
    out other uses' values. Counters and budgets are hashes and numbers under ``prefix#count:``
    and ``prefix#owner:``, named by their window.
    """

    def __init__(self, client: Any, prefix: str, now: Callable[[], float] = time.time) -> None:
        self._client = client
        self._prefix = prefix
        self._now = now

    def _window(self, seconds: int) -> tuple[int, int]:
        """This window's number, and when its counters expire: the end of the next window,
        so that a worker whose clock is a little behind still finds them."""
        now = self._now()
        return int(now // seconds), expiry_after(now, seconds)

    def _charge(self, owner: str, budget: Budget, size: int) -> bool:
        window, expire_at = self._window(budget.seconds)
        name = f"{self._prefix}#owner:{owner}:{budget.seconds}:{window}"
        pipe = self._client.pipeline()
        pipe.hincrby(name, "entries", 1)
        pipe.hincrby(name, "bytes", size)
        pipe.expireat(name, expire_at)
        try:
            entries, used, _ = pipe.execute()
        except Exception as error:
            if _out_of_memory(error):  # no room for the record either: not kept
                return False
            raise
        return budget.allows(int(entries), int(used))

    def _keep(self, key: str, value: bytes, seconds: int, evict: bool) -> bool:
        try:
            self._client.set(self._prefix + key, value, exat=expiry_after(self._now(), seconds))
        except Exception as error:
            if _out_of_memory(error):  # under noeviction: not kept, and nothing else lost
                return False
            raise
        return True

    def put_new(self, key: str, value: bytes, seconds: int) -> bytes | None:
        # The first to come sets it; everyone after reads what it set.
        _check_key(key)
        pipe = self._client.pipeline()
        pipe.set(self._prefix + key, value, nx=True, exat=expiry_after(self._now(), seconds))
        pipe.get(self._prefix + key)
        try:
            return pipe.execute()[1]
        except Exception as error:
            if _out_of_memory(error):
                return None
            raise

    def get(self, key: str, refresh_seconds: int | None = None) -> bytes | None:
        if refresh_seconds is None:
            return self._client.get(self._prefix + key)
        expire_at = expiry_after(self._now(), refresh_seconds)
        return self._client.getex(self._prefix + key, exat=expire_at)

    def take(self, key: str) -> bytes | None:
        return self._client.getdel(self._prefix + key)  # one taker only, across workers

    def delete(self, key: str) -> None:
        self._client.delete(self._prefix + key)

    def count(self, key: str, add: int, window_seconds: int) -> int:
        _check_key(key)
        window, expire_at = self._window(window_seconds)
        name = f"{self._prefix}#count:{key}:{window_seconds}:{window}"
        if not add:
            return int(self._client.get(name) or 0)
        pipe = self._client.pipeline()
        pipe.incrby(name, add)
        pipe.expireat(name, expire_at)
        return int(pipe.execute()[0])


class FallbackStore(Store):
    """A Redis store that, while Redis cannot be reached, keeps values in this process.

    For the markers of used challenges and passes and the counts that set their cost: what
    keeps the report form open. With them in memory for the outage, a challenge is used once
    per process rather than once everywhere, as rate limits are counted per process then
    (Flask-Limiter's fallback); refusing every form instead would close the channel on this
    machine. Each call tries Redis first, so the shared store is used again once it answers.
    """

    def __init__(self, shared: RedisStore, local: MemoryStore) -> None:
        self.shared = shared
        self.local = local

    @property
    def _client(self) -> Any:
        """The Redis client, as a ``RedisStore``'s (what tests look into and replace)."""
        return self.shared._client

    @_client.setter
    def _client(self, client: Any) -> None:
        self.shared._client = client

    def _either(self, method: str, *args: Any, **kwargs: Any) -> Any:
        import redis  # only a Redis store gets here

        try:
            return getattr(self.shared, method)(*args, **kwargs)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            return getattr(self.local, method)(*args, **kwargs)

    def put(self, key: str, value: bytes, seconds: int, **options: Any) -> bool:
        return self._either("put", key, value, seconds, **options)

    def put_new(self, key: str, value: bytes, seconds: int) -> bytes | None:
        return self._either("put_new", key, value, seconds)

    def get(self, key: str, refresh_seconds: int | None = None) -> bytes | None:
        return self._either("get", key, refresh_seconds)

    def take(self, key: str) -> bytes | None:
        return self._either("take", key)

    def delete(self, key: str) -> None:
        self._either("delete", key)

    def count(self, key: str, add: int, window_seconds: int) -> int:
        return self._either("count", key, add, window_seconds)


def _out_of_memory(error: Exception) -> bool:
    """Whether Redis refused a write for its ``maxmemory`` ("OOM command not allowed")."""
    import redis  # only a Redis store gets here

    return isinstance(error, redis.exceptions.OutOfMemoryError)


class Stores:
    """Where one app's short-lived values live: the stores made here share one Redis client
    (and Redis's memory), or each is a bounded dict of its own in this process."""

    def __init__(self, prefix: str, redis: Any | None = None) -> None:
        self.prefix = prefix
        self.redis = redis

    @classmethod
    def from_uri(cls, uri: str, prefix: str) -> Stores:
        """``memory://`` or a Redis URL (``redis://``, ``rediss://``, ``unix://``), as the
        rate-limit storage URI names it; Redis keys begin with ``prefix:``."""
        scheme = uri.split("://", 1)[0] if "://" in uri else ""
        if scheme == "memory":
            return cls(prefix)
        if scheme in REDIS_SCHEMES:
            import redis  # only when configured

            return cls(prefix, redis.Redis.from_url(uri))
        named = f"{scheme}://" if scheme else "a URI without a scheme"  # never a password
        raise ValueError(
            f"PORTAL_RATELIMIT_STORAGE_URI: {named} cannot keep short-lived values; "
            "use memory:// or redis://host:port/db (rediss:// with TLS)"
        )

    def access_time_problem(self) -> str | None:
        """Why this Redis would tell when each key was last read, or None.

        Under an LRU (or no) eviction policy Redis keeps each key's last access to the second
        (``OBJECT IDLETIME``, and in a saved copy): the second a reporter last opened a page.
        Under an LFU policy it keeps a frequency instead. None too when Redis will not say
        (``CONFIG`` refused to this account): the operator is asked to check in the docs."""
        if self.redis is None:
            return None
        try:
            policy = self.redis.config_get("maxmemory-policy").get("maxmemory-policy", "")
        except Exception:  # redis.ResponseError (CONFIG not allowed), or Redis away for now
            return None
        if isinstance(policy, bytes):
            policy = policy.decode("ascii", "replace")
        if "lfu" in policy:
            return None
        return (
            f"Redis maxmemory-policy is {policy!r}: Redis then keeps the second each key was "
            "last read (OBJECT IDLETIME), the time a reporter last opened a page. Set "
            "maxmemory-policy volatile-lfu (or allkeys-lfu) on the portal's Redis."
        )

    @property
    def shared(self) -> bool:
        """True when every worker sees the same values (Redis)."""
        return self.redis is not None

    def store(
        self,
        namespace: str,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        fallback: bool = False,
    ) -> Store:
        """A store for one use. In memory, a new one bounded by ``max_entries`` and
        ``max_bytes``; in Redis, the keys ``prefix:namespace:...``, and with ``fallback``
        such a memory store for the times Redis cannot be reached (``FallbackStore``)."""
        if self.redis is None:
            return MemoryStore(max_entries, max_bytes)
        shared = RedisStore(self.redis, f"{self.prefix}:{namespace}:")
        if fallback:
            return FallbackStore(shared, MemoryStore(max_entries, max_bytes))
        return shared


TOKEN_BYTES = 32
TOKEN_CHARS = 43  # unpadded URL-safe base64 of the token


def token_text(token: bytes) -> str:
    return base64.urlsafe_b64encode(token).decode("ascii").rstrip("=")


def new_token() -> str:
    """A fresh random token, as the browser keeps it (43 characters)."""
    return token_text(os.urandom(TOKEN_BYTES))


def parse_token(text: object) -> bytes | None:
    """The token written as ``text``; None unless it is one, written as we write it."""
    if not isinstance(text, str) or len(text) != TOKEN_CHARS or not text.isascii():
        return None
    try:
        token = base64.urlsafe_b64decode(text + "=")
    except (binascii.Error, ValueError):
        return None
    return token if len(token) == TOKEN_BYTES and token_text(token) == text else None


class SealedValues:
    """Values sealed under a random token that only the browser holds, kept in a store.

    From the token come two keys (HMAC-SHA256 of the token, each under its own label): the
    name the value is filed under, and the ChaCha20-Poly1305 key it is sealed with. The store
    sees neither the token nor the value: whoever reads it can neither open a value nor
    find which token it belongs to, and another token, or a changed value, opens nothing.
    ``label`` keeps the values of one use apart from every other's.
    """

    def __init__(self, store: Store, label: bytes) -> None:
        self.store = store
        self._label = label

    def _derive(self, token: bytes, purpose: bytes) -> bytes:
        return hmac.new(token, self._label + b"\x00" + purpose, hashlib.sha256).digest()

    def _name(self, token: bytes) -> str:
        return self._derive(token, b"name").hex()

    def put(
        self,
        value: bytes,
        seconds: int,
        *,
        evict: bool = True,
        owner: str | None = None,
        budget: Budget | None = None,
        everyone: Budget | None = None,
    ) -> str | None:
        """Seal ``value`` under a fresh token and keep it for ``seconds``; returns the token
        for the browser, or None if the store did not keep it (see ``Store.put``)."""
        token = os.urandom(TOKEN_BYTES)
        nonce = os.urandom(12)
        sealed = ChaCha20Poly1305(self._derive(token, b"seal")).encrypt(nonce, value, self._label)
        kept = self.store.put(
            self._name(token),
            nonce + sealed,
            seconds,
            evict=evict,
            owner=owner,
            budget=budget,
            everyone=everyone,
        )
        return token_text(token) if kept else None

    def _open(self, token: bytes, stored: bytes | None) -> bytes | None:
        if stored is None or len(stored) < 12 + 16:
            return None
        key = ChaCha20Poly1305(self._derive(token, b"seal"))
        try:
            return key.decrypt(stored[:12], stored[12:], self._label)
        except InvalidTag:
            return None

    def get(self, text: str, refresh_seconds: int | None = None) -> bytes | None:
        """The value sealed under the token ``text``; None if gone, forged or changed. With
        ``refresh_seconds``, it lives that long again."""
        token = parse_token(text)
        if token is None:
            return None
        return self._open(token, self.store.get(self._name(token), refresh_seconds))

    def take(self, text: str) -> bytes | None:
        """Like ``get``, once: the value is gone for every later caller."""
        token = parse_token(text)
        if token is None:
            return None
        return self._open(token, self.store.take(self._name(token)))

    def delete(self, text: str) -> None:
        token = parse_token(text)
        if token is not None:
            self.store.delete(self._name(token))
