"""Rate-limit keys: an HMAC of the address under a random key of the day, kept off disk."""

from __future__ import annotations

import ipaddress
from datetime import date

import redis

from app.security.daily_key import REDIS_EXPIRY_SECONDS, DailyKey
from app.security.network import keyed_hash
from app.services.ephemeral import Stores
from tests.helpers.environment import REDIS_URL, skip_or_fail

ADDRESS = "198.51.100.23"


def _key_of(app, address: str = ADDRESS) -> str:
    from app.security.network import rate_limit_key

    with app.test_request_context("/", environ_base={"REMOTE_ADDR": address}):
        return rate_limit_key()


def test_the_key_is_not_derived_from_anything_on_disk(instance):
    # Two apps of one instance share its secret keys and configuration: were the HMAC key
    # derived from them, an address would get the same counter key in both.
    first, second = instance.app("public"), instance.app("public")
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert _key_of(first) == _key_of(first)
    assert _key_of(first) != _key_of(second)
    # And the secret key on disk does not turn the counter key back into the address.
    secret = first.config["SECRET_KEY"].encode()
    network = ipaddress.ip_network("198.51.100.0/24")
    found = {keyed_hash(secret, str(a)) for a in network}
    assert _key_of(first) not in found


def test_a_new_day_brings_a_new_key():
    days = iter([date(2026, 12, 4), date(2026, 12, 4), date(2026, 12, 5)])
    key = DailyKey(today=lambda: next(days))
    first, same_day, next_day = key.current(), key.current(), key.current()
    assert first == same_day
    assert next_day != first and len(next_day) == 32


def test_workers_sharing_redis_share_the_day_s_key_which_expires():
    if not REDIS_URL:
        skip_or_fail("Redis not configured: set PORTAL_TEST_REDIS_URL")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        day = date(2026, 12, 4)
        workers = [
            DailyKey(Stores.from_uri(REDIS_URL, "portal-t").store("rate-limit-key"), lambda: day)
            for _ in "12"
        ]
        assert workers[0].current() == workers[1].current()
        name = "portal-t:rate-limit-key:2026-12-04"
        assert client.get(name) == workers[0].current()
        assert 0 < client.ttl(name) <= REDIS_EXPIRY_SECONDS
        # Another installation's name, another key.
        other = Stores("portal-u", client).store("rate-limit-key")
        assert DailyKey(other, lambda: day).current() != workers[0].current()
    finally:
        client.flushdb()
        client.close()
