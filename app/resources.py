"""What an app holds for its services, built once with the app and kept in ``app.extensions``.

The blob store of attachments, the disclosure log's keys and the receipt pepper: the console
holds the log's signing key (generated on first use), the public app only the public verifier.
Views and commands take them from here and hand them to the services as arguments.
"""

from __future__ import annotations

from flask import Flask, current_app

from app.services.blobs import BlobStore, FilesystemBlobStore
from app.services.signed_log import LogKeys
from crypto.receipts import DEFAULT_RECEIPT_PARAMS, ReceiptParams


def init_app(app: Flask) -> None:
    config = app.config
    app.extensions["portal.blobs"] = FilesystemBlobStore(config["BLOB_PATH"])
    app.extensions["portal.disclosure_log"] = LogKeys(
        config["LOG_ORIGIN"],
        config["LOG_KEY_FILE"],
        config["LOG_VKEY"],
        signing=config["SURFACE"] == "console",
    )
    # PORTAL_RECEIPT_PEPPER, or instance/secrets/receipt.pepper (made once by app/config.py).
    app.extensions["portal.receipt_pepper"] = config["RECEIPT_PEPPER"].encode()


def blob_store() -> BlobStore:
    return current_app.extensions["portal.blobs"]


def disclosure_log_keys() -> LogKeys:
    return current_app.extensions["portal.disclosure_log"]


def receipt_pepper() -> bytes:
    """The installation's secret input of every receipt code's derivation."""
    return current_app.extensions["portal.receipt_pepper"]


def receipt_params() -> ReceiptParams:
    """The receipt derivation's cost (tests make it cheap)."""
    return current_app.config.get("RECEIPT_PARAMS", DEFAULT_RECEIPT_PARAMS)
