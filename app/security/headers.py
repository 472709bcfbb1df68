"""Response headers that every page of both apps carries."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from flask import Flask, Response

# Everything is served from our own origin; no inline script or style anywhere.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
        "serial",
        "xr-spatial-tracking",
    )
)


def init_app(app: Flask, surface: str) -> None:
    https = app.config["HTTPS"]

    fixed = [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Permissions-Policy", PERMISSIONS_POLICY),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
    ]
    if https:
        fixed.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    if surface == "console":
        fixed += [("Cache-Control", "no-store"), ("Pragma", "no-cache")]

    @app.after_request
    def set_security_headers(response: Response) -> Response:
        # Each runs on every response, cached pages included: add what is missing in one
        # pass, and replace only what a view set itself (a view's own CSP is kept).
        headers = response.headers
        present = {name.lower() for name, _value in headers}
        if "content-security-policy" not in present:
            headers.add("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        for name, value in fixed:
            if name.lower() in present:
                headers[name] = value
            else:
                headers.add(name, value)
        return response


# RFC 5987 attr-char: what may stand unescaped in ``filename*``.
_ATTR_CHARS = "!#$&+-.^_`|~"
_FALLBACK_UNSAFE = re.compile(r"[^A-Za-z0-9 ._()\-]+")
_WORD = re.compile(r"[A-Za-z0-9]")


def content_disposition(disposition: str, filename: str) -> str:
    """A ``Content-Disposition`` value any browser reads, for a name in any script (RFC 6266).

    ``filename`` is an ASCII stand-in for old clients; ``filename*`` carries the real name,
    UTF-8 and percent-encoded. Control characters (line breaks included) never reach the header.
    """
    name = "".join(ch for ch in filename if unicodedata.category(ch)[0] != "C").strip()
    name = name or "attachment"
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = _FALLBACK_UNSAFE.sub("_", ascii_name).strip(" _")
    stem, _, ext = fallback.rpartition(".") if "." in fallback else (fallback, "", "")
    # A stand-in says something or is "attachment" (not "()" from "招标(终稿)"), with the
    # extension a client opens it by.
    stem = stem.strip(" _") if _WORD.search(stem) else "attachment"
    fallback = stem + (f".{ext}" if _WORD.search(ext) else "")
    encoded = quote(name, safe=_ATTR_CHARS)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
