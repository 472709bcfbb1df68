"""Anonymous reports: the public pages a reporter meets (the console's side comes apart)."""

import threading

from flask import Flask, Response, request
from limits import parse

from app.public.reports import upload_request, views
from app.public.reports.handover import HANDOVER_SECONDS, Handover
from app.public.reports.noscript import NoScriptPasses
from app.public.reports.pow import ProofOfWork
from app.services.ephemeral import Budget
from app.services.reports.followup_sessions import FollowupSessions
from app.services.reports.reply_budget import ReplyBytes
from crypto import receipts


def register(app: Flask) -> None:
    stores = app.extensions["portal.ephemeral"]
    secret = app.config["SECRET_KEY"].encode()
    # Challenges are signed, not stored: only the hashes of used ones are kept.
    app.extensions["portal.report_pow"] = ProofOfWork(
        stores.store("pow", max_entries=200_000, max_bytes=1 << 20, fallback=True),
        app.config["REPORT_POW_BITS"],
        app.config["REPORT_POW_STEP"],
        secret=secret,
    )
    app.extensions["portal.noscript_passes"] = NoScriptPasses(
        stores.store("noscript", max_entries=200_000, max_bytes=16 << 20, fallback=True),
        secret,
        app.config["REPORT_NOSCRIPT_WAIT_MINUTES"],
        app.config["REPORT_NOSCRIPT_STEP"],
    )
    # Codes tried by everyone past RATELIMIT_RECEIPTS_ALL in its window each need work too.
    entries = parse(app.config["RATELIMIT_RECEIPTS_ALL"])
    entry_store = stores.store("entries", max_entries=200_000, max_bytes=16 << 20)
    app.extensions["portal.entry_pow"] = ProofOfWork(
        entry_store,
        app.config["REPORT_POW_BITS"],
        entries.amount,
        counter="entries",
        window=entries.get_expiry(),
        secret=secret,
    )
    app.extensions["portal.entry_passes"] = NoScriptPasses(
        entry_store,
        secret,
        app.config["REPORT_NOSCRIPT_WAIT_MINUTES"],
        app.config["REPORT_NOSCRIPT_STEP"],
        counter="entries-noscript",
    )
    app.extensions["portal.code_derivations"] = threading.BoundedSemaphore(
        app.config["CODE_DERIVATIONS"]
    )
    app.extensions["portal.followup_sessions"] = FollowupSessions(
        stores.store("followup"),
        idle_seconds=app.config["FOLLOWUP_IDLE_MINUTES"] * 60,
        lifetime_seconds=app.config["FOLLOWUP_LIFETIME_MINUTES"] * 60,
    )
    # The bytes of reply files of each report per day, under a name only its reporter's key
    # makes: replies need no work, so this bounds what a follow-up session can store.
    app.extensions["portal.reply_bytes"] = ReplyBytes(
        stores.store("replybytes"), app.config["REPORT_REPLY_MAX_BYTES_PER_DAY"]
    )
    # Pages handed from a POST to the GET that shows them. In memory, receipts have a store
    # of their own, which nothing a visitor sends can fill; forms sent back and notices never
    # push out what waits in theirs. In Redis both share one namespace (a name does not say
    # which it is), and entries expire after two minutes.
    # Forms sent back and notices have a budget of bytes for everyone together, in memory and
    # in Redis (where nothing else bounds them); a page past it is shown at once instead.
    pages_bytes = app.config["REPORT_HANDOVER_MAX_BYTES"]
    receipts_store = stores.store("handover", max_entries=20_000, max_bytes=32 << 20)
    pages_store = stores.store("handover", max_entries=5000, max_bytes=pages_bytes)
    app.extensions["portal.handover.receipts"] = Handover(receipts_store)
    app.extensions["portal.handover.pages"] = Handover(
        pages_store,
        evict=False,
        spare=True,
        everyone=Budget(seconds=HANDOVER_SECONDS, bytes=pages_bytes),
    )
    receipts.use_processes(app.config["REPORT_KDF_PROCESSES"])
    upload_request.init_app(app)
    app.register_blueprint(views.bp)
    app.after_request(_no_store_under_report)


def _no_store_under_report(response: Response) -> Response:
    """Also the pages no view of the blueprint answers (405, 404 under /report/)."""
    if request.path == "/report" or request.path.startswith("/report/"):
        response.headers["Cache-Control"] = "no-store"
    return response
