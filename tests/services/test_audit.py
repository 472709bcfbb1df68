"""The audit trail: entries recorded with the act, signed, proved, and every tampering named.

Each tampering is done as someone with write access to the database would: plain SQL on the
rows, with or without recomputing the hashes the rows carry.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from app.models import AuditCheckpoint, AuditEntry, StaffUser
from app.services import audit
from app.services.audit import AuditAction
from crypto import tlog
from crypto.errors import CryptoError

DAY = date(2026, 11, 30)
CASE = "A7K2Q9XW3MPD5RTN"


def _keys(db):
    return db.app.extensions["portal.audit_log"]


def _user(session, org, name: str) -> StaffUser:
    return session.get(StaffUser, org.staff[name])


def _fill(db, org, count: int = 6, checkpoint: bool = True) -> None:
    """``count`` entries about one case, then a signed checkpoint."""
    keys = _keys(db)
    with db() as session:
        head = _user(session, org, "mch.head")
        inspector = _user(session, org, "mch.insp1")
        steps = [
            (AuditAction.sign_in, None, ""),
            (AuditAction.case_open, None, ""),
            (AuditAction.assignment, inspector, "交办：请核实采购问题"),
            (AuditAction.status_change, None, "received -> acknowledged"),
            (AuditAction.label, None, "紧急"),
            (AuditAction.note, None, ""),
        ]
        for number in range(count):
            action, subject, detail = steps[number % len(steps)]
            audit.record(
                session,
                action,
                actor=head,
                case_id=None if action is AuditAction.sign_in else CASE,
                subject=subject,
                detail=detail,
                on=DAY,
            )
        if checkpoint:
            audit.sign_checkpoint(session, keys.signer, keys.origin, DAY)


def _verify(db) -> audit.AuditVerifyResult:
    keys = _keys(db)
    with db() as session:
        return audit.verify(session, keys.verifier(), keys.origin)


def _sql(db, *statements: str, **params) -> None:
    with db() as session:
        for statement in statements:
            session.execute(text(statement), params)


def _rehash(db, index: int) -> None:
    """Recompute an entry's leaf hash from its row, as a careful forger would."""
    with db() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.log_index == index))
        entry.leaf_hash = tlog.leaf_hash(audit.canonical_record(entry)).hex()


def test_an_entry_keeps_who_what_which_case_whom_and_the_day(db, org):
    with db() as session:
        head = _user(session, org, "mch.head")
        inspector = _user(session, org, "mch.insp1")
        entry = audit.record(
            session,
            AuditAction.assignment,
            actor=head,
            case_id=CASE,
            subject=inspector,
            detail="交办：请核实采购问题",
            on=DAY,
        )
        failed = audit.record(session, AuditAction.sign_in_failed, actor=None, on=DAY)
    with db() as session:
        head = _user(session, org, "mch.head")
        head.username = "mch.head.renamed"  # a later rename does not rewrite the trail
        rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.log_index)))
        assert [(r.log_index, r.action) for r in rows] == [
            (0, "assignment"),
            (1, "sign_in_failed"),
        ]
        first, second = rows
        assert (first.actor_id, first.actor_username) == (org.staff["mch.head"], "mch.head")
        assert (first.subject_id, first.subject_username) == (org.staff["mch.insp1"], "mch.insp1")
        assert (first.case_id, first.detail, first.on_date) == (CASE, "交办：请核实采购问题", DAY)
        assert (second.actor_id, second.actor_username) == (None, "")
        # A hash chain: each entry commits to the leaf before it.
        assert first.previous_hash == "" and second.previous_hash == first.leaf_hash
        assert entry.log_index == 0 and failed.log_index == 1
    assert _verify(db).ok


