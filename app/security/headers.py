"""Response headers that every page of both apps carries."""

from __future__ import annotations

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
