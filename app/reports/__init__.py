"""Anonymous reports: the public pages a reporter meets (the console's side comes apart)."""

from flask import Flask

from app.reports import views
from app.reports.pow import ProofOfWork


def register_public(app: Flask) -> None:
    app.extensions["portal.report_pow"] = ProofOfWork.for_storage(
        str(app.config["RATELIMIT_STORAGE_URI"]),
        "portal-public",
        app.config["REPORT_POW_BITS"],
        app.config["REPORT_POW_STEP"],
    )
    app.register_blueprint(views.bp)