def test_an_entry_is_part_of_the_transaction_of_its_act(db, org):
    with pytest.raises(RuntimeError), db() as session:
        audit.record(session, AuditAction.grant, actor=_user(session, org, "mch.head"), on=DAY)
        raise RuntimeError("the grant failed")
    with db() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_entries_appended_at_the_same_moment_all_land_in_one_chain(db, org):
    """Requests that wrote nothing before their entry (an inbox looked at by several people at
    once) each get the next index: none fails on the unique index, none is left out."""
    threads, each = 6, 8
    start = threading.Barrier(threads, timeout=10)
    errors: list[BaseException] = []

    def look(name: str) -> None:
        try:
            start.wait()
            for _ in range(each):
                with db() as session:
                    audit.record(session, AuditAction.inbox_view, actor=_user(session, org, name))
        except BaseException as error:  # reported below
            errors.append(error)

    names = ["mch.insp1", "mch.insp2", "mch.head", "grp.insp1", "grp.insp2", "grp.head"]
    running = [threading.Thread(target=look, args=(name,)) for name in names[:threads]]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(60)
    assert errors == []
    with db() as session:
        indexes = list(session.scalars(select(AuditEntry.log_index).order_by(AuditEntry.log_index)))
    assert indexes == list(range(threads * each))
    keys = _keys(db)
    with db() as session:
        audit.sign_checkpoint(session, keys.signer, keys.origin, DAY)
    assert _verify(db).ok


def test_an_entry_refuses_what_is_not_an_action_or_too_long_a_detail(db, org):
    with db() as session:
        head = _user(session, org, "mch.head")
        with pytest.raises(ValueError):
            audit.record(session, "read_everything", actor=head)
        with pytest.raises(audit.AuditError):
            audit.record(session, AuditAction.note, actor=head, detail="举报内容" * 200)
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_entries_are_dated_by_the_day_never_timed(db, org):
    with db() as session:
        audit.record(session, AuditAction.inbox_view, actor=_user(session, org, "mch.insp1"))
    with db() as session:
        stored = session.execute(text("SELECT on_date FROM audit_entries")).scalar_one()
    assert len(str(stored)) == 10  # YYYY-MM-DD, nothing finer


def test_entries_take_the_day_where_the_enterprise_is(instance):
    now = datetime.now(UTC)
    # A zone whose day is not UTC's at this moment.
    zone = "Etc/GMT-14" if now.hour >= 10 else "Etc/GMT+12"
    app = instance.app("console", BABEL_DEFAULT_TIMEZONE=zone)
    with app.extensions["portal.db"].session() as session:
        entry = audit.record(session, AuditAction.sign_in_failed, actor=None)
        assert entry.on_date == datetime.now(ZoneInfo(zone)).date() != now.date()


def test_checkpoints_are_signed_by_the_audit_key_and_prove_every_entry(db, org):
    _fill(db, org, 4)
    _fill(db, org, 3)
    keys = _keys(db)
    with db() as session:
        checkpoints = list(session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.size)))
        assert [(c.size, c.signed_on) for c in checkpoints] == [(4, DAY), (7, DAY)]
        latest = checkpoints[-1]
        signed = tlog.verify_checkpoint(latest.note, keys.verifier(), keys.origin)
        # Not the disclosure log's key, nor its origin.
        disclosure_keys = db.app.extensions["portal.disclosure_log"]
        assert keys.origin != disclosure_keys.origin
        with pytest.raises(CryptoError):
            tlog.verify_checkpoint(latest.note, disclosure_keys.verifier(), keys.origin)
        for entry in session.scalars(select(AuditEntry)):
            proof = audit.LOG.inclusion_proof(session, latest, entry.log_index)
            leaf = tlog.leaf_hash(audit.canonical_record(entry))
            tlog.verify_inclusion(leaf, entry.log_index, 7, proof, signed.root_hash)
        consistency = audit.LOG.consistency(session, latest, 4, 7)
        tlog.verify_consistency(4, 7, consistency.old_root, signed.root_hash, consistency.proof)
        # Nothing new: no new checkpoint.
        assert audit.sign_checkpoint(session, keys.signer, keys.origin, DAY).size == 7
    result = _verify(db)
    assert result.ok, result.problems
    assert (result.size, result.checkpoints) == (7, 2)


def test_the_public_app_holds_nothing_of_the_audit_log(instance):
    public = instance.app("public")
    console = instance.app("console")
    assert "portal.audit_log" not in public.extensions
    keys = console.extensions["portal.audit_log"]
    assert keys.signer is not None
    assert keys.origin == console.config["AUDIT_LOG_ORIGIN"]
    assert console.config["AUDIT_LOG_KEY_FILE"] != console.config["LOG_KEY_FILE"]


