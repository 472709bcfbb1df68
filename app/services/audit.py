"""The staff audit trail: every audited act is a leaf of a second signed log.

``record`` appends an entry in the caller's transaction, so the act and its trace commit or
roll back together. A leaf commits to the entry's canonical record, which holds the leaf hash
of the entry before it: the log is a hash chain as well as a Merkle tree, so that ``verify``
can name the entry at which something was inserted, removed or moved, not only say that a
signed root no longer matches. Checkpoints are signed now and then (auditor pages, the
periodic jobs), not per entry.

Nothing of a report's content is ever put here: who (by id and that day's username), what,
which case (its id), whom (another staff member) and a few words of detail, dated by the day.
"""

from __future__ import annotations

import enum
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.audit import DETAIL_MAX, AuditCheckpoint, AuditEntry
from app.models.staff import StaffUser
from app.services.signed_log import Consistency, SignedLog
from crypto import tlog
from crypto.errors import CryptoError


class AuditAction(enum.StrEnum):
    sign_in = "sign_in"
    sign_in_failed = "sign_in_failed"
    session_end = "session_end"
    unseal = "unseal"
    password_change = "password_change"  # noqa: S105  (an action's name, not a password)
    enrolment = "enrolment"
    inbox_view = "inbox_view"
    case_open = "case_open"
    real_name_open = "real_name_open"
    attachment_download = "attachment_download"
    status_change = "status_change"
    label = "label"
    note = "note"
    reply = "reply"
    assignment = "assignment"
    grant = "grant"
    recusal = "recusal"
    transfer = "transfer"
    decision = "decision"
    recovery = "recovery"
    export = "export"
    admin_change = "admin_change"
    email_change = "email_change"
    purge = "purge"  # a case purged under the retention rules, or a run of the purge
    decision_record = "decision_record"
    congress_review = "congress_review"


class AuditError(ValueError):
    """An entry that cannot be recorded as asked (a detail too long, an unsaved account)."""


RECORD_VERSION = 1


