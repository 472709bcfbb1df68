"""The disclosure log: every publication, amendment and retraction is a leaf.

A leaf is the RFC 6962 leaf hash of the revision's canonical record, built only from
columns of ``disclosure_revisions`` so that ``verify`` can recompute every leaf from the
database and notice a row changed after the fact.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Text, func, select, text, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer
from sqlalchemy.orm.attributes import set_committed_value

from app.models import Disclosure, DisclosureAttachment, DisclosureRevision, LogCheckpoint
from app.models.disclosures import parse_published_files
from crypto import tlog
from crypto.errors import CryptoError

LOG_LOCK_ID = 0x6469_7363  # PostgreSQL advisory lock: one appender at a time


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
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def append(session: Session, revision: DisclosureRevision) -> None:
    """Give ``revision`` (not yet flushed) the next index in the log and its leaf hash."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOG_LOCK_ID})
    revision.log_index = log_size(session)
    revision.leaf_hash = tlog.leaf_hash(canonical_record(revision)).hex()
    session.add(revision)
    session.flush()


def latest_checkpoint(session: Session) -> LogCheckpoint | None:
    """The newest signed checkpoint, or None before anything was signed."""
    return session.scalar(select(LogCheckpoint).order_by(LogCheckpoint.size.desc()).limit(1))


def log_size(session: Session) -> int:
    """How many entries the log has."""
    size = session.scalar(select(func.max(DisclosureRevision.log_index)))
    return 0 if size is None else size + 1


# --- the signing key ------------------------------------------------------------------------


def load_signer(key_file: str | os.PathLike[str], origin: str) -> tlog.Signer:
    """The log's Ed25519 signer, generated into ``key_file`` (mode 0600) on first use."""
    path = Path(key_file)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first; use theirs
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(base64.b64encode(seed).decode() + "\n")
    seed = base64.b64decode(path.read_text().strip(), validate=True)
    signer = tlog.Signer(_key_name(origin), Ed25519PrivateKey.from_private_bytes(seed))
    public_file = verifier_file(path)
    if not public_file.exists():
        public_file.write_text(signer.verifier.vkey + "\n")
    return signer


def verifier_file(key_file: str | os.PathLike[str]) -> Path:
    """Where the public verifier key of ``key_file`` is kept (``.vkey`` beside it)."""
    return Path(key_file).with_suffix(".vkey")


def load_verifier(vkey: str) -> tlog.Verifier:
    """The log's public verifier from its ``name+hash+key`` text form."""
    return tlog.Verifier.from_vkey(vkey.strip())


def _key_name(origin: str) -> str:
    # Signed-note key names may not contain "+" or spaces; the origin has neither.
    return origin


# --- checkpoints and proofs -----------------------------------------------------------------


def leaf_hashes(session: Session, start: int = 0, end: int | None = None) -> list[bytes]:
    """Stored leaf hashes of entries [start, end), in log order."""
    query = select(DisclosureRevision.leaf_hash).where(DisclosureRevision.log_index >= start)
    if end is not None:
        query = query.where(DisclosureRevision.log_index < end)
    return [bytes.fromhex(h) for h in session.scalars(query.order_by(DisclosureRevision.log_index))]


_TREES_KEPT = 4
_trees_lock = threading.Lock()
_trees: OrderedDict[str, tlog.HashTree] = OrderedDict()


def checkpoint_tree(session: Session, checkpoint: LogCheckpoint) -> tlog.HashTree:
    """The leaf hashes of at least ``checkpoint.size`` entries, as a tree kept per process.

    A log only grows and a complete subtree never changes, so each process reads a leaf from
    the database once and answers proofs in O(log² n) hashes rather than rereading and
    rehashing every leaf. The kept tree is believed only if its root at the checkpoint's
    size is the signed root; otherwise (another database behind the same address, rows
    changed) it is rebuilt from the stored leaves, as it would be without a cache.
    """
    key = str(session.get_bind().url)
    size = checkpoint.size
    with _trees_lock:
        tree = _trees.pop(key, None)
        if tree is not None and len(tree) < size:
            tree.extend(leaf_hashes(session, len(tree), size))
        if tree is None or len(tree) < size or tree.root(size).hex() != checkpoint.root_hash:
            tree = tlog.HashTree(leaf_hashes(session, 0, size))
        if len(tree) == size and tree.root(size).hex() == checkpoint.root_hash:
            _trees[key] = tree
            while len(_trees) > _TREES_KEPT:
                _trees.popitem(last=False)
    # Leaves that do not give the signed root are served as stored, uncached, so that a
    # verifier notices, exactly as without the cache.
    return tree


