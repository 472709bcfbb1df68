"""Console: the audit trail for auditors (and nobody else).

Every page signs a checkpoint first, so what an auditor reads is covered by a signature they
can download. Downloads of the trail's data (checkpoint, proofs) are themselves audited as
exports. Nothing here reads a report: only audit rows and staff names.
"""

from __future__ import annotations

import base64
import re

from flask import Blueprint, Response, abort, jsonify, render_template, request, url_for
from sqlalchemy import select

from app.console.audit.forms import CASE_ID_MAX, AuditFilterForm, parse_day
from app.console.audit.names import ACTION_NAMES, action_name
from app.db import get_session
from app.form_choices import choice
from app.i18n import today
from app.models import AuditCheckpoint, AuditEntry, Role, StaffUser
from app.resources import audit_log_keys
from app.security.auth import current_staff, role_required
from app.services import audit
from app.services import audit_listing as listing
from app.services.audit import AuditAction
from app.urls import MAX_ID

bp = Blueprint("audit", __name__, url_prefix="/audit")
PER_PAGE = 50
CASE_PER_PAGE = 100
INDEX_RE = re.compile(r"[0-9]{1,18}")  # ASCII digits, few enough for int() to be cheap


def _log_index(text: str) -> int | None:
    """``text`` as a log index, or None: ASCII digits up to what the column holds.

    The column is a 32-bit integer on PostgreSQL: a larger number fails inside the database
    (a 500) instead of finding nothing.
    """
    if not INDEX_RE.fullmatch(text) or int(text) > MAX_ID:
        return None
    return int(text)


def _index_arg(name: str) -> int | None:
    """A log index from the query, or None; anything else (2**31, "１", "-1") is a 400."""
    value = request.args.get(name)
    if value is None or value == "":
        return None
    index = _log_index(value)
    if index is None:
        abort(400)
    return index


def _sign() -> AuditCheckpoint | None:
    session = get_session()
    keys = audit_log_keys()
    checkpoint = audit.sign_checkpoint(session, keys.signer, keys.origin, today())
    session.commit()
    return checkpoint


def _record_export(detail: str) -> None:
    audit.record(get_session(), AuditAction.export, actor=current_staff(), detail=detail)


def _staff_choices(session) -> list:
    people = session.scalars(select(StaffUser).order_by(StaffUser.username))
    return [choice("", "—")] + [
        choice(str(user.id), f"{user.display_name} ({user.username})") for user in people
    ]


@bp.get("/")
@role_required(Role.auditor)
def index():
    session = get_session()
    form = AuditFilterForm(formdata=request.args)
    form.person.choices = _staff_choices(session)
    form.action.choices = [choice("", "—")] + [
        choice(action.value, name) for action, name in ACTION_NAMES.items()
    ]
    cursor, back = _index_arg("cursor"), request.args.get("back") == "1"
    if not form.validate():
        checkpoint = _sign()
        return (
            render_template(
                "console/audit/index.html", form=form, page=None, checkpoint=checkpoint, args={}
            ),
            400,
        )
    wanted = listing.AuditFilter(
        person_id=int(form.person.data) if form.person.data else None,
        case_id=(form.case.data or "").strip() or None,
        action=AuditAction(form.action.data) if form.action.data else None,
        date_from=parse_day((form.date_from.data or "").strip()),
        date_to=parse_day((form.date_to.data or "").strip()),
    )
    checkpoint = _sign()
    page = listing.list_entries(session, wanted, cursor=cursor, back=back, per_page=PER_PAGE)
    args = {
        name: value
        for name in ("person", "case", "action", "date_from", "date_to")
        if (value := (request.args.get(name) or "").strip())
    }
    return render_template(
        "console/audit/index.html",
        form=form,
        page=page,
        filtered=not wanted.empty,
        checkpoint=checkpoint,
        args=args,
    )