# --- verify names each tampering ------------------------------------------------------------


def test_verify_names_an_entry_changed(db, org):
    _fill(db, org)
    _sql(db, "UPDATE audit_entries SET detail = '紧急（已删除）' WHERE log_index = 4")
    problems = _verify(db).problems
    assert any("audit entry 4 (label by mch.head" in p and "changed" in p for p in problems), (
        problems
    )


def test_verify_names_an_entry_changed_with_its_hash_recomputed(db, org):
    _fill(db, org)
    _sql(db, "UPDATE audit_entries SET actor_username = 'mch.insp2' WHERE log_index = 2")
    _rehash(db, 2)
    problems = _verify(db).problems
    assert any(p.startswith("audit entry 3 ") and "entry before it" in p for p in problems), (
        problems
    )
    assert any(p.startswith("checkpoint of size 6: the entries no longer") for p in problems)


def test_verify_names_an_entry_removed(db, org):
    _fill(db, org)
    _sql(db, "DELETE FROM audit_entries WHERE log_index = 2")
    problems = _verify(db).problems
    assert "audit log: entry 2 removed (the indices jump to 3)" in problems, problems
    assert any(p.startswith("checkpoint of size 6") for p in problems)


def test_verify_names_an_entry_removed_and_the_rest_renumbered(db, org):
    _fill(db, org)
    _sql(
        db,
        "DELETE FROM audit_entries WHERE log_index = 2",
        "UPDATE audit_entries SET log_index = log_index + 1000000 WHERE log_index > 2",
        "UPDATE audit_entries SET log_index = log_index - 1000001 WHERE log_index > 1000000",
    )
    problems = _verify(db).problems
    assert any(
        p.startswith("audit entry 2 (status_change") and "before it was removed" in p
        for p in problems
    ), problems
    assert "checkpoint of size 6: the log has only 5 entries: entry 5 removed" in problems


def test_verify_names_the_last_entries_removed_under_a_checkpoint(db, org):
    _fill(db, org)
    _sql(db, "DELETE FROM audit_entries WHERE log_index >= 4")
    problems = _verify(db).problems
    assert "checkpoint of size 6: the log has only 4 entries: entries 4 to 5 removed" in problems, (
        problems
    )


def test_verify_names_an_entry_inserted(db, org):
    _fill(db, org)
    # Make room at index 3 and write a well-formed entry there, chained and hashed.
    _sql(
        db,
        "UPDATE audit_entries SET log_index = log_index + 1000000 WHERE log_index >= 3",
        "UPDATE audit_entries SET log_index = log_index - 999999 WHERE log_index >= 1000000",
    )
    with db() as session:
        before = session.scalar(select(AuditEntry).where(AuditEntry.log_index == 2))
        forged = AuditEntry(
            log_index=3,
            previous_hash=before.leaf_hash,
            on_date=DAY,
            actor_id=org.staff["mch.insp2"],
            actor_username="mch.insp2",
            action="grant",
            case_id=CASE,
            detail="补授权限",
        )
        forged.leaf_hash = tlog.leaf_hash(audit.canonical_record(forged)).hex()
        session.add(forged)
    problems = _verify(db).problems
    assert any(
        p.startswith("audit entry 4 (status_change") and "entry 3 was inserted" in p
        for p in problems
    ), problems
    assert any(p.startswith("checkpoint of size 6: the entries no longer") for p in problems)


def test_verify_names_entries_reordered(db, org):
    _fill(db, org)
    _sql(
        db,
        "UPDATE audit_entries SET log_index = 1000000 WHERE log_index = 3",
        "UPDATE audit_entries SET log_index = 3 WHERE log_index = 4",
        "UPDATE audit_entries SET log_index = 4 WHERE log_index = 1000000",
    )
    problems = _verify(db).problems
    assert any(p.startswith("audit entry 3 (label") and "reordered" in p for p in problems), (
        problems
    )
    assert any(p.startswith("checkpoint of size 6: the entries no longer") for p in problems)


