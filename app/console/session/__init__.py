"""Signing in and out of the console, enrolling, and a staff member's own account."""

from flask import Flask

# account and enrolment add their routes to views.bp.
from app.console.session import account, derivations, enrolment, views  # noqa: F401


def register(app: Flask) -> None:
    derivations.init_app(app)
    app.register_blueprint(views.bp)
