"""Rate-limit keys: an HMAC of the address under a key of the day, derived from a seed that
lives only in the running servers' memory: neither on disk nor in Redis."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from datetime import date

from app.security.daily_key import DailyKey, new_seed
from app.security.network import keyed_hash

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
    # And no secret on disk turns the counter key back into the address.
    network = ipaddress.ip_network("198.51.100.0/24")
    for path in (instance.path / "secrets").iterdir():
        secret = path.read_bytes().strip()
        assert _key_of(first) not in {keyed_hash(secret, str(a)) for a in network}


def test_workers_given_one_seed_share_the_key_of_each_day(instance):
    seed = new_seed()
    workers = [instance.app("public", RATELIMIT_SEED=seed) for _ in "12"]
    assert _key_of(workers[0]) == _key_of(workers[1])
    assert _key_of(workers[0], "198.51.100.24") != _key_of(workers[0])
    assert _key_of(instance.app("public", RATELIMIT_SEED=new_seed())) != _key_of(workers[0])


def test_an_address_is_counted_under_unrelated_keys_on_the_site_and_the_console(instance):
    # The console's log names each client's address and time: were an address's counters
    # filed under one key on both, a copy of Redis would tie that key's requests to the
    # public site (a report sent) to the address the console's log gives for it.
    seed = new_seed()
    public = instance.app("public", RATELIMIT_SEED=seed)
    console = instance.app("console", RATELIMIT_SEED=seed)
    for address in (ADDRESS, "2001:db8:4a:1::17"):
        assert _key_of(public, address) != _key_of(console, address)
    assert _key_of(public) == _key_of(instance.app("public", RATELIMIT_SEED=seed))


def test_a_new_day_brings_a_new_key():
    days = iter([date(2026, 12, 4), date(2026, 12, 4), date(2026, 12, 5), date(2026, 12, 4)])
    key = DailyKey(new_seed(), today=lambda: next(days))
    first, same_day, next_day, back = key.current(), key.current(), key.current(), key.current()
    assert first == same_day == back
    assert next_day != first and len(next_day) == 32


def test_a_short_seed_is_refused(instance):
    import pytest

    from app.config import ConfigError

    with pytest.raises(ConfigError, match="PORTAL_RATELIMIT_SEED"):
        instance.app("public", RATELIMIT_SEED="short")


def test_portal_serve_and_gunicorn_hand_every_worker_one_seed(monkeypatch):
    from app import gunicorn_hooks

    monkeypatch.delenv("PORTAL_RATELIMIT_SEED", raising=False)
    gunicorn_hooks.on_starting(None)
    seed = os.environ["PORTAL_RATELIMIT_SEED"]
    assert seed.startswith("seed-") and len(seed) >= 32
    gunicorn_hooks.on_starting(None)  # a seed already set (several machines) is kept
    assert os.environ["PORTAL_RATELIMIT_SEED"] == seed
    # As the environment carries it, it is read back as the same text, never as JSON.
    code = "from app.config import defaults; import flask; c = flask.Config('.'); "
    code += "c.from_prefixed_env('PORTAL'); print(c['RATELIMIT_SEED'])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    ).stdout.strip()
    assert out == seed
