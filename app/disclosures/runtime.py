"""What the disclosure views need from the app: the blob store, the log key, today's date."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, request
from sqlalchemy.orm import Session

from app.db import utcnow
from app.services import disclosure_log
from app.services import disclosures as service
from app.services.blobs import FilesystemBlobStore
from crypto import tlog


def blob_store() -> FilesystemBlobStore:
    store = current_app.extensions.get("portal.blobs")
    if store is None:
        store = FilesystemBlobStore(current_app.config["BLOB_PATH"])
        current_app.extensions["portal.blobs"] = store
    return store


def local_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def today() -> date:
    """Today where the enterprise is (questions and due dates are dates, not times)."""
    return datetime.now(local_zone()).date()


def publish_due_on_read(session: Session) -> None:
    """Publish scheduled items whose time has come, before a page lists disclosures."""
    if not current_app.config["PUBLISH_DUE_ON_READ"]:
        return
    if not service.due_for_publication(session, utcnow(), limit=1):
        return
    service.publish_due(session)
    session.commit()
    refresh_checkpoint(session)


def public_url(path: str) -> str:
    """An absolute address on the public site (QR codes and feeds outlive the request)."""
    base = current_app.config["PUBLIC_BASE_URL"] or request.url_root.rstrip("/")
    return base + path


def log_signer() -> tlog.Signer:
    signer = current_app.extensions.get("portal.log_signer")
    if signer is None:
        config = current_app.config
        signer = disclosure_log.load_signer(config["LOG_KEY_FILE"], config["LOG_ORIGIN"])
        current_app.extensions["portal.log_signer"] = signer
    return signer


def refresh_checkpoint(session: Session) -> None:
    """Sign a checkpoint covering the whole log if the newest one lags behind."""
    disclosure_log.sign_checkpoint(session, log_signer(), current_app.config["LOG_ORIGIN"])
    session.commit()
