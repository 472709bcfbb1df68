"""Signing in and out of the console, enrolling, and a staff member's own account."""

from flask import Flask

from app.console.session import account, enrolment, views  # noqa: F401  (routes on views.bp)


def register(app: Flask) -> None:
    app.register_blueprint(views.bp)
