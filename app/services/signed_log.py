"""Append-only Merkle logs kept in the database: leaves, signed checkpoints, proofs, checks.

A ``SignedLog`` is one log. Its leaves live on the rows they commit to: a mapped class with
an integer ``log_index`` (unique) and a ``leaf_hash`` (hex), whose ``record`` is the bytes a
leaf commits to. ``verify`` recomputes every leaf from its row, so a row changed after the
fact is noticed, and nothing is stored twice. Its checkpoints are rows of another mapped
class with ``size`` (the key), ``root_hash`` (hex) and ``note`` (the C2SP signed note).

The signing key and the origin are not part of a log: an app holds them (``LogKeys``) and
hands them to ``sign_checkpoint`` and ``verify``; the public app holds only the verifier.
"""

from __future__ import annotations

import base64
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import false, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto import tlog
from crypto.errors import CryptoError

_TREES_KEPT = 4  # databases per log whose tree a process keeps (tests use many)


@dataclass
class VerifyResult:
    size: int
    checkpoints: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Consistency:
    """Roots of the tree at two sizes and the proof that the first is a prefix of the second."""

    old_root: bytes
    new_root: bytes
    proof: list[bytes]


class SignedLog:
    """One log: where its leaves and checkpoints are stored and what a leaf commits to."""

    def __init__(
        self,
        *,
        lock_id: int,
        entries: Any,
        checkpoints: Any,
        record: Callable[[Any], bytes],
        describe: Callable[[Any], str],
        read: Callable[[Session], Sequence[Any]] | None = None,
    ) -> None:
        """``lock_id``: the PostgreSQL advisory lock that admits one appender at a time.
        ``entries``, ``checkpoints``: the mapped classes of leaf rows and checkpoint rows.
        ``record``: the canonical bytes of a leaf row (ValueError or TypeError if unreadable).
        ``describe``: a few words naming a leaf row in a problem found by ``verify``.
        ``read``: how ``verify`` reads every leaf row in log order, for rows that a plain
        query could fail to load (a typed column refusing what is stored).
        """
        self.lock_id = lock_id
        self.entries = entries
        self.checkpoints = checkpoints
        self.record = record
        self.describe = describe
        self.read = read or self._read_all
        self._trees_lock = threading.Lock()
        self._trees: OrderedDict[str, tlog.HashTree] = OrderedDict()

    # --- appending --------------------------------------------------------------------------

    def lock(self, session: Session) -> None:
        """Hold the log until the transaction ends, so that nobody appends between reading
        its last entry and adding the next (a transaction may take it twice): on PostgreSQL
        the log's advisory lock; on SQLite the database's one writer, taken by a write that
        changes nothing (otherwise two requests that had written nothing yet would read the
        same last index, and the second would fail on the unique index)."""
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": self.lock_id})
        elif dialect == "sqlite":
            index = self.entries.log_index
            session.execute(
                update(self.entries).where(false()).values(log_index=index),
                execution_options={"synchronize_session": False},
            )

    def append(self, session: Session, entry: Any) -> None:
        """Give ``entry`` (not yet flushed) the next index in the log and its leaf hash."""
        self.lock(session)
        entry.log_index = self.size(session)
        entry.leaf_hash = tlog.leaf_hash(self.record(entry)).hex()
        session.add(entry)
        session.flush()

    def size(self, session: Session) -> int:
        """How many entries the log has."""
        last = session.scalar(select(func.max(self.entries.log_index)))
        return 0 if last is None else last + 1

    def leaf_hashes(self, session: Session, start: int = 0, end: int | None = None) -> list[bytes]:
        """Stored leaf hashes of entries [start, end), in log order."""
        query = select(self.entries.leaf_hash).where(self.entries.log_index >= start)
        if end is not None:
            query = query.where(self.entries.log_index < end)
        rows = session.scalars(query.order_by(self.entries.log_index))
        return [bytes.fromhex(h) for h in rows]

    # --- checkpoints ------------------------------------------------------------------------

    def latest_checkpoint(self, session: Session) -> Any | None:
        """The newest signed checkpoint, or None before anything was signed."""
        query = select(self.checkpoints).order_by(self.checkpoints.size.desc()).limit(1)
        return session.scalar(query)

    def sign_checkpoint(
        self, session: Session, signer: tlog.Signer, origin: str, **columns: Any
    ) -> Any | None:
        """Sign and store a checkpoint of the whole log unless the newest one covers it already.

        ``columns``: values of the log's own further columns of a checkpoint row.
        """
        size = self.size(session)
        latest = self.latest_checkpoint(session)
        if size == 0 or (latest is not None and latest.size >= size):
            return latest
        root = tlog.root_from_hashes(self.leaf_hashes(session, 0, size))
        note = tlog.Checkpoint(origin, size, root).sign(signer)
        checkpoint = self.checkpoints(size=size, root_hash=root.hex(), note=note, **columns)
        try:
            with session.begin_nested():
                session.add(checkpoint)
        except IntegrityError:
            # Another request signed this size at the same moment: its checkpoint stands.
            return self.latest_checkpoint(session)
        return checkpoint

    def signed_by(self, session: Session, verifier: tlog.Verifier, origin: str) -> bool:
        """Whether the newest stored checkpoint verifies under ``verifier`` (True when none
        is stored yet): a machine given another key than the one that signed the log would
        sign checkpoints that no reader holding the log's key can check."""
        latest = self.latest_checkpoint(session)
        if latest is None:
            return True
        try:
            tlog.verify_checkpoint(latest.note, verifier, origin)
        except CryptoError:
            return False
        return True

    # --- proofs -----------------------------------------------------------------------------

    def tree(self, session: Session, checkpoint: Any) -> tlog.HashTree:
        """The leaf hashes of at least ``checkpoint.size`` entries, as a tree kept per process.

        A log only grows and a complete subtree never changes, so each process reads a leaf
        from the database once and answers proofs in O(log² n) hashes rather than rereading
        and rehashing every leaf. The kept tree is believed only if its root at the
        checkpoint's size is the signed root; otherwise (another database behind the same
        address, rows changed) it is rebuilt from the stored leaves, as it would be without
        a cache.
        """
        key = str(session.get_bind().url)
        size = checkpoint.size
        with self._trees_lock:
            tree = self._trees.pop(key, None)
            if tree is not None and len(tree) < size:
                tree.extend(self.leaf_hashes(session, len(tree), size))
            if tree is None or len(tree) < size or tree.root(size).hex() != checkpoint.root_hash:
                tree = tlog.HashTree(self.leaf_hashes(session, 0, size))
            if len(tree) == size and tree.root(size).hex() == checkpoint.root_hash:
                self._trees[key] = tree
                while len(self._trees) > _TREES_KEPT:
                    self._trees.popitem(last=False)
        # Leaves that do not give the signed root are served as stored, uncached, so that a
        # verifier notices, exactly as without the cache.
        return tree

    def inclusion_proof(self, session: Session, checkpoint: Any, index: int) -> list[bytes]:
        """The audit path of entry ``index`` in the tree that ``checkpoint`` signed."""
        return tlog.inclusion_proof(index, checkpoint.size, self.tree(session, checkpoint))

    def consistency(
        self, session: Session, checkpoint: Any | None, old_size: int, new_size: int
    ) -> Consistency:
        """Roots at two sizes up to ``checkpoint``'s and the consistency proof between them."""
        tree = self.tree(session, checkpoint) if checkpoint is not None else tlog.HashTree()
        return Consistency(
            tree.root(old_size),
            tree.root(new_size),
            tlog.consistency_proof(old_size, new_size, tree),
        )

    # --- verification -----------------------------------------------------------------------

    def verify(
        self,
        session: Session,
        verifier: tlog.Verifier,
        origin: str,
        check_entries: Callable[[Session, Sequence[Any]], Iterable[str]] | None = None,
    ) -> VerifyResult:
        """Check the whole log against the database.

        Every leaf is recomputed from its row, and every stored checkpoint must carry a
        valid signature by ``verifier`` for ``origin`` and the root of the recomputed leaves
        at its size. ``check_entries`` may add the log's own checks of its rows (in log
        order). An entry that cannot be checked at all (an unreadable row, a note that
        fails to parse) is one more problem; the other entries are still checked.
        """
        problems: list[str] = []
        entries = self.read(session)
        recomputed: list[bytes] = []
        for position, entry in enumerate(entries):
            label = self.label(entry)
            if entry.log_index != position:
                problems.append(f"{label}: expected log index {position}; entries are missing")
            try:
                leaf = tlog.leaf_hash(self.record(entry))
            except (ValueError, TypeError):
                problems.append(f"{label}: the stored row cannot be read")
                recomputed.append(
                    bytes(tlog.HASH_SIZE)
                )  # stands in for the leaf nobody can compute
                continue
            recomputed.append(leaf)
            if leaf.hex() != entry.leaf_hash:
                problems.append(f"{label}: the stored row no longer matches its leaf hash")
        if check_entries is not None:
            problems.extend(check_entries(session, entries))
        checkpoints = list(
            session.scalars(select(self.checkpoints).order_by(self.checkpoints.size))
        )
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
        return VerifyResult(len(entries), len(checkpoints), problems)

    def _read_all(self, session: Session) -> list[Any]:
        return list(session.scalars(select(self.entries).order_by(self.entries.log_index)))

    def label(self, entry: Any) -> str:
        """How ``verify`` names an entry: its index and the log's own words for the row."""
        return f"log entry {entry.log_index} ({self.describe(entry)})"


