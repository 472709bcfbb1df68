"""Retention by crypto-shredding: a concluded case past its period is purged whole (no byte of
its ciphertext left in the database, its write-ahead log or the blob store; nothing opens it,
not even the office's recovery key), a statistics row and its audit entries stay, nothing
else is touched, a dry run changes nothing and two runs at once purge each case once.
Chinese data throughout; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db import sqlite_file
from app.models import (
    AuditEntry,
    CaseNote,
    PurgedReportStat,
    Report,
    ReportEnvelope,
    StaffUser,
    Unit,
)
from app.models.blobs import BlobChunk
from app.services.blobs import BlobError
from app.services.cases import access, notes
from app.services.pg_blobs import PostgresBlobStore
from app.services.reports import followup, retention
from app.services.reports import stats as report_stats
from tests.helpers.case_console import send_report
from tests.helpers.cases import opens
from tests.helpers.reports import PARAMS, PEPPER
from tests.helpers.retention import (
    CONCLUDED,
    LABEL,
    NOTE,
    PURGE_DAY,
    RECEIVED,
    concluded_case,
    rows_of,
    verify_audit,
)

STATS_PAGES = ("/stats", "/stats.csv")


def ciphertext(db, blobs, report_id: str) -> tuple[list[bytes], dict[str, bytes]]:
    """Every header of the case (its files' and its notes'), and its payloads by blob key."""
    with db() as session:
        rows = list(
            session.scalars(select(ReportEnvelope).where(ReportEnvelope.report_id == report_id))
        )
        rows += session.scalars(select(CaseNote).where(CaseNote.report_id == report_id))
        headers = [bytes(row.header) for row in rows]
        payloads = {}
        for row in rows:
            with blobs.open(row.blob_key) as blob:
                payloads[row.blob_key] = blob.read()
    assert len(rows) >= 7  # text + 2 attachments, 2 messages with a file each, a note
    return headers, payloads


def pieces(data: bytes, size: int = 24, most: int = 200) -> set[bytes]:
    """Windows of ``data`` spread over all of it: a piece of it left anywhere shows."""
    step = max(size // 2, len(data) // most)
    return {data[i : i + size] for i in range(0, max(1, len(data) - size), step)}


def distinctive(headers: list[bytes], common: bytes) -> set[bytes]:
    """The headers' windows that are theirs alone (not the format's words, nor in ``common``:
    other cases' headers, the report's id that the audit trail keeps)."""
    return {piece for header in headers for piece in pieces(header) if piece not in common}


def database_bytes(db) -> bytes:
    """The SQLite file and its write-ahead log, as they lie on disk."""
    with db() as session:
        path = sqlite_file(session.get_bind().url)
    assert path is not None
    wal = Path(f"{path}-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def blob_folder_bytes(blobs) -> bytes:
    """Every byte the blob store holds: its folder's files, or (PostgreSQL's store) its
    ``blob_chunks`` rows."""
    if isinstance(blobs, PostgresBlobStore):
        with blobs.engine.connect() as connection:
            return b"".join(connection.scalars(select(BlobChunk.data)))
    return b"".join(p.read_bytes() for p in sorted(blobs.root.rglob("*")) if p.is_file())


def blob_names(blobs) -> str:
    """The names the blob store holds: its folder's paths, or its rows' keys."""
    if isinstance(blobs, PostgresBlobStore):
        return "\n".join(blobs.keys())
    return "\n".join(str(p) for p in blobs.root.rglob("*"))


def run_purge(db, blobs, today: date = PURGE_DAY, default_years: int = 5):
    with db.app.extensions["portal.db"].sessions() as session:
        return retention.purge(session, blobs, today, default_years)


def test_a_purge_leaves_no_byte_of_the_case_and_nothing_opens_it(db, org, blobs):
    due, code = concluded_case(db, org, blobs)
    # Concluded on the same day, but its category is kept ten years.
    kept, _ = concluded_case(db, org, blobs, category="bribery_embezzlement", persons="财务部张某")
    open_case, _ = concluded_case(db, org, blobs, concluded=None, persons="仓库李某")
    with db() as session:
        assert retention.set_period(session, "bribery_embezzlement", 10)
    headers, payloads = ciphertext(db, blobs, due)
    kept_headers, kept_payloads = ciphertext(db, blobs, kept)
    recovery = org.recovery["MCH"]
    with db() as session:
        envelopes = session.scalars(select(ReportEnvelope).where(ReportEnvelope.report_id == due))
        assert all(opens(blobs, envelope, recovery) for envelope in envelopes)
        assert notes.read_notes(session, blobs, session.get(Report, due), [recovery])[0].text
        before_audit = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.case_id == due)
        )
    untouched = {i: rows_of(db, i) for i in (kept, open_case)}

    # The day before its fifth anniversary nothing is due.
    assert run_purge(db, blobs, PURGE_DAY - timedelta(days=1)).purged == []
    outcome = run_purge(db, blobs)
    with db() as session:
        path = sqlite_file(session.get_bind().url)
    if path is not None:  # the file rebuilt says the day, not the second of the run
        assert path.stat().st_mtime == blobs.day_start(PURGE_DAY)
        assert "rebuilt (VACUUM)" in outcome.line and "write-ahead log emptied" in outcome.line

    assert [case.report_id for case in outcome.purged] == [due]
    assert outcome.blobs_deleted == len(payloads)
    assert set(rows_of(db, due).values()) == {0}
    # The kept case had a row in every table (it was never passed up).
    assert [table for table, count in untouched[kept].items() if not count] == ["case_transfers"]
    assert {i: rows_of(db, i) for i in (kept, open_case)} == untouched
    with db() as session:
        assert session.scalar(select(func.count()).select_from(PurgedReportStat)) == 1
        row = session.scalar(select(PurgedReportStat))
        assert (row.year, row.quarter, row.kind, row.category) == (
            2026,
            3,
            "misconduct",
            "procurement_bidding",
        )
        machinery = session.scalar(select(Unit.id).where(Unit.code == "MCH"))
        assert (row.office_id, row.subsidiary_id) == (org.offices["MCH"], machinery)
        assert row.concluded and row.acknowledged_in_time and row.answered_in_time
        assert row.disposal == "preliminary_verification"
        # Its audit entries stay, and one more says it was purged (no content).
        entries = list(session.scalars(select(AuditEntry).where(AuditEntry.case_id == due)))
        assert len(entries) == before_audit + 1
        assert entries[-1].action == "purge" and entries[-1].actor_id is None
        assert "采购" not in entries[-1].detail and "李四" not in entries[-1].detail
        # None of the entries that stay holds the case's words: its label's neither.
        assert not [e for e in entries if LABEL in (e.detail or "") or NOTE in (e.detail or "")]
        runs = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "purge", AuditEntry.case_id.is_(None))
        )
        assert [e.detail for e in runs] == ["retention purge: 1 case(s) purged"]
        # Nothing of it is left for the recovery key to open: no header, no payload.
        for envelope in session.scalars(select(ReportEnvelope)):
            assert envelope.report_id != due
        for key in payloads:
            with pytest.raises(BlobError):
                blobs.open(key)
        # The receipt code opens nothing: the reporter sees what a mistyped code gets.
        assert followup.open_by_code(session, PEPPER, code, PARAMS) is None
    verify_audit(db)

    # No byte of its ciphertext is left in the blob folder, nor (SQLite) in the database
    # file or its write-ahead log; the case kept still is found there, so the search works.
    folder = blob_folder_bytes(blobs)
    names = blob_names(blobs)
    assert not any(key in names for key in payloads)
    for payload in payloads.values():
        assert not any(piece in folder for piece in pieces(payload, 32, 64))
    for payload in kept_payloads.values():
        assert any(piece in folder for piece in pieces(payload, 32, 64))
    with db() as session:
        if session.get_bind().dialect.name != "sqlite":
            return
    stored = database_bytes(db)
    common = b"\n".join([*kept_headers, due.encode()])
    mine = distinctive(headers, common)
    assert len(mine) > 100
    assert not [piece for piece in mine if piece in stored]
    assert any(piece in stored for piece in distinctive(kept_headers, b"\n".join(headers)))
    assert NOTE.encode() not in stored


def test_a_dry_run_lists_what_would_go_and_changes_nothing(
    db, org, blobs, console_app, monkeypatch
):
    due, _ = concluded_case(db, org, blobs)
    before = rows_of(db, due)
    with db() as session:
        listed = retention.due_cases(session, PURGE_DAY, 5)
        entries = session.scalar(select(func.count()).select_from(AuditEntry))
    assert [(c.report_id, c.category, c.concluded_on, c.years) for c in listed] == [
        (due, "procurement_bidding", CONCLUDED, 5)
    ]
    # text, two attachments, the real name; two messages with a file each; a note
    assert (listed[0].files, listed[0].messages, listed[0].notes) == (8, 2, 1)
    monkeypatch.setattr("app.cli.purge.today", lambda: PURGE_DAY)
    result = console_app.test_cli_runner().invoke(args=["purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert due in result.output and "concluded 2026-08-03 (kept 5 years)" in result.output
    assert "1 concluded case(s) would be purged on 2031-08-03" in result.output
    assert rows_of(db, due) == before
    with db() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == entries
        assert session.scalar(select(func.count()).select_from(PurgedReportStat)) == 0


def test_two_runs_at_once_purge_each_case_once(db, org, blobs):
    due = [concluded_case(db, org, blobs, persons=f"采购员{i}号")[0] for i in range(3)]
    outcomes, failures = [], []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait()
            outcomes.append(run_purge(db, blobs))
        except Exception as exc:  # shown by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures
    purged = sorted(case.report_id for outcome in outcomes for case in outcome.purged)
    assert purged == sorted(due)
    # One run did everything; the other waited for it and found nothing left.
    assert sorted(len(outcome.purged) for outcome in outcomes) == [0, 3]
    with db() as session:
        assert session.scalar(select(func.count()).select_from(PurgedReportStat)) == 3
        per_case = session.execute(
            select(AuditEntry.case_id, func.count())
            .where(AuditEntry.action == "purge", AuditEntry.case_id.is_not(None))
            .group_by(AuditEntry.case_id)
        ).all()
        assert sorted(per_case) == sorted((i, 1) for i in due)
    for report_id in due:
        assert set(rows_of(db, report_id).values()) == {0}
    verify_audit(db)


def test_the_public_statistics_count_purged_cases_as_before(
    db, org, blobs, public_app, monkeypatch
):
    cases = [concluded_case(db, org, blobs, persons=f"采购员{i}号")[0] for i in range(5)]
    for i in range(5):
        send_report(db, blobs, today=RECEIVED, files=False, persons=f"仓库保管员{i}号")
    monkeypatch.setattr("app.public.stats.views.today", lambda: PURGE_DAY)
    cache = public_app.extensions["portal.page_cache"]
    pages = {path: public_app.test_client().get(path).get_data() for path in STATS_PAGES}
    assert b"2026" in pages["/stats.csv"]
    with db() as session:
        before = report_stats.compute(session, PURGE_DAY)
    (quarter,) = before.quarters
    assert (quarter.received, quarter.in_handling, quarter.concluded) == (10, 5, 5)
    assert before.disposals.rows[0].cells[1] == 5  # preliminary verification
    assert quarter.answered.percent == 50
    outcome = run_purge(db, blobs)
    assert sorted(case.report_id for case in outcome.purged) == sorted(cases)
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Report)) == 5
        after = report_stats.compute(session, PURGE_DAY)
    assert after == before
    cache.clear()  # the pages, made again from the database: the same figures
    assert {path: public_app.test_client().get(path).get_data() for path in STATS_PAGES} == pages


def test_a_category_s_own_period_decides_and_the_next_year_is_counted(db, org, blobs):
    due, _ = concluded_case(db, org, blobs, category="work_style")
    with db() as session:
        assert retention.set_period(session, "work_style", 2)
        assert not retention.set_period(session, "work_style", 2)
    with db() as session:
        counts = retention.due_counts(session, date(2027, 9, 1), 5)
        assert counts["work_style"] == 1 and counts["procurement_bidding"] == 0
        assert retention.due_counts(session, date(2027, 8, 2), 5)["work_style"] == 0
    assert run_purge(db, blobs, date(2028, 8, 2)).purged == []
    assert [c.report_id for c in run_purge(db, blobs, date(2028, 8, 3)).purged] == [due]


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("0", "years_out_of_range"),
        ("1000", "years_out_of_range"),
        ("101", "years_out_of_range"),
        ("-1", "years_not_whole"),
        (str(2**64), "years_out_of_range"),
        ("9" * 5000, "years_out_of_range"),
        ("五年", "years_not_whole"),
        ("2.5", "years_not_whole"),
        ("", "years_missing"),
    ],
)
def test_a_period_outside_1_to_100_whole_years_is_refused(typed, reason):
    with pytest.raises(retention.RetentionError) as refused:
        retention.parse_years(typed)
    assert refused.value.message_key == reason


def test_a_period_in_range_is_read_with_full_width_digits():
    assert retention.parse_years(" 1 ") == 1
    assert retention.parse_years("１００") == 100
    assert retention.add_years(date(2028, 2, 29), 5) == date(2033, 3, 1)


def test_a_case_passed_up_is_purged_with_its_transfer_line(db, org, blobs):
    moved, _ = concluded_case(db, org, blobs, persons="运输队赵某")
    with db() as session:
        report = session.get(Report, moved)
        head = session.get(StaffUser, org.staff["mch.head"])
        access.transfer_up(session, report, [org.keys["mch.head"]], head, CONCLUDED)
    assert rows_of(db, moved)["case_transfers"] == 1
    assert [case.report_id for case in run_purge(db, blobs).purged] == [moved]
    assert set(rows_of(db, moved).values()) == {0}
    with db() as session:
        row = session.scalar(select(PurgedReportStat))
        assert row.office_id == org.offices["GRP"]  # the office that had it last
