"""The disclosure log: every publication, amendment and retraction is a leaf.

A leaf is the RFC 6962 leaf hash of the revision's canonical record, built only from
columns of ``disclosure_revisions`` (which hold the leaf's index and hash), so that
``verify`` can recompute every leaf from the database and notice a row changed after the
fact. Checkpoints are the rows of ``disclosure_log_checkpoints``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, func, select, type_coerce
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.attributes import set_committed_value

from app.models import Disclosure, DisclosureAttachment, DisclosureRevision, LogCheckpoint
from app.models.disclosures import PublishedFile, parse_published_files
from app.services.signed_log import SignedLog, VerifyResult
from crypto import tlog
from crypto.errors import ProofError


def canonical_record(revision: DisclosureRevision) -> bytes:
    """The bytes a leaf commits to: canonical JSON (sorted keys, no spaces, UTF-8)."""
    record = {
        "v": 1,
        "disclosure": revision.disclosure_id,
        "revision": revision.number,
        "action": revision.action.value,
        "title": revision.title,
        "body": revision.body,
        "reason": revision.reason,
        "category": revision.category_code,
        "unit": revision.unit_code,
        "scope": revision.scope.value,
        "period": revision.period_key,
        "date": revision.published_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "attachments": [file.as_json() for file in revision.attachments],
    }
    # Added only where a revision has them, so the records of older revisions (and their
    # leaves) are what they always were. The decision record is the stored JSON text read
    # back; a text that does not parse makes the leaf differ, and ``verify`` names the row.
    if revision.decision_record is not None:
        record["decision"] = _stored_json(revision.decision_record)
    if revision.congress_status is not None:
        record["congress"] = {
            "status": revision.congress_status.value,
            "opinion": revision.congress_opinion or "",
        }
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def _stored_json(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return text  # not what was logged: the recomputed leaf differs and verify says so


def _revisions_as_stored(session: Session) -> list[DisclosureRevision]:
    """Every revision in log order, each attachment list read from its stored text.

    A list that does not parse is left unloaded, so that reading it raises ValueError for
    that entry alone (loading the rows the usual way would stop at the first one).
    """
    stored_files = type_coerce(DisclosureRevision.attachments, Text)
    rows = session.execute(
        select(DisclosureRevision, stored_files)
        .options(defer(DisclosureRevision.attachments))
        .order_by(DisclosureRevision.log_index)
    ).all()
    for revision, stored in rows:
        try:
            files: Sequence[PublishedFile] = parse_published_files(stored or "[]")
        except ValueError:
            files = _Unreadable()
        set_committed_value(revision, "attachments", files)
    return [revision for revision, _stored in rows]


class _Unreadable(tuple):
    """In place of a stored attachment list that does not parse: reading it raises ValueError.

    (Loaded the usual way, such a list reads as no files, so that pages still show; the log
    check must not take it for one.)
    """

    __slots__ = ()

    def __iter__(self):
        raise ValueError("the stored attachment list cannot be read")


LOG = SignedLog(
    lock_id=0x6469_7363,  # "disc"
    entries=DisclosureRevision,
    checkpoints=LogCheckpoint,
    record=canonical_record,
    describe=lambda revision: f"disclosure {revision.disclosure_id}, revision {revision.number}",
    read=_revisions_as_stored,
)
# What the workflow and the pages use of it.
append = LOG.append
log_size = LOG.size
latest_checkpoint = LOG.latest_checkpoint
sign_checkpoint = LOG.sign_checkpoint


def verify(session: Session, verifier: tlog.Verifier, origin: str) -> VerifyResult:
    """Check the whole log against the database (``SignedLog.verify``), and more.

    The attachments each revision lists must be stored with the published digests, and
    the public copies on ``disclosures`` must match their last revision.
    """
    return LOG.verify(session, verifier, origin, _check_published_copies)


def _check_published_copies(session: Session, revisions: Sequence[DisclosureRevision]) -> list[str]:
    problems: list[str] = []
    for revision in revisions:
        try:
            files = list(revision.attachments)
        except ValueError:
            continue  # reported as an unreadable row already
        for file in files:
            row = session.get(DisclosureAttachment, file.id)
            if row is None or row.sha256 != file.sha256:
                problems.append(
                    f"{LOG.label(revision)}: attachment {file.id} differs from the published one"
                )
    last: dict[int, DisclosureRevision] = {}
    for revision in revisions:
        last[revision.disclosure_id] = revision
    for disclosure_id, revision in last.items():
        disclosure = session.get(Disclosure, disclosure_id)
        if disclosure is None or disclosure.revision_count != revision.number:
            problems.append(f"disclosure {disclosure_id}: revision count differs from the log")
        elif revision.action != "retract" and disclosure.public_title != revision.title:
            problems.append(f"disclosure {disclosure_id}: shown title differs from the log")
    return problems


def hash_text(value: bytes | str) -> str:
    """A hash as people compare it, everywhere: base64, as in the signed checkpoint's root line.

    ``value`` is raw bytes or the hex the database keeps.
    """
    raw = bytes.fromhex(value) if isinstance(value, str) else value
    return base64.b64encode(raw).decode()


@dataclass(frozen=True)
class IncludedRevision:
    """One revision of a disclosure, its log entry and the path from its leaf to the root."""

    revision: DisclosureRevision
    path: tuple[bytes, ...]
    checks: bool  # the path leads from the stored leaf to the checkpoint's root


def inclusion_proofs(
    session: Session, disclosure: Disclosure, checkpoint: LogCheckpoint
) -> tuple[list[IncludedRevision], list[DisclosureRevision]]:
    """The revisions of ``disclosure`` the checkpoint covers, each with its proof and whether
    that proof leads to the checkpoint's root, and those logged after it."""
    root = bytes.fromhex(checkpoint.root_hash)
    included: list[IncludedRevision] = []
    later: list[DisclosureRevision] = []
    for revision in disclosure.revisions:
        if revision.log_index >= checkpoint.size:
            later.append(revision)
            continue
        path = LOG.inclusion_proof(session, checkpoint, revision.log_index)
        try:
            tlog.verify_inclusion(
                bytes.fromhex(revision.leaf_hash), revision.log_index, checkpoint.size, path, root
            )
        except ProofError:
            checks = False  # a stored row no longer matches what was signed: shown, not hidden
        else:
            checks = True
        included.append(IncludedRevision(revision, tuple(path), checks))
    return included, later


