"""Per-client limits count an IPv6 host by its network, not by each address it can pick."""

from __future__ import annotations

import pytest

from app.config import ConfigError
from app.security.network import client_group


def test_addresses_of_one_prefix_are_one_client():
    first = client_group("2001:db8:1:2::1", 64)
    assert first == client_group("2001:db8:1:2:ffff:ffff:ffff:fffe", 64) == "2001:db8:1:2::/64"
    assert client_group("2001:db8:1:3::1", 64) != first
    assert client_group("2001:db8:1:3::1", 48) == client_group("2001:db8:1:2::1", 48)
    assert client_group("2001:db8::1", 128) != client_group("2001:db8::2", 128)


def test_ipv4_and_ipv4_mapped_addresses_are_the_address():
    assert client_group("198.51.100.7", 64) == "198.51.100.7"
    assert client_group("::ffff:198.51.100.7", 64) == "198.51.100.7"
    assert client_group("", 64) == "" and client_group(None, 64) == ""
    assert client_group("not-an-address", 64) == "not-an-address"


def test_a_flood_from_one_prefix_meets_one_limit(instance):
    app = instance.app("public", RATELIMIT_DEFAULT="3 per hour")
    statuses = [
        app.test_client()
        .get("/report/", environ_base={"REMOTE_ADDR": f"2001:db8:7:7::{n:x}"})
        .status_code
        for n in range(1, 11)
    ]
    assert statuses == [200] * 3 + [429] * 7
    # Another network, and an IPv4 client, are not held back.
    other = app.test_client().get("/report/", environ_base={"REMOTE_ADDR": "2001:db8:7:8::1"})
    assert other.status_code == 200
    mapped = app.test_client().get("/report/", environ_base={"REMOTE_ADDR": "::ffff:192.0.2.1"})
    assert mapped.status_code == 200


@pytest.mark.parametrize("prefix", [0, 8, 129, "64x", True])
def test_a_prefix_out_of_range_is_refused_at_start(instance, prefix):
    with pytest.raises(ConfigError, match="PORTAL_RATELIMIT_IPV6_PREFIX"):
        instance.app("public", RATELIMIT_IPV6_PREFIX=prefix)
