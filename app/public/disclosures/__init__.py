"""The public disclosure pages: index, item, history, print view, feed, catalogue, questions."""

from flask import Flask

from app.public.disclosures import views


def register(app: Flask) -> None:
    app.register_blueprint(views.bp)
