"""What the disclosure views need from the app: the blob store, the log key, today's date."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, request
from sqlalchemy.orm import Session

from app.db import utcnow
from app.services.blobs import FilesystemBlobStore
from app.services.disclosures import log as disclosure_log
from app.services.disclosures import reviewing
from app.services.signed_log import load_signer, verifier_file
from crypto import tlog


def blob_store() -> FilesystemBlobStore:
    store = current_app.extensions.get("portal.blobs")
    if store is None:
        store = FilesystemBlobStore(current_app.config["BLOB_PATH"])
        current_app.extensions["portal.blobs"] = store
    return store


def local_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def today(zone: ZoneInfo | None = None) -> date:
    """Today where the enterprise is (questions and due dates are dates, not times)."""
    return datetime.now(zone or local_zone()).date()


def publish_due(session: Session) -> int:
    """Publish scheduled items whose time has come and sign a checkpoint covering them.

    Only the console and the ``portal`` command do this: they hold the log's signing key.
    """
    if not reviewing.due_for_publication(session, utcnow(), limit=1):
        return 0
    published = reviewing.publish_due(session)
    session.commit()
    refresh_checkpoint(session)
    return len(published)


def public_url(path: str) -> str:
    """An absolute address on the public site (QR codes and feeds outlive the request)."""
    base = current_app.config["PUBLIC_BASE_URL"] or request.url_root.rstrip("/")
    return base + path


def log_signer() -> tlog.Signer:
    """The log's private key: the console's alone; the public app holds only public keys."""
    if current_app.config["SURFACE"] != "console":
        raise RuntimeError("the public app has no signing key")
    signer = current_app.extensions.get("portal.log_signer")
    if signer is None:
        config = current_app.config
        signer = load_signer(config["LOG_KEY_FILE"], config["LOG_ORIGIN"])
        current_app.extensions["portal.log_signer"] = signer
    return signer


def log_verifier() -> tlog.Verifier | None:
    """The log's public key: ``LOG_VKEY``, else the ``.vkey`` file the console wrote."""
    verifier = current_app.extensions.get("portal.log_verifier")
    if verifier is None:
        vkey = current_app.config["LOG_VKEY"]
        if not vkey:
            path = verifier_file(current_app.config["LOG_KEY_FILE"])
            vkey = path.read_text() if path.exists() else ""
        if not vkey:
            return None
        verifier = tlog.Verifier.from_vkey(vkey)
        current_app.extensions["portal.log_verifier"] = verifier
    return verifier


def refresh_checkpoint(session: Session) -> None:
    """Sign a checkpoint covering the whole log if the newest one lags behind."""
    disclosure_log.sign_checkpoint(session, log_signer(), current_app.config["LOG_ORIGIN"])
    session.commit()