def _encode(
    previous: str,
    on_date: object,
    actor_id: int | None,
    actor_username: str,
    action: str,
    case_id: str | None,
    subject_id: int | None,
    subject_username: str | None,
    detail: str,
) -> bytes:
    """The bytes a leaf commits to: canonical JSON (sorted keys, no spaces, UTF-8).

    Shared by ``record`` and the streaming ``verify``, which hands it the driver's values
    (a date may come as text from SQLite: both print as YYYY-MM-DD).
    """
    # Keys in sorted order and no sort_keys: the same bytes, built faster (verify reads
    # millions of rows).
    return json.dumps(
        {
            "action": action,
            "actor": actor_id,
            "actor_name": actor_username,
            "case": case_id,
            "date": str(on_date),
            "detail": detail,
            "previous": previous,
            "subject": subject_id,
            "subject_name": subject_username,
            "v": RECORD_VERSION,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def canonical_record(entry: AuditEntry) -> bytes:
    """The bytes the leaf of ``entry`` commits to."""
    return _encode(
        entry.previous_hash,
        entry.on_date,
        entry.actor_id,
        entry.actor_username,
        entry.action,
        entry.case_id,
        entry.subject_id,
        entry.subject_username,
        entry.detail,
    )


def _describe(entry: AuditEntry) -> str:
    return f"{entry.action} by {entry.actor_username or 'unknown'} on {entry.on_date}"


LOG = SignedLog(
    lock_id=0x6175_6469,  # "audi"
    entries=AuditEntry,
    checkpoints=AuditCheckpoint,
    record=canonical_record,
    describe=_describe,
)


def record(
    session: Session,
    action: AuditAction,
    *,
    actor: StaffUser | None,
    case_id: str | None = None,
    subject: StaffUser | None = None,
    detail: str = "",
    on: date | None = None,
) -> AuditEntry:
    """Append one entry to the audit log in the caller's transaction and return it.

    ``actor`` is None only for a failed sign-in of an unknown account; ``subject`` is the
    other staff member concerned; ``detail`` a few words, never report content. ``on`` is
    the day: by default today where the enterprise is (the session's ``enterprise_zone``,
    set by the app's database; UTC without one).
    """
    action = AuditAction(action)
    if len(detail) > DETAIL_MAX:
        raise AuditError(f"an audit detail has at most {DETAIL_MAX} characters")
    for user in (actor, subject):
        if user is not None and user.id is None:
            session.flush()  # an account made in this transaction: give it its id
    if on is None:
        on = datetime.now(session.info.get("enterprise_zone") or UTC).date()
    LOG.lock(session)  # the lock ``append`` takes: nobody appends before this entry
    previous = session.scalar(
        select(AuditEntry.leaf_hash).order_by(AuditEntry.log_index.desc()).limit(1)
    )
    entry = AuditEntry(
        previous_hash=previous or "",
        on_date=on,
        actor_id=actor.id if actor is not None else None,
        actor_username=actor.username if actor is not None else "",
        action=action.value,
        case_id=case_id,
        subject_id=subject.id if subject is not None else None,
        subject_username=subject.username if subject is not None else None,
        detail=detail,
    )
    LOG.append(session, entry)
    return entry


def sign_checkpoint(
    session: Session, signer: tlog.Signer, origin: str, today: date
) -> AuditCheckpoint | None:
    """Sign a checkpoint of the whole log unless the newest covers it; None while empty.

    Signed often (each auditor page, each round of the jobs), so the root is not recomputed
    from every leaf each time: each process keeps the compact range of the last size it
    signed, believed only while it gives the newest checkpoint's root, and adds the new
    leaves to it.
    """
    size = LOG.size(session)
    latest = LOG.latest_checkpoint(session)
    if size == 0 or (latest is not None and latest.size >= size):
        return latest
    root = _root_at(session, size, latest)
    note = tlog.Checkpoint(origin, size, root).sign(signer)
    checkpoint = AuditCheckpoint(size=size, root_hash=root.hex(), note=note, signed_on=today)
    try:
        with session.begin_nested():
            session.add(checkpoint)
    except IntegrityError:
        # Another request signed this size at the same moment: its checkpoint stands.
        return LOG.latest_checkpoint(session)
    return checkpoint


_frontiers_lock = threading.Lock()
_frontiers: OrderedDict[str, _Frontier] = OrderedDict()
_FRONTIERS_KEPT = 4  # databases per process (tests use many)


def _root_at(session: Session, size: int, latest: AuditCheckpoint | None) -> bytes:
    key = str(session.get_bind().url)
    with _frontiers_lock:
        kept = _frontiers.pop(key, None)
    frontier = None
    if kept is not None and latest is not None and kept.size <= latest.size:
        kept.extend(LOG.leaf_hashes(session, kept.size, latest.size))
        if kept.size == latest.size and kept.root().hex() == latest.root_hash:
            frontier = kept
    if frontier is None:
        frontier = _Frontier()
        start = 0
    else:
        start = frontier.size
    frontier.extend(LOG.leaf_hashes(session, start, size))
    root = frontier.root()
    with _frontiers_lock:
        _frontiers[key] = frontier
        while len(_frontiers) > _FRONTIERS_KEPT:
            _frontiers.popitem(last=False)
    return root


latest_checkpoint = LOG.latest_checkpoint
log_size = LOG.size


def inclusion_proof(session: Session, checkpoint: AuditCheckpoint, index: int) -> list[bytes]:
    """The audit path of entry ``index`` in the tree ``checkpoint`` signed.

    Read from the stored leaves each time rather than from a tree kept in memory: proofs
    are asked for rarely, and a tree of millions of entries would stay in every process.
    """
    return tlog.inclusion_proof(index, checkpoint.size, _leaves(session))


def consistency(
    session: Session, checkpoint: AuditCheckpoint, old_size: int, new_size: int
) -> Consistency:
    """Roots at two sizes up to ``checkpoint``'s and the proof that the first is a prefix."""
    leaves = _leaves(session)
    return Consistency(
        tlog.root_from_hashes(leaves(0, old_size)),
        tlog.root_from_hashes(leaves(0, new_size)),
        tlog.consistency_proof(old_size, new_size, leaves),
    )


def _leaves(session: Session):
    return lambda start, end: LOG.leaf_hashes(session, start, end)


# --- verification -----------------------------------------------------------------------------

_TABLE = AuditEntry.__table__
# log_index, leaf_hash, then the record's fields in ``_encode``'s order.
_COLUMNS = tuple(
    _TABLE.c[name]
    for name in (
        "log_index",
        "leaf_hash",
        "previous_hash",
        "on_date",
        "actor_id",
        "actor_username",
        "action",
        "case_id",
        "subject_id",
        "subject_username",
        "detail",
    )
)
_BATCH = 10_000


@dataclass
class AuditVerifyResult:
    size: int
    checkpoints: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Frontier:
    """The roots of the complete subtrees of a growing log (RFC 9162 compact range).

    Gives the root at the current size in O(log n) hashes and keeps O(log n) of them, so a
    whole log is checked against every checkpoint in one pass and constant memory.
    """

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        stack = self._stack
        stack.append(leaf)
        self.size += 1
        size = self.size
        while size % 2 == 0:
            right = stack.pop()
            stack[-1] = tlog.node_hash(stack[-1], right)
            size //= 2

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        if not self._stack:
            return tlog.EMPTY_ROOT
        stack = self._stack
        result = stack[-1]
        for left in reversed(stack[:-1]):
            result = tlog.node_hash(left, result)
        return result


def _stored_rows(session: Session, first: int, end: int) -> Iterator[tuple]:
    """Every entry row with ``first <= log_index < end`` as the driver returns it, in log
    order, read in batches.

    Keyset batches (not one huge cursor, not the ORM): bounded memory on every database,
    and nothing per row but a tuple.
    """
    connection = session.connection()
    after = first - 1
    query = (
        select(*_COLUMNS)
        .where(_TABLE.c.log_index > bindparam("after"), _TABLE.c.log_index < end)
        .order_by(_TABLE.c.log_index)
        .limit(_BATCH)
    )
    while True:
        rows = connection.execute(query, {"after": after}).all()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def _label(index: int, row: tuple) -> str:
    _, _, _, on_date, _, actor, action, case_id, *_ = row
    words = f"{action} by {actor or 'unknown'} on {on_date}"
    if case_id:
        words += f", case {case_id}"
    return f"audit entry {index} ({words})"


def verify(
    session: Session, verifier: tlog.Verifier, origin: str, saved: Sequence[str] = ()
) -> AuditVerifyResult:
    """Recompute every entry and check it against its neighbours and every checkpoint.

    Names each entry that was changed (its row no longer gives its leaf hash), removed (a
    gap in the indices, or a chain that refers to an entry no longer there), inserted (an
    entry the next one skips over, or a row outside the indices 0 to size - 1, which the
    auditor's pages show but no checkpoint covers; and rows stored that no index reaches)
    or reordered (an entry that follows a later one), and each checkpoint that is forged (a
    bad signature, another origin) or no longer matches the entries (whatever was rewritten
    with its hashes recomputed lies between the last checkpoint that still matches and this
    one). One pass in constant memory; a second one only to explain a broken chain.

    ``saved``: checkpoint notes kept outside the database (downloaded by an auditor), checked
    like the stored ones, so that a log rewritten along with its stored checkpoints is still
    caught.
    """
    problems: list[str] = []
    checkpoints = list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.size)))
    signed: list[tuple[int, bytes, str]] = []
    for checkpoint in checkpoints:
        label = f"checkpoint of size {checkpoint.size}"
        try:
            parsed = tlog.verify_checkpoint(checkpoint.note, verifier, origin)
        except CryptoError as exc:
            problems.append(f"{label}: forged or unreadable: {exc}")
            continue
        if parsed.size != checkpoint.size or parsed.root_hash.hex() != checkpoint.root_hash:
            problems.append(f"{label}: the stored size or root differs from the signed note")
        signed.append((parsed.size, parsed.root_hash, label))
    for number, note in enumerate(saved, 1):
        try:
            parsed = tlog.verify_checkpoint(note, verifier, origin)
        except CryptoError as exc:
            problems.append(f"saved checkpoint {number}: forged or unreadable: {exc}")
            continue
        signed.append((parsed.size, parsed.root_hash, f"saved checkpoint of size {parsed.size}"))
    signed.sort(key=lambda item: item[0])

    # The log as it stands now: entries appended while this runs are left for the next run.
    stored, lowest, highest = session.execute(
        select(func.count(), func.min(_TABLE.c.log_index), func.max(_TABLE.c.log_index))
    ).one()
    size = 0 if highest is None else highest + 1
    outside = 0
    if lowest is not None and lowest < 0:
        within = f"0 to {size - 1}" if size else "(the log has none)"
        for row in _stored_rows(session, lowest, 0):
            outside += 1
            problems.append(f"{_label(row[0], row)}: inserted: its index is outside {within}")

    frontier = _Frontier()
    leaf_of = tlog.leaf_hash
    expected_index = 0
    previous_stored = ""  # the stored leaf hash of the row before: what the chain should hold
    breaks: list[tuple[int, tuple]] = []  # entries whose chain breaks, explained at the end
    matched = 0  # the size of the last checkpoint whose root the entries still give
    pending = iter(signed)
    next_checkpoint = next(pending, None)
    walked = 0
    for row in _stored_rows(session, 0, size):
        walked += 1
        index, stored_leaf, chained = row[0], row[1], row[2]
        after_gap = index != expected_index
        if after_gap:
            missing = _span(expected_index, index - 1)
            problems.append(f"audit log: {missing} removed (the indices jump to {index})")
        try:
            leaf = leaf_of(_encode(*row[2:11]))
        except (TypeError, ValueError):
            problems.append(f"{_label(index, row)}: the stored row cannot be read")
            leaf = bytes(tlog.HASH_SIZE)
        if leaf.hex() != stored_leaf:
            problems.append(f"{_label(index, row)}: changed: the row no longer gives its leaf hash")
        if chained != previous_stored and not after_gap:
            breaks.append((index, row))
        # The tree takes the stored leaf hash (the one a checkpoint signed), so that a row
        # changed with its hash recomputed is caught by the signed roots, and a row changed
        # alone is not reported twice.
        frontier.append(bytes.fromhex(stored_leaf) if _is_hash(stored_leaf) else leaf)
        while next_checkpoint is not None and frontier.size >= next_checkpoint[0]:
            size, root, label = next_checkpoint
            if frontier.root() == root:
                matched = size
            else:
                problems.append(
                    f"{label}: the entries no longer hash to the signed root: entries between"
                    f" {matched} and {size - 1} were changed, inserted, removed or reordered"
                )
            next_checkpoint = next(pending, None)
        previous_stored = stored_leaf
        expected_index = index + 1
    while next_checkpoint is not None:
        size, _root, label = next_checkpoint
        if expected_index == frontier.size:  # no gap: the last entries are gone
            missing = f"{_span(frontier.size, size - 1)} removed"
        else:
            missing = "entries were removed (see above)"
        problems.append(f"{label}: the log has only {frontier.size} entries: {missing}")
        next_checkpoint = next(pending, None)
    if walked + outside != stored:
        problems.append(
            f"audit log: {stored} rows stored but {walked + outside} read by their index: rows"
            " inserted without one, or rows changed while verifying"
        )
    if breaks:
        problems.extend(_explain_breaks(session, breaks, size))
    return AuditVerifyResult(frontier.size, len(checkpoints), problems)