@bp.get("/cases/<case_id>")
@role_required(Role.auditor)
def case(case_id: str):
    if len(case_id) > CASE_ID_MAX:
        abort(404)
    session = get_session()
    checkpoint = _sign()
    cursor, back = _index_arg("cursor"), request.args.get("back") == "1"
    page = listing.case_history(session, case_id, cursor=cursor, back=back, per_page=CASE_PER_PAGE)
    if page.total == 0:
        abort(404)  # the same page as any address that leads nowhere
    return render_template(
        "console/audit/case.html", case_id=case_id, page=page, checkpoint=checkpoint
    )


@bp.get("/checkpoint")
@role_required(Role.auditor)
def checkpoint():
    """The latest signed checkpoint as text, covering the record of this download."""
    session = get_session()
    if audit.log_size(session) == 0:
        abort(404)
    _record_export("audit checkpoint")
    signed = _sign()
    response = Response(signed.note, mimetype="text/plain")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="audit-checkpoint-{signed.size}.txt"'
    )
    return response


@bp.get("/key")
@role_required(Role.auditor)
def key():
    """The audit log's public key, to check checkpoints with."""
    return Response(audit_log_keys().signer.verifier.vkey + "\n", mimetype="text/plain")


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


@bp.get("/proof/<index>")
@role_required(Role.auditor)
def proof(index: str):
    """An entry's record, leaf hash and inclusion proof in the latest signed checkpoint."""
    wanted = _log_index(index)
    if wanted is None:
        abort(404)
    session = get_session()
    entry = session.scalar(select(AuditEntry).where(AuditEntry.log_index == wanted))
    if entry is None:
        abort(404)
    _record_export(f"audit proof of entry {entry.log_index}")
    signed = _sign()
    path = audit.inclusion_proof(session, signed, entry.log_index)
    return jsonify(
        origin=audit_log_keys().origin,
        index=entry.log_index,
        record=audit.canonical_record(entry).decode(),
        leaf_hash=_b64(bytes.fromhex(entry.leaf_hash)),
        tree_size=signed.size,
        root_hash=_b64(bytes.fromhex(signed.root_hash)),
        checkpoint=signed.note,
        proof=[_b64(h) for h in path],
    )


@bp.get("/consistency")
@role_required(Role.auditor)
def consistency():
    """Roots at two sizes and the proof that the first tree is a prefix of the second."""
    session = get_session()
    size = audit.log_size(session)
    old, new = request.args.get("from", ""), request.args.get("to", "")
    valid = INDEX_RE.fullmatch(old) and (new == "" or INDEX_RE.fullmatch(new))
    if not valid or not 0 <= int(old) <= (int(new) if new else size) <= size:
        return jsonify(error=f"need 0 <= from <= to <= {size}"), 400
    _record_export(f"audit consistency proof from {old} to {new or 'the latest'}")
    signed = _sign()  # covers the export just recorded: one entry more than ``size``
    old_size, new_size = int(old), int(new) if new else signed.size
    result = audit.consistency(session, signed, old_size, new_size)
    return jsonify(
        origin=audit_log_keys().origin,
        **{"from": old_size, "to": new_size},
        from_root=_b64(result.old_root),
        to_root=_b64(result.new_root),
        checkpoint=signed.note,
        proof=[_b64(h) for h in result.proof],
    )


def entry_links(entry: AuditEntry) -> dict[str, str]:
    """Where an entry's names lead on the auditor's pages."""
    links = {}
    if entry.actor_id is not None:
        links["actor"] = url_for("audit.index", person=entry.actor_id)
    if entry.subject_id is not None:
        links["subject"] = url_for("audit.index", person=entry.subject_id)
    if entry.case_id:
        links["case"] = url_for("audit.case", case_id=entry.case_id)
    return links


@bp.app_context_processor
def audit_helpers() -> dict[str, object]:
    return {"audit_entry_links": entry_links, "audit_action_name": action_name}
