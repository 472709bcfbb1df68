"""The signed-log store on a log of its own: what a second log (the audit trail) gets from it.

The log here is not the disclosure log: its own tables, its own record encoding, its own
key and origin. Everything the store offers must work on it as on the disclosure log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import Integer, String, Text, create_engine, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from app.services.signed_log import LogKeys, SignedLog, load_signer, verifier_file
from crypto import tlog
from crypto.errors import ProofError


class Base(DeclarativeBase):
    pass


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    what: Mapped[str] = mapped_column(Text)
    log_index: Mapped[int] = mapped_column(Integer, unique=True)
    leaf_hash: Mapped[str] = mapped_column(String(64))


class EventCheckpoint(Base):
    __tablename__ = "event_checkpoints"

    size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)


def _record(event: Event) -> bytes:
    if event.what.startswith("{"):
        raise ValueError("not an event")
    return json.dumps([event.actor, event.what], ensure_ascii=False).encode()


EVENTS = SignedLog(
    lock_id=0x7465_7374,
    entries=Event,
    checkpoints=EventCheckpoint,
    record=_record,
    describe=lambda event: f"event {event.id}",
)
ORIGIN = "portal.example.internal/audit-test"


@pytest.fixture
def session(tmp_path) -> Iterator[Session]:
    engine = create_engine(f"sqlite:///{tmp_path / 'events.sqlite3'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture
def keys(tmp_path) -> LogKeys:
    return LogKeys(ORIGIN, tmp_path / "keys" / "audit.key", signing=True)


def _append(session: Session, *whats: str) -> None:
    for what in whats:
        EVENTS.append(session, Event(actor="审计员 auditor", what=what))
    session.commit()


def test_a_second_log_appends_signs_proves_and_verifies(session, keys):
    _append(session, "查看举报 1", "导出日志", "unsealed key 办公室")
    first = EVENTS.sign_checkpoint(session, keys.signer, ORIGIN)
    _append(session, "第四件事", "fifth")
    second = EVENTS.sign_checkpoint(session, keys.signer, ORIGIN)
    session.commit()
    assert (first.size, second.size, EVENTS.size(session)) == (3, 5, 5)
    assert EVENTS.sign_checkpoint(session, keys.signer, ORIGIN) is second  # nothing new

    signed = tlog.verify_checkpoint(second.note, keys.verifier(), ORIGIN)
    for index, leaf in enumerate(EVENTS.leaf_hashes(session)):
        proof = EVENTS.inclusion_proof(session, second, index)
        tlog.verify_inclusion(leaf, index, 5, proof, signed.root_hash)
    consistency = EVENTS.consistency(session, second, 3, 5)
    assert consistency.old_root.hex() == first.root_hash
    assert consistency.new_root == signed.root_hash
    tlog.verify_consistency(3, 5, consistency.old_root, signed.root_hash, consistency.proof)

    result = EVENTS.verify(session, keys.verifier(), ORIGIN)
    assert result.ok, result.problems
    assert (result.size, result.checkpoints) == (5, 2)


def test_verify_names_every_problem_of_a_second_log(session, keys, tmp_path):
    _append(session, "一", "二", "三")
    EVENTS.sign_checkpoint(session, keys.signer, ORIGIN)
    session.commit()
    session.execute(text("UPDATE events SET what = '改过' WHERE log_index = 1"))
    session.execute(text("UPDATE events SET what = '{' WHERE log_index = 2"))
    session.commit()
    checks = []

    def own_checks(_session, entries):
        checks.append([e.log_index for e in entries])
        return ["the log's own check"]

    result = EVENTS.verify(session, keys.verifier(), ORIGIN, own_checks)
    assert checks == [[0, 1, 2]]
    assert result.problems == [
        "log entry 1 (event 2): the stored row no longer matches its leaf hash",
        "log entry 2 (event 3): the stored row cannot be read",
        "the log's own check",
        "checkpoint of size 3: the entries no longer hash to the signed root",
    ]
    # Another log's key, or the right key for another origin: the checkpoint is refused.
    other = LogKeys("portal.example.internal/disclosures", tmp_path / "other.key", signing=True)
    refused = EVENTS.verify(session, other.verifier(), ORIGIN).problems[-1]
    assert refused == "checkpoint of size 3: checkpoint is not signed by the expected key"
    refused = EVENTS.verify(session, keys.verifier(), "x.example/y").problems[-1]
    assert refused == "checkpoint of size 3: checkpoint is for another log"


def test_proofs_come_from_the_stored_leaves_not_from_the_signed_root(session, keys):
    _append(session, "甲", "乙", "丙")
    checkpoint = EVENTS.sign_checkpoint(session, keys.signer, ORIGIN)
    session.execute(text("UPDATE events SET leaf_hash = :h WHERE log_index = 1"), {"h": "00" * 32})
    session.commit()
    root = bytes.fromhex(checkpoint.root_hash)
    leaf = EVENTS.leaf_hashes(session)[0]
    with pytest.raises(ProofError):  # a verifier notices
        tlog.verify_inclusion(leaf, 0, 3, EVENTS.inclusion_proof(session, checkpoint, 0), root)
    session.execute(
        text("UPDATE events SET leaf_hash = :h WHERE log_index = 1"),
        {"h": tlog.leaf_hash(_record(session.get(Event, 2))).hex()},
    )
    session.commit()
    tlog.verify_inclusion(leaf, 0, 3, EVENTS.inclusion_proof(session, checkpoint, 0), root)


def test_keys_of_an_app_without_the_signing_key(tmp_path):
    key_file = tmp_path / "keys" / "audit.key"
    public = LogKeys(ORIGIN, key_file, signing=False)
    assert public.verifier() is None and not key_file.parent.exists()
    with pytest.raises(RuntimeError):
        public.signer  # noqa: B018 (the access raises)
    signer = load_signer(key_file, ORIGIN)  # the signing side makes the key and its .vkey
    assert verifier_file(key_file).read_text().strip() == signer.verifier.vkey
    assert public.verifier() == signer.verifier
    # A configured verifier key comes first.
    other = tlog.Signer.generate(ORIGIN).verifier
    assert LogKeys(ORIGIN, key_file, other.vkey, signing=True).verifier() == other
    assert (key_file.stat().st_mode & 0o777) == 0o600
