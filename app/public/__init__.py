"""The public site: disclosures and anonymous reports. No staff routes live here."""

from flask import Flask

from app import page_cache
from app.disclosures import register_public as register_disclosures
from app.public import views


def register(app: Flask) -> None:
    page_cache.init_app(app)
    app.register_blueprint(views.bp)
    register_disclosures(app)
