"""What an app holds for its services, built once with the app and kept in ``app.extensions``.

The blob store of attachments (files, or PostgreSQL's tables: ``BLOB_STORE``), the disclosure
log's keys and the receipt pepper: the console holds the log's signing key (generated on first
use), the public app only the public verifier; the audit log's keys only the console (and the
``portal`` command) holds, the public app none; the receipt derivations' versions and the
sealing parameters, read from the app's configuration. The short-lived stores
(``app.services.ephemeral``) are made from the rate-limit storage URI: in memory, or in Redis
under ``portal-<surface>:``. Views and commands take them from here and hand them to the
services as arguments.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging

from flask import Flask, current_app, g, has_request_context
from sqlalchemy.orm import Session

from app.db import get_session
from app.i18n import enterprise_zone
from app.services.blobs import BlobError, BlobStore, FilesystemBlobStore
from app.services.cases import work_days
from app.services.cases.calendar import WorkCalendar
from app.services.cases.deadlines import DeadlineRules
from app.services.digest import DigestSettings
from app.services.ephemeral import Stores
from app.services.pg_blobs import PostgresBlobStore
from app.services.signed_log import LogKeys
from crypto import SealParams
from crypto.receipts import RECEIPT_VERSIONS, ReceiptVersions
from crypto.sealing import DEFAULT_SEAL_PARAMS


def init_app(app: Flask) -> None:
    config = app.config
    # Blobs are dated by the enterprise's day, the day a report's received_on says.
    blobs = app.extensions["portal.blobs"] = make_blob_store(app)
    stores = app.extensions["portal.ephemeral"] = Stores.from_uri(
        str(config["RATELIMIT_STORAGE_URI"]), f"portal-{config['SURFACE']}"
    )
    if config["SURFACE"] == "public":  # the app that receives reports and their followers
        with contextlib.suppress(OSError):  # a read-only copy, a command: made on first use
            blobs.prepare()
        problem = stores.access_time_problem()
        if problem:
            logging.getLogger(__name__).warning("%s", problem)
    app.extensions["portal.disclosure_log"] = LogKeys(
        config["LOG_ORIGIN"],
        config["LOG_KEY_FILE"],
        config["LOG_VKEY"],
        signing=config["SURFACE"] == "console",
    )
    if config["SURFACE"] == "console":  # and the portal command; never the public app
        app.extensions["portal.audit_log"] = LogKeys(
            config["AUDIT_LOG_ORIGIN"], config["AUDIT_LOG_KEY_FILE"], signing=True
        )
    # The dates owed to reporters, on the official calendar with the installation's changes.
    app.extensions["portal.deadline_rules"] = DeadlineRules.from_config(config)
    # The daily digest: its hour, the console's address and the mail server.
    app.extensions["portal.digest"] = DigestSettings.from_config(config)
    # PORTAL_RECEIPT_PEPPER, or instance/secrets/receipt.pepper (made once by app/config.py).
    app.extensions["portal.receipt_pepper"] = config["RECEIPT_PEPPER"].encode()


def make_blob_store(app: Flask, kind: str | None = None) -> BlobStore:
    """The blob store ``BLOB_STORE`` names (or ``kind``): files under ``BLOB_PATH``, or the
    tables of the database itself, written in the request's session (app/services/pg_blobs.py).
    """
    zone = enterprise_zone(app.config)
    if (kind or app.config["BLOB_STORE"]) == "postgresql":
        return PostgresBlobStore(
            app.extensions["portal.db"].engine, _request_session, zone, root=app.config["BLOB_PATH"]
        )
    return FilesystemBlobStore(app.config["BLOB_PATH"], zone)


def _request_session() -> Session | None:
    """The session of the request under way. None outside a request (a command, the jobs):
    those bind the store to their own session (``BlobStore.bound``), and a blob written
    unbound is committed on its own, as a file would be."""
    return get_session() if has_request_context() else None


def blob_store() -> BlobStore:
    return current_app.extensions["portal.blobs"]


def blob_store_hint(missing_keys: list[str]) -> str | None:
    """When blobs missing from the configured store are in the other one (a store migrated
    and the setting not changed, or changed and the blobs not migrated): what to do."""
    config = current_app.config
    configured = config["BLOB_STORE"]
    other = "filesystem" if configured == "postgresql" else "postgresql"
    if other == "postgresql" and not str(config["DATABASE_URL"]).startswith("postgresql"):
        return None
    store = make_blob_store(current_app, other)
    found = 0
    for key in missing_keys[:20]:
        try:
            store.open(key).close()
        except (BlobError, OSError):
            continue
        found += 1
    if not found:
        return None
    return (
        f"BLOB STORE: this server is configured for the {configured} blob store "
        f"(PORTAL_BLOB_STORE={configured}), but {found} of the missing blobs checked are in the "
        f"{other} store. Either set PORTAL_BLOB_STORE={other}, or move them with "
        f"`portal blobs migrate --to {configured}` (docs/operations.md)."
    )


def work_calendar(session: Session | None = None) -> WorkCalendar:
    """The calendar working days are counted on: the package, config.toml's years, and the
    years kept in the database (``/admin/calendar``), which replace config.toml's.

    The database's years are read once per request (or app context: a command, a round of
    the jobs), with ``session`` or the request's, never kept in the process: a change made
    through one server process counts in every other one from its next request on.
    """
    if "portal_work_calendar" not in g:
        configured = current_app.extensions["portal.deadline_rules"].calendar
        stored = work_days.overrides(session or get_session())
        g.portal_work_calendar = configured.with_overrides(stored)
    return g.portal_work_calendar


def deadline_rules() -> DeadlineRules:
    """The deadlines of cases (days, months, working days) and the calendar they count on."""
    rules = current_app.extensions["portal.deadline_rules"]
    return dataclasses.replace(rules, calendar=work_calendar())


def digest_settings() -> DigestSettings:
    """The daily digest's hour, language, console address, calendar and mail server, as
    configured: the digest job counts on ``work_calendar`` instead (app/cli/jobs.py)."""
    return current_app.extensions["portal.digest"]


def disclosure_log_keys() -> LogKeys:
    return current_app.extensions["portal.disclosure_log"]


def audit_log_keys() -> LogKeys:
    """The audit log's origin and keys: the console's and the portal command's only."""
    keys = current_app.extensions.get("portal.audit_log")
    if keys is None:
        raise RuntimeError("this app holds no audit log keys")
    return keys


def receipt_pepper() -> bytes:
    """The installation's secret input of every receipt code's derivation."""
    return current_app.extensions["portal.receipt_pepper"]


def receipt_versions() -> ReceiptVersions:
    """The receipt derivations by version, with their costs (tests make them cheap).

    Not a setting of config.toml or the environment: a version's parameters are fixed in
    ``crypto.receipts``.
    """
    return current_app.config.get("RECEIPT_VERSIONS", RECEIPT_VERSIONS)


def seal_params() -> SealParams:
    """The scrypt cost of sealing staff keys: production's, unless a test's app says cheaper.

    Not a setting of config.toml or the environment: weaker seals are never wanted there.
    """
    return current_app.config.get("SEAL_PARAMS", DEFAULT_SEAL_PARAMS)
