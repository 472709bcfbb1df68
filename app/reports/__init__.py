"""Anonymous reports: the public pages a reporter meets (the console's side comes apart)."""

from flask import Flask, Response, request

from app.reports import uploads, views
from app.reports.handover import Handover
from app.reports.pow import ProofOfWork
from app.services.reports.followup_sessions import FollowupSessions, MemoryBackend
from crypto import receipts


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
    # Pages handed from a POST to the GET that shows them: their own store, so that a flood
    # of refused forms cannot push reporters' follow-up sessions out.
    handover_store = app.extensions["portal.followup_sessions"].backend
    if isinstance(handover_store, MemoryBackend):
        handover_store = MemoryBackend(max_entries=5000, max_bytes=64 << 20)
    app.extensions["portal.receipt_handover"] = Handover(handover_store)
    receipts.use_processes(app.config["REPORT_KDF_PROCESSES"])
    uploads.init_app(app)
    app.register_blueprint(views.bp)
    app.after_request(_no_store_under_report)


def _no_store_under_report(response: Response) -> Response:
    """Also the pages no view of the blueprint answers (405, 404 under /report/)."""
    if request.path == "/report" or request.path.startswith("/report/"):
        response.headers["Cache-Control"] = "no-store"
    return response
