"""The workers' congress's review of published disclosures: its secretary's pages."""

from flask import Flask

from app.console.congress import views


def register(app: Flask) -> None:
    app.register_blueprint(views.bp)
