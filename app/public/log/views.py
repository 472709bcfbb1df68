"""The public disclosure log: signed checkpoint, inclusion and consistency proofs.

Entries of items a reader may not see appear as bare hashes: no title, no link.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, jsonify, render_template, request
from sqlalchemy import select

from app.db import get_session
from app.models import Disclosure, DisclosureRevision
from app.resources import disclosure_log_keys
from app.security.reader import current_reader, vary_by_reader
from app.services.disclosures import log as disclosure_log
from app.services.disclosures import visibility

bp = Blueprint("log", __name__, url_prefix="/log")
bp.after_request(vary_by_reader)  # titles and proofs shown depend on who reads
PER_PAGE = 50


_b64 = disclosure_log.hash_text


def _checkpoint():
    # Signed by the console whenever the log grows; the public app only serves it.
    return disclosure_log.latest_checkpoint(get_session())


@bp.get("/")
def index():
    session = get_session()
    checkpoint = _checkpoint()
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 100_000)
    rows = list(
        session.execute(
            select(DisclosureRevision, Disclosure)
            .join(Disclosure, Disclosure.id == DisclosureRevision.disclosure_id)
            .order_by(DisclosureRevision.log_index.desc())
            .limit(PER_PAGE)
            .offset((page - 1) * PER_PAGE)
        )
    )
    reader = current_reader()
    entries = [
        {
            "revision": revision,
            "visible": visibility.can_read(session, reader, disclosure),
        }
        for revision, disclosure in rows
    ]
    size = disclosure_log.log_size(session)
    logged = disclosure_log.first_signed(session, [r.log_index for r, _d in rows])
    for entry in entries:
        entry["logged_at"] = logged.get(entry["revision"].log_index)
    return render_template(
        "log/index.html",
        checkpoint=checkpoint,
        root=disclosure_log.hash_text(checkpoint.root_hash) if checkpoint else None,
        entries=entries,
        page=page,
        pages=max(1, (size + PER_PAGE - 1) // PER_PAGE),
        vkey=verifier.vkey if (verifier := disclosure_log_keys().verifier()) else None,
    )


@bp.get("/checkpoint")
def checkpoint():
    found = _checkpoint()
    if found is None:
        abort(404)
    return Response(found.note, mimetype="text/plain")


@bp.get("/key")
def key():
    verifier = disclosure_log_keys().verifier()
    if verifier is None:
        abort(404)
    return Response(verifier.vkey + "\n", mimetype="text/plain")


@bp.get("/proof/<int:disclosure_id>")
def proof(disclosure_id: int):
    """The inclusion proof for tools (JSON); people read it at ``/disclosures/<id>/proof``."""
    session = get_session()
    disclosure = visibility.get_readable(session, current_reader(), disclosure_id)
    if disclosure is None:
        abort(404)
    found = _checkpoint()
    if found is None:
        abort(404)
    document = disclosure_log.proof_document(
        session, disclosure, found, disclosure_log_keys().origin
    )
    # Readable as it is: Chinese as written, not escaped, one field a line.
    body = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    return Response(body, mimetype="application/json")


def _tree_size_arg(name: str, default: int | None = None) -> int | None:
    """A tree size in ASCII digits; anything else (``1e3``, ``-1``, other digits) is None."""
    value = request.args.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        return None
    return int(value)


@bp.get("/consistency")
def consistency():
    session = get_session()
    found = _checkpoint()
    size = found.size if found else 0
    old = _tree_size_arg("from")
    new = _tree_size_arg("to", default=size)
    if old is None or new is None or not 0 <= old <= new <= size:
        return jsonify(error=f"need 0 <= from <= to <= {size}"), 400
    result = disclosure_log.LOG.consistency(session, found, old, new)
    return jsonify(
        origin=disclosure_log_keys().origin,
        **{"from": old, "to": new},
        from_root=_b64(result.old_root),
        to_root=_b64(result.new_root),
        proof=[_b64(h) for h in result.proof],
    )
