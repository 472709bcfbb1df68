"""Forms are taken from our own pages only: what the browser says of where a form comes from
is checked, without asking for a Referer that our pages tell it not to send.

Over HTTPS, Flask-WTF refuses any form without a Referer header (``WTF_CSRF_SSL_STRICT``).
Every page of ours sends ``Referrer-Policy: no-referrer``, so that no address of ours reaches
another site; browsers then send no Referer to us either (and ``Origin: null``), and behind a
TLS proxy every form (a report, a follow-up, a staff sign-in) would be refused. The CSRF
token, tied to the session cookie (SameSite; ``__Host-`` under PORTAL_HTTPS, so that no one
on the network can plant it), stays the check. On top of it, a form that a browser says was
sent from another site (``Sec-Fetch-Site``), or that carries a Referer of another origin, is
refused as Flask-WTF would have refused it.
"""

from __future__ import annotations

from flask import Flask, request
from flask_wtf.csrf import CSRFError, same_origin

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# "none": the person sent it themselves (not from a page of another site).
OWN_SITE = frozenset({"same-origin", "none"})


def refuse_forms_from_other_sites() -> None:
    if request.method in SAFE_METHODS:
        return
    fetched_from = request.headers.get("Sec-Fetch-Site")
    if fetched_from is not None and fetched_from not in OWN_SITE:
        raise CSRFError("The form was sent from another site.")
    referrer = request.referrer
    if referrer and not same_origin(referrer, f"{request.scheme}://{request.host}/"):
        raise CSRFError("The referrer does not match the host.")


def init_app(app: Flask) -> None:
    app.config["WTF_CSRF_SSL_STRICT"] = False
    app.before_request(refuse_forms_from_other_sites)
