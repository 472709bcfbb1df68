"""Public statistics of tip handling: ``/stats`` and ``/stats.csv``."""

from flask import Flask

from app.public.stats import views


def register(app: Flask) -> None:
    app.register_blueprint(views.bp)
