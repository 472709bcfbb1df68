"""Search over the public disclosures: ``/search?q=`` on the public site."""

from __future__ import annotations

from flask import Flask


def register_public(app: Flask) -> None:
    from app.search import views

    app.register_blueprint(views.bp)
