"""Search over the public disclosures: ``/search?q=``."""

from flask import Flask

from app.public.search import views


def register(app: Flask) -> None:
    app.register_blueprint(views.bp)
