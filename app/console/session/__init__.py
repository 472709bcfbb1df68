"""Signing in and out of the console."""

from flask import Flask

from app.console.session import views


def register(app: Flask) -> None:
    app.register_blueprint(views.bp)
