"""The disclosure log's public face: checkpoints and proofs anyone can verify."""

from flask import Flask

from app.public.log import views


def register(app: Flask) -> None:
    app.register_blueprint(views.bp)