def sign_checkpoint(session: Session, signer: tlog.Signer, origin: str) -> LogCheckpoint | None:
    """Sign and store a checkpoint of the whole log unless the newest one covers it already."""
    size = log_size(session)
    latest = latest_checkpoint(session)
    if size == 0 or (latest is not None and latest.size >= size):
        return latest
    hashes = leaf_hashes(session, 0, size)
    root = tlog.root_from_hashes(hashes)
    note = tlog.Checkpoint(origin, size, root).sign(signer)
    checkpoint = LogCheckpoint(size=size, root_hash=root.hex(), note=note)
    try:
        with session.begin_nested():
            session.add(checkpoint)
    except IntegrityError:
        # Another request signed this size at the same moment: its checkpoint stands.
        return latest_checkpoint(session)
    return checkpoint


def inclusion_proof(session: Session, index: int, size: int) -> list[bytes]:
    return tlog.inclusion_proof(index, size, leaf_hashes(session, 0, size))


def consistency_proof(session: Session, old_size: int, new_size: int) -> list[bytes]:
    return tlog.consistency_proof(old_size, new_size, leaf_hashes(session, 0, new_size))


def root_at(session: Session, size: int) -> bytes:
    return tlog.root_from_hashes(leaf_hashes(session, 0, size))


# --- verification ---------------------------------------------------------------------------


@dataclass
class VerifyResult:
    size: int
    checkpoints: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, verifier: tlog.Verifier, origin: str) -> VerifyResult:
    """Check the whole log against the database.

    Every leaf is recomputed from its revision row, every stored checkpoint must carry a
    valid signature and the root of the recomputed leaves at its size, and the listed
    attachments and the public copies on ``disclosures`` must match the revisions.
    An entry that cannot be checked at all (an unreadable row, a note that fails to parse)
    is one more problem; the other entries are still checked.
    """
    problems: list[str] = []
    # The attachment lists are read as stored text: one that does not parse is a problem of
    # its entry, not an error that stops the whole check.
    stored_files = type_coerce(DisclosureRevision.attachments, Text)
    rows = session.execute(
        select(DisclosureRevision, stored_files)
        .options(defer(DisclosureRevision.attachments))
        .order_by(DisclosureRevision.log_index)
    ).all()
    revisions = [revision for revision, _stored in rows]
    recomputed: list[bytes] = []
    for position, (revision, stored) in enumerate(rows):
        label = (
            f"log entry {revision.log_index} (disclosure {revision.disclosure_id}, "
            f"revision {revision.number})"
        )
        if revision.log_index != position:
            problems.append(f"{label}: expected log index {position}; entries are missing")
        try:
            files = parse_published_files(stored or "[]")
            set_committed_value(revision, "attachments", files)
            leaf = tlog.leaf_hash(canonical_record(revision))
        except (ValueError, TypeError):  # not JSON, or not a list of triples
            problems.append(f"{label}: the stored row cannot be read")
            recomputed.append(bytes(tlog.HASH_SIZE))  # stands in for the leaf nobody can compute
            continue
        recomputed.append(leaf)
        if leaf.hex() != revision.leaf_hash:
            problems.append(f"{label}: the stored row no longer matches its leaf hash")
        for file in files:
            row = session.get(DisclosureAttachment, file.id)
            if row is None or row.sha256 != file.sha256:
                problems.append(f"{label}: attachment {file.id} differs from the published one")
    last: dict[int, DisclosureRevision] = {}
    for revision in revisions:
        last[revision.disclosure_id] = revision
    for disclosure_id, revision in last.items():
        disclosure = session.get(Disclosure, disclosure_id)
        if disclosure is None or disclosure.revision_count != revision.number:
            problems.append(f"disclosure {disclosure_id}: revision count differs from the log")
        elif revision.action != "retract" and disclosure.public_title != revision.title:
            problems.append(f"disclosure {disclosure_id}: shown title differs from the log")
    checkpoints = list(session.scalars(select(LogCheckpoint).order_by(LogCheckpoint.size)))
    for checkpoint in checkpoints:
        label = f"checkpoint of size {checkpoint.size}"
        try:
            parsed = tlog.verify_checkpoint(checkpoint.note, verifier, origin)
        except CryptoError as exc:
            problems.append(f"{label}: {exc}")
            continue
        if parsed.size != checkpoint.size or parsed.root_hash.hex() != checkpoint.root_hash:
            problems.append(f"{label}: the stored size or root differs from the signed note")
        if checkpoint.size > len(recomputed):
            problems.append(f"{label}: the log has only {len(recomputed)} entries")
        elif tlog.root_from_hashes(recomputed[: checkpoint.size]) != parsed.root_hash:
            problems.append(f"{label}: the entries no longer hash to the signed root")
    return VerifyResult(len(revisions), len(checkpoints), problems)
