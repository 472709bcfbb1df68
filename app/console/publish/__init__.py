"""The publishing workflow: drafts, review, approval, publication, questions."""

from flask import Flask

from app.console.publish import views


def register(app: Flask) -> None:
    app.register_blueprint(views.bp)
