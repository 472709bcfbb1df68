"""Who may reach what: the console allowlist, trusted proxies and rate-limit keys."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from typing import Any

from flask import Flask, abort, current_app, request
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wsgi import get_host

from app.security import daily_key


def address_in(address: str | None, networks: Iterable[Any]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


class TrustedProxyFix:
    """Apply X-Forwarded-For/-Proto only when the direct peer is a configured proxy.

    A client talking to the app directly cannot pick its own address by sending the header.
    """

    def __init__(self, wsgi_app: Any, proxies: list[Any]) -> None:
        self.direct = wsgi_app
        self.proxied = ProxyFix(wsgi_app, x_for=1, x_proto=1)
        self.proxies = proxies

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if address_in(environ.get("REMOTE_ADDR"), self.proxies):
            return self.proxied(environ, start_response)
        return self.direct(environ, start_response)


def client_group(address: str | None, ipv6_prefix: int) -> str:
    """What a client's limits count under: its IPv4 address, or the IPv6 network of
    ``ipv6_prefix`` bits its address is in (an IPv4-mapped IPv6 address is its IPv4 address).

    One host is usually given a whole /64 and picks any address in it: counted by address, it
    would get a budget per address, as many as it likes."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or ""
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(ip), ipv6_prefix), strict=False))


def client_key(app: Flask, address: str | None) -> str:
    """A keyed hash of the client's group (``client_group``) under the day's key
    (``daily_key``): storage (memory or Redis) never holds the address, nor the key that leads
    back to it.

    The app's surface is hashed too: the console's log names its clients' addresses, and one
    key for an address on both apps would tie its public requests (a report sent) to the
    address the console's log gives at the same moment."""
    group = client_group(address, app.config["RATELIMIT_IPV6_PREFIX"])
    surface = app.config["SURFACE"]
    return keyed_hash(app.extensions["portal.daily_key"].current(), f"{surface}:{group}")


def rate_limit_key() -> str:
    """The key of this request's client for every per-client limit (``client_key``)."""
    return client_key(current_app, request.remote_addr)


_KEYED: dict[bytes, Any] = {}


def keyed_hash(key: bytes, value: str | None) -> str:
    """HMAC-SHA256 of ``value`` under ``key``, shortened to 128 bits (hex)."""
    # The keyed state after the fixed prefix is the same for every request: copy it.
    keyed = _KEYED.get(key)
    if keyed is None:
        if len(_KEYED) > 16:
            _KEYED.clear()
        keyed = _KEYED[key] = hmac.new(key, b"ratelimit:", hashlib.sha256)
    mac = keyed.copy()
    mac.update((value or "").encode())
    return mac.hexdigest()[:32]


UNKNOWN_HOST = "portal.unknown_host"
# Host given to Flask in place of an unknown one, so that its 400 page can build links.
STAND_IN_HOST = "localhost"


class KnownHosts:
    """Refuse a request for a host name we do not serve, before any other layer sees it.

    A foreign ``Host`` header would otherwise reach the views, end up in links of pages
    rendered for it, and fill the page cache with copies keyed by made-up names.
    """

    def __init__(self, app: Flask, wsgi_app: Any) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.hosts = app.config["TRUSTED_HOSTS"]
        self.ports = set(app.config["TRUSTED_PORTS"])

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        host = environ.get("HTTP_HOST")
        if host is not None:
            # Host names are case-insensitive; one spelling keeps one cache key.
            environ["HTTP_HOST"] = host = host.lower()
        try:
            get_host(environ, self.hosts)
            port = host.rpartition(":")[2] if host and ":" in host.rpartition("]")[2] else ""
            if port and port not in self.ports:
                raise SecurityError("not a port of this site")
        except SecurityError:
            environ = dict(environ, HTTP_HOST=STAND_IN_HOST)
            environ[UNKNOWN_HOST] = True
            # Straight to Flask, past the page cache: its first handler answers 400.
            return Flask.wsgi_app(self.app, environ, start_response)
        return self.wsgi_app(environ, start_response)


def refuse_unknown_host() -> None:
    if request.environ.get(UNKNOWN_HOST):
        abort(400)


def known_hosts_only(app: Flask) -> None:
    """Answer only ``TRUSTED_HOSTS``; any other Host header gets the 400 page."""
    app.wsgi_app = KnownHosts(app, app.wsgi_app)
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_unknown_host)


def trust_proxies(app: Flask) -> None:
    """Wrap the app outermost, so every other WSGI layer sees the client's real address."""
    if app.config["TRUSTED_PROXIES"]:
        app.wsgi_app = TrustedProxyFix(app.wsgi_app, app.config["TRUSTED_PROXIES"])


def init_app(app: Flask, surface: str) -> None:
    app.extensions["portal.daily_key"] = daily_key.DailyKey(app.config["RATELIMIT_SEED"])
    if surface == "console":
        allowed = app.config["CONSOLE_ALLOW"]

        @app.before_request
        def refuse_outside_allowlist() -> None:
            if not address_in(request.remote_addr, allowed):
                abort(403)
