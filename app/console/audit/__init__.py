"""The auditor's pages: the audit trail filtered, a case's history, checkpoint and proofs."""

from flask import Flask

from app.console.audit import views


def register(app: Flask) -> None:
    app.register_blueprint(views.bp)
