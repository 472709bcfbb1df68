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

    @app.after_request
    def set_security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Permissions-Policy"] = PERMISSIONS_POLICY
        headers["X-Frame-Options"] = "DENY"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        if https:
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if surface == "console":
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"
        return response