# --- keys -----------------------------------------------------------------------------------


def load_signer(key_file: str | os.PathLike[str], origin: str) -> tlog.Signer:
    """A log's Ed25519 signer, generated into ``key_file`` (mode 0600) on first use.

    The key is named after the origin (signed-note key names may not contain "+" or
    spaces; an origin has neither), and its public verifier is written beside it.
    """
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
    signer = tlog.Signer(origin, Ed25519PrivateKey.from_private_bytes(seed))
    public_file = verifier_file(path)
    vkey = signer.verifier.vkey + "\n"
    # Rewritten when it is not this key's: a key file copied from another machine over one
    # made here must not leave the public app serving the old public key.
    if not public_file.exists() or public_file.read_text() != vkey:
        fresh = public_file.with_name(f".{public_file.name}.{os.getpid()}")
        fresh.write_text(vkey)
        fresh.replace(public_file)
    return signer


def verifier_file(key_file: str | os.PathLike[str]) -> Path:
    """Where the public verifier key of ``key_file`` is kept (``.vkey`` beside it)."""
    return Path(key_file).with_suffix(".vkey")


class LogKeys:
    """A log's origin and keys as one app holds them.

    The signer only where ``signing`` (the console and the ``portal`` command); the
    verifier everywhere: ``vkey`` when given, else the signer's, else the ``.vkey`` file
    that the signing side writes beside its key, read once it exists.
    """

    def __init__(
        self, origin: str, key_file: str | os.PathLike[str], vkey: str = "", *, signing: bool
    ) -> None:
        self.origin = origin
        self._key_file = Path(key_file)
        self._signer = load_signer(key_file, origin) if signing else None
        self._verifier = tlog.Verifier.from_vkey(vkey) if vkey.strip() else None

    @property
    def signer(self) -> tlog.Signer:
        """The private key; RuntimeError where the app holds none (the public app)."""
        if self._signer is None:
            raise RuntimeError(f"this app holds no signing key for {self.origin}")
        return self._signer

    def verifier(self) -> tlog.Verifier | None:
        """The public key, or None until the signing side has written it."""
        if self._verifier is None:
            if self._signer is not None:
                self._verifier = self._signer.verifier
            else:
                path = verifier_file(self._key_file)
                if path.exists():
                    self._verifier = tlog.Verifier.from_vkey(path.read_text())
        return self._verifier