def _span(first: int, last: int) -> str:
    return f"entry {first}" if first == last else f"entries {first} to {last}"


def _is_hash(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


_HEX = set("0123456789abcdef")


def _explain_breaks(session: Session, breaks: list[tuple[int, tuple]], size: int) -> Iterator[str]:
    """Say what each break of the chain means, from where the entry it follows now stands.

    Only when the chain breaks: a second pass maps every stored leaf hash to its index.
    """
    position: dict[str, int] = {}
    for row in _stored_rows(session, 0, size):
        position.setdefault(row[1], row[0])
    follows = {index: position.get(row[2]) if row[2] else None for index, row in breaks}
    moved = {index for index, before in follows.items() if before is not None and before > index}
    for index, row in breaks:
        label = _label(index, row)
        before = follows[index]
        if not row[2]:
            yield f"{label}: inserted: it claims to be the first entry"
        elif before is None:
            yield (
                f"{label}: the entry it follows is no longer in the log: the entry before it"
                " was removed, or changed with its hash rewritten"
            )
        elif index in moved or index - 1 in moved:
            yield f"{label}: reordered: it follows entry {before}"
        elif before == index - 2:
            yield f"{label}: it follows entry {before}: entry {index - 1} was inserted"
        elif before < index - 2:
            yield (
                f"{label}: it follows entry {before}: entries {before + 1} to {index - 1}"
                " were inserted or reordered"
            )
        else:
            yield f"{label}: its chain does not follow the entry before it"