def proof_document(
    session: Session, disclosure: Disclosure, checkpoint: LogCheckpoint, origin: str
) -> dict:
    """The inclusion proof of a disclosure's revisions for tools (``/log/proof/<id>``)."""
    included, _later = inclusion_proofs(session, disclosure, checkpoint)
    return {
        "disclosure": disclosure.id,
        "origin": origin,
        "tree_size": checkpoint.size,
        "root_hash": hash_text(checkpoint.root_hash),
        "checkpoint": checkpoint.note,
        "entries": [
            {
                "revision": item.revision.number,
                "action": item.revision.action.value,
                "index": item.revision.log_index,
                "record": canonical_record(item.revision).decode(),
                "leaf_hash": hash_text(item.revision.leaf_hash),
                "proof": [hash_text(h) for h in item.path],
            }
            for item in included
        ],
    }


@dataclass(frozen=True)
class CheckedProof:
    disclosure: int
    size: int
    root: str
    entries: tuple[int, ...]


def check_proof_document(document: object, verifier: tlog.Verifier) -> CheckedProof:
    """Check a saved ``/log/proof/<id>`` document offline; raise ProofError if anything is off.

    The checkpoint must be signed by ``verifier``; each entry's record must hash to its leaf,
    belong to the disclosure, and its path must lead to the checkpoint's root.
    """
    if not isinstance(document, dict):
        raise tlog.ProofError("not a proof document")
    try:
        checkpoint = tlog.verify_checkpoint(document["checkpoint"], verifier)
        disclosure = int(document["disclosure"])
        indexes = []
        for entry in document["entries"]:
            record = str(entry["record"]).encode()
            leaf = tlog.leaf_hash(record)
            if hash_text(leaf) != entry["leaf_hash"]:
                raise tlog.ProofError(f"entry {entry['index']}: record does not match its leaf")
            if json.loads(record).get("disclosure") != disclosure:
                raise tlog.ProofError(f"entry {entry['index']}: record of another disclosure")
            path = [base64.b64decode(h, validate=True) for h in entry["proof"]]
            index = int(entry["index"])
            tlog.verify_inclusion(leaf, index, checkpoint.size, path, checkpoint.root_hash)
            indexes.append(index)
    except (KeyError, TypeError, ValueError) as exc:
        raise tlog.ProofError(f"malformed proof document ({exc})") from exc
    return CheckedProof(
        disclosure, checkpoint.size, hash_text(checkpoint.root_hash), tuple(indexes)
    )


def first_signed(session: Session, indexes: Sequence[int]) -> dict[int, datetime]:
    """When each log entry was first covered by a signed checkpoint: the time it was logged
    for readers (entries in no checkpoint yet are left out)."""
    if not indexes:
        return {}
    low, high = min(indexes), max(indexes)
    last = session.scalar(select(func.min(LogCheckpoint.size)).where(LogCheckpoint.size > high))
    query = select(LogCheckpoint.size, LogCheckpoint.created_at).where(LogCheckpoint.size > low)
    if last is not None:
        query = query.where(LogCheckpoint.size <= last)
    rows = session.execute(query.order_by(LogCheckpoint.size)).all()
    found: dict[int, datetime] = {}
    for index in indexes:
        for size, created_at in rows:  # a page's worth of entries and checkpoints
            if size > index:
                found[index] = created_at
                break
    return found
