"""Case handling: the inbox, the case page and the actions on a case."""

from flask import Flask

from app.console.cases import uploads, views


def register(app: Flask) -> None:
    uploads.init_app(app)
    app.register_blueprint(views.bp)
