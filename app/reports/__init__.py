"""Anonymous reports: the public pages a reporter meets (the console's side comes apart)."""

from flask import Flask

from app.reports import uploads, views
from app.reports.handover import Handover
from app.reports.pow import ProofOfWork
from app.services.reports.followup_sessions import FollowupSessions


def register_public(app: Flask) -> None:
    app.extensions["portal.report_pow"] = ProofOfWork.for_storage(
        str(app.config["RATELIMIT_STORAGE_URI"]),
        "portal-public",
        app.config["REPORT_POW_BITS"],
        app.config["REPORT_POW_STEP"],
    )
    app.extensions["portal.followup_sessions"] = FollowupSessions.from_url(
        str(app.config["RATELIMIT_STORAGE_URI"]),
        idle_seconds=app.config["FOLLOWUP_IDLE_MINUTES"] * 60,
    )
    app.extensions["portal.receipt_handover"] = Handover(
        app.extensions["portal.followup_sessions"].backend
    )
    uploads.init_app(app)
    app.register_blueprint(views.bp)
