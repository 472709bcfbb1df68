"""Reader identity on the public site, taken from a trusted reverse proxy's headers.

Off by default (``READER_HEADER`` empty). When on, the headers are believed only if the
direct peer is one of ``TRUSTED_PROXIES``: a client that reaches the app directly, or a
proxy that is not ours, cannot claim to be anybody. The proxy must overwrite the headers
on every request (see deploy/nginx.conf), so a client cannot pass its own through it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Response, current_app, g, request
from werkzeug.datastructures import EnvironHeaders

from app.security.network import address_in
from app.services.disclosures.visibility import ANONYMOUS, Reader

PARTY_TRUE = {"1", "true", "yes", "y", "on"}
NAME_RE = re.compile(r"^[\w.@-]{1,128}$")
UNIT_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def _direct_peer(environ: Mapping[str, Any]) -> str | None:
    # TrustedProxyFix keeps the original peer here when it rewrote REMOTE_ADDR.
    original = environ.get("werkzeug.proxy_fix.orig", {})
    return original.get("REMOTE_ADDR") or environ.get("REMOTE_ADDR")


def reader_from_environ(config: Mapping[str, Any], environ: Mapping[str, Any]) -> Reader:
    """The reader a WSGI request comes from (also used before Flask sees the request)."""
    header = config.get("READER_HEADER")
    if not header or not address_in(_direct_peer(environ), config["TRUSTED_PROXIES"]):
        return ANONYMOUS
    headers = EnvironHeaders(environ)
    name = (headers.get(header) or "").strip()
    if not name or not NAME_RE.match(name):
        return ANONYMOUS
    unit = (headers.get(config["READER_UNIT_HEADER"]) or "").strip()
    party = (headers.get(config["READER_PARTY_HEADER"]) or "").strip().lower()
    return Reader(
        name=name,
        unit_code=unit if UNIT_RE.match(unit) else None,
        party_member=party in PARTY_TRUE,
    )


def current_reader() -> Reader:
    if "reader" not in g:
        g.reader = reader_from_environ(current_app.config, request.environ)
    return g.reader


def reader_headers() -> list[str]:
    config = current_app.config
    if not config.get("READER_HEADER"):
        return []
    return [config["READER_HEADER"], config["READER_UNIT_HEADER"], config["READER_PARTY_HEADER"]]


def reader_scope(config: Mapping[str, Any], environ: Mapping[str, Any]) -> tuple:
    """What a page for this request's reader depends on: unit and party membership, no name."""
    reader = reader_from_environ(config, environ)
    return (reader.unit_code, reader.party_member)


def vary_by_reader(response: Response) -> Response:
    """After a request: pages differ by reader when reader sign-in is on, so no shared cache
    may mix them up."""
    headers = reader_headers()
    if headers:
        response.vary.update(headers)
        response.headers["Cache-Control"] = "private, no-cache"
    return response
