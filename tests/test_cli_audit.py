"""``portal audit verify``: exit 0 on an intact trail, 1 naming each entry tampered with.

Run on SQLite and PostgreSQL (the ``instance`` fixtures): each of the four tamperings
(changed, removed, inserted, reordered), a forged checkpoint, and a whole trail rewritten
with its stored checkpoints, caught by a checkpoint an auditor saved.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, text

from app.models import AuditEntry, StaffUser
from app.services import audit
from app.services.audit import AuditAction
from crypto import tlog

DAY = date(2026, 11, 30)
CASE = "报告-二〇二六-0017"


def run(app, *args):
    return app.test_cli_runner().invoke(args=["audit", *args])


@pytest.fixture
def trail(db, org):
    """Six entries about one case by the MCH office head, and a signed checkpoint."""
    keys = db.app.extensions["portal.audit_log"]
    with db() as session:
        head = session.get(StaffUser, org.staff["mch.head"])
        inspector = session.get(StaffUser, org.staff["mch.insp1"])
        audit.record(session, AuditAction.sign_in, actor=head, on=DAY)
        audit.record(session, AuditAction.case_open, actor=head, case_id=CASE, on=DAY)
        audit.record(
            session,
            AuditAction.assignment,
            actor=head,
            case_id=CASE,
            subject=inspector,
            detail="交办：请核实",
            on=DAY,
        )
        audit.record(session, AuditAction.label, actor=head, case_id=CASE, detail="紧急", on=DAY)
        audit.record(session, AuditAction.note, actor=inspector, case_id=CASE, on=DAY)
        audit.record(session, AuditAction.session_end, actor=head, on=DAY)
        audit.sign_checkpoint(session, keys.signer, keys.origin, DAY)
    return db


def sql(db, *statements: str) -> None:
    with db() as session:
        for statement in statements:
            session.execute(text(statement))


def failed_with(result, *expected: str) -> list[str]:
    assert result.exit_code == 1, result.output
    problems = [line.removeprefix("  - ") for line in result.stderr.splitlines()[1:]]
    for words in expected:
        assert any(words in problem for problem in problems), (words, problems)
    assert "Traceback" not in result.output
    return problems


def test_an_intact_trail_verifies(trail, console_app):
    result = run(console_app, "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Audit log OK: 6 entries, 1 signed checkpoints verified.\n"


def test_an_entry_changed_is_named(trail, console_app):
    sql(trail, "UPDATE audit_entries SET detail = '不紧急' WHERE log_index = 3")
    failed_with(run(console_app, "verify"), "audit entry 3 (label by mch.head on 2026-11-30, case")


def test_an_entry_removed_is_named(trail, console_app):
    sql(trail, "DELETE FROM audit_entries WHERE log_index = 1")
    failed_with(
        run(console_app, "verify"),
        "audit log: entry 1 removed (the indices jump to 2)",
        "checkpoint of size 6: the log has only 5 entries: entries were removed (see above)",
    )


def test_an_entry_inserted_is_named(trail, console_app, org):
    sql(
        trail,
        "UPDATE audit_entries SET log_index = log_index + 1000000 WHERE log_index >= 2",
        "UPDATE audit_entries SET log_index = log_index - 999999 WHERE log_index >= 1000000",
    )
    with trail() as session:
        before = session.scalar(select(AuditEntry).where(AuditEntry.log_index == 1))
        forged = AuditEntry(
            log_index=2,
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
    failed_with(
        run(console_app, "verify"),
        "audit entry 3 (assignment by mch.head on 2026-11-30, case 报告-二〇二六-0017): it"
        " follows entry 1: entry 2 was inserted",
    )


def test_entries_reordered_are_named(trail, console_app):
    sql(
        trail,
        "UPDATE audit_entries SET log_index = 1000000 WHERE log_index = 2",
        "UPDATE audit_entries SET log_index = 2 WHERE log_index = 3",
        "UPDATE audit_entries SET log_index = 3 WHERE log_index = 1000000",
    )
    failed_with(
        run(console_app, "verify"),
        "audit entry 2 (label by mch.head on 2026-11-30, case 报告-二〇二六-0017): reordered",
        "audit entry 3 (assignment by mch.head",
    )


def test_an_entry_inserted_below_index_0_is_named(trail, console_app, org):
    # Shown on the auditor's pages, covered by no checkpoint: a forger must first lift the
    # table's constraint, which the database keeps otherwise.
    forged = (
        "INSERT INTO audit_entries (id, log_index, leaf_hash, previous_hash, on_date,"
        f" actor_id, actor_username, action, case_id, detail) VALUES (9000, -7, '{'a' * 64}',"
        f" '', '2026-11-30', {org.staff['mch.head']}, 'mch.head', 'real_name_open', '{CASE}',"
        " '伪造：无理由查看实名')"
    )
    if trail.app.extensions["portal.db"].engine.dialect.name == "postgresql":
        lift = "ALTER TABLE audit_entries DROP CONSTRAINT ck_audit_entries_log_index_not_negative"
        sql(trail, lift, forged)
    else:
        sql(trail, "PRAGMA ignore_check_constraints = ON", forged)
    failed_with(
        run(console_app, "verify"),
        f"audit entry -7 (real_name_open by mch.head on 2026-11-30, case {CASE}): inserted:"
        " its index is outside 0 to 5",
    )


def test_a_forged_checkpoint_is_named(trail, console_app):
    origin = console_app.extensions["portal.audit_log"].origin
    with trail() as session:
        leaves = audit.LOG.leaf_hashes(session)
        # A forger's checkpoint that leaves out the last entry, under the right name.
        note = tlog.Checkpoint(origin, 5, tlog.root_from_hashes(leaves[:5])).sign(
            tlog.Signer.generate(origin)
        )
        session.execute(
            text(
                "INSERT INTO audit_checkpoints (size, root_hash, note, signed_on)"
                " VALUES (5, :root, :note, :day)"
            ),
            {"root": tlog.root_from_hashes(leaves[:5]).hex(), "note": note, "day": DAY},
        )
    failed_with(run(console_app, "verify"), "checkpoint of size 5: forged or unreadable")


def test_a_trail_rewritten_with_its_checkpoints_is_caught_by_a_saved_one(
    trail, console_app, tmp_path
):
    saved = tmp_path / "审计检查点.txt"
    saved.write_text(run(console_app, "checkpoint").stdout, encoding="utf-8")
    # Everything in the database rewritten consistently: a changed entry, its hash, every
    # hash after it, and no stored checkpoint left to disagree.
    with trail() as session:
        session.execute(text("DELETE FROM audit_checkpoints"))
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.log_index)))
        entries[3].detail = "一般"
        previous = entries[2].leaf_hash
        for entry in entries[3:]:
            entry.previous_hash = previous
            entry.leaf_hash = previous = tlog.leaf_hash(audit.canonical_record(entry)).hex()
    assert run(console_app, "verify").exit_code == 0  # nothing inside the database disagrees
    failed_with(
        run(console_app, "verify", "--checkpoint", str(saved)),
        "saved checkpoint of size 6: the entries no longer hash to the signed root",
    )


def test_checkpoint_and_key_print_what_a_verifier_needs(trail, console_app):
    note = run(console_app, "checkpoint").stdout
    vkey = run(console_app, "key").stdout.strip()
    signed = tlog.verify_checkpoint(
        note, tlog.Verifier.from_vkey(vkey), console_app.config["AUDIT_LOG_ORIGIN"]
    )
    assert signed.size == 6
    assert vkey != console_app.test_cli_runner().invoke(args=["log", "key"]).stdout.strip()