FORGED_BELOW_ZERO = (
    "INSERT INTO audit_entries (id, log_index, leaf_hash, previous_hash, on_date, actor_id,"
    " actor_username, action, case_id, subject_id, subject_username, detail)"
    " VALUES (9000, :index, :hash, '', :day, :actor, 'mch.head', 'real_name_open', :case,"
    " NULL, NULL, '伪造：无理由查看实名')"
)


CHECK = "ck_audit_entries_log_index_not_negative"


def _dialect(db) -> str:
    return db.app.extensions["portal.db"].engine.dialect.name


def _forge_below_zero(db, org, index: int = -7) -> None:
    """A row the auditor's pages would show, where no checkpoint reaches, as a forger with
    the power to lift the table's constraint would write it."""
    with db() as session:
        if _dialect(db) == "postgresql":
            session.execute(text(f"ALTER TABLE audit_entries DROP CONSTRAINT {CHECK}"))
        else:
            session.execute(text("PRAGMA ignore_check_constraints = ON"))
        session.execute(
            text(FORGED_BELOW_ZERO),
            {
                "index": index,
                "hash": "a" * 64,
                "day": DAY,
                "actor": org.staff["mch.head"],
                "case": CASE,
            },
        )
        if _dialect(db) == "sqlite":
            session.execute(text("PRAGMA ignore_check_constraints = OFF"))


def test_the_database_refuses_an_entry_below_index_0(db, org):
    _fill(db, org)
    with pytest.raises(IntegrityError), db() as session:
        session.execute(
            text(FORGED_BELOW_ZERO),
            {
                "index": -7,
                "hash": "a" * 64,
                "day": DAY,
                "actor": org.staff["mch.head"],
                "case": CASE,
            },
        )
    assert _verify(db).ok


def test_verify_names_an_entry_inserted_below_index_0(db, org):
    _fill(db, org)
    _forge_below_zero(db, org)
    result = _verify(db)
    assert (
        f"audit entry -7 (real_name_open by mch.head on 2026-11-30, case {CASE}): inserted:"
        " its index is outside 0 to 5"
    ) in result.problems, result.problems
    # Everything else still holds: the forged row is the one thing named.
    assert len(result.problems) == 1 and result.size == 6


def test_verify_names_an_entry_below_index_0_of_an_empty_log(db, org):
    _forge_below_zero(db, org, index=-1)
    problems = _verify(db).problems
    assert any(
        p.startswith("audit entry -1 (real_name_open by mch.head") and "(the log has none)" in p
        for p in problems
    ), problems


def test_verify_names_rows_that_no_index_reaches(db, org):
    if _dialect(db) != "postgresql":
        pytest.skip("SQLite cannot lift a column's NOT NULL")
    _fill(db, org)
    with db() as session:
        session.execute(text("ALTER TABLE audit_entries ALTER COLUMN log_index DROP NOT NULL"))
    _forge_below_zero(db, org, index=None)
    problems = _verify(db).problems
    assert any(
        p.startswith("audit log: 7 rows stored but 6 read by their index") for p in problems
    ), problems


def test_verify_refuses_a_forged_checkpoint(db, org):
    _fill(db, org, 3)
    keys = _keys(db)
    with db() as session:
        size = 3
        leaves = audit.LOG.leaf_hashes(session)
        forger = tlog.Signer.generate(keys.origin)  # the right name, another key
        note = tlog.Checkpoint(keys.origin, size, tlog.root_from_hashes(leaves)).sign(forger)
        session.execute(
            text("UPDATE audit_checkpoints SET note = :note WHERE size = :size"),
            {"note": note, "size": size},
        )
    problems = _verify(db).problems
    assert len(problems) == 1 and problems[0].startswith("checkpoint of size 3: forged"), problems


def test_verify_refuses_a_checkpoint_of_the_disclosure_log(db, org):
    _fill(db, org, 3, checkpoint=False)
    disclosure_keys = db.app.extensions["portal.disclosure_log"]
    with db() as session:
        audit.LOG.sign_checkpoint(
            session, disclosure_keys.signer, disclosure_keys.origin, signed_on=DAY
        )
    problems = _verify(db).problems
    assert problems and problems[0].startswith("checkpoint of size 3: forged"), problems
