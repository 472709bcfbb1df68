"""Case handling: the inbox, the case page and the actions on a case."""

from flask import Flask

from app.console.cases import access_views, uploads, views


def register(app: Flask) -> None:
    uploads.init_app(app)
    # Who reads a case (grant, recusal, transfer, export, recovery) adds its routes to the
    # same blueprint, under /cases/.
    assert access_views.bp is views.bp
    app.register_blueprint(views.bp)
