"""What the disclosure views need from the running app: its zone, addresses, the log."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import current_app, request
from sqlalchemy.orm import Session

from app.i18n import enterprise_zone
from app.resources import disclosure_log_keys
from app.services.disclosures import log as disclosure_log
from app.services.disclosures import reviewing


def local_zone() -> ZoneInfo:
    return enterprise_zone(current_app.config)


def publish_due(session: Session) -> int:
    """Publish scheduled items whose time has come and sign a checkpoint covering them.

    Only the console and the ``portal`` command do this: they hold the log's signing key.
    """
    return len(reviewing.publish_due_and_sign(session, disclosure_log_keys()))


def public_url(path: str) -> str:
    """An absolute address on the public site (QR codes and feeds outlive the request)."""
    base = current_app.config["PUBLIC_BASE_URL"] or request.url_root.rstrip("/")
    return base + path


def refresh_checkpoint(session: Session) -> None:
    """Sign a checkpoint covering the whole log if the newest one lags behind."""
    keys = disclosure_log_keys()
    disclosure_log.sign_checkpoint(session, keys.signer, keys.origin)
    session.commit()
