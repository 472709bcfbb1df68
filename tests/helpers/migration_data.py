"""What the migration tests put in every table and read back: rows dumped and compared, with
the columns a revision rewrites on the way."""

import importlib
import io
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from graphlib import TopologicalSorter
from types import ModuleType
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from app import migrate
from app.models import Disclosure, DisclosureRevision, PublicState, StaffUser, WorkState

Rows = dict[tuple, dict[str, Any]]  # key of a row -> its stored values, as the driver reads them


def first_module(*names: str) -> ModuleType:
    """The first of ``names`` that imports: services move between modules over time."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise  # a module that exists but fails to import is a failure, not a move
    raise ModuleNotFoundError(f"none of {names}")


def log_service() -> ModuleType:
    return first_module("app.services.disclosures.log", "app.services.disclosure_log")


def workflow(step: str) -> ModuleType:
    return first_module(f"app.services.disclosures.{step}", "app.services.disclosures")


def revision_chain(engine) -> list[str]:
    """Every revision from the first to head, in order."""
    scripts = ScriptDirectory.from_config(migrate.alembic_config(engine))
    heads = scripts.get_heads()
    assert len(heads) == 1, f"the migrations have {len(heads)} heads: {heads}"
    chain = [script.revision for script in scripts.walk_revisions("base", heads[0])][::-1]
    for earlier, later in itertools.pairwise(chain):
        assert scripts.get_revision(later).down_revision == earlier, f"{later} is a merge"
    return chain


def table_names(conn) -> list[str]:
    """Our tables; the shadow tables of SQLite's FTS5 index follow from the index itself."""
    names = set(inspect(conn).get_table_names()) - {"alembic_version"}
    if conn.dialect.name == "sqlite":
        names -= {
            row.name for row in conn.execute(text("PRAGMA table_list")) if row.type == "shadow"
        }
    return sorted(names)


def table_columns(conn, table: str) -> list[str]:
    # Generated columns (the tsvector) follow from the others, and migrations redefine them.
    return [c["name"] for c in inspect(conn).get_columns(table) if not c.get("computed")]


def primary_key(conn, table: str) -> list[str]:
    key = inspect(conn).get_pk_constraint(table)["constrained_columns"]
    if key:
        return key
    return ["rowid"] if conn.dialect.name == "sqlite" else table_columns(conn, table)


def quoted_name(conn, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def table_rows(conn, table: str) -> Rows:
    columns = list(dict.fromkeys(primary_key(conn, table) + table_columns(conn, table)))
    listed = ", ".join(quoted_name(conn, c) for c in columns)
    result = conn.execute(text(f"SELECT {listed} FROM {quoted_name(conn, table)}"))
    key = primary_key(conn, table)
    return {
        tuple(row[c] for c in key): row
        for row in (dict(zip(columns, r, strict=True)) for r in result)
    }


def columns_of(rows: Rows) -> list[str]:
    return list(next(iter(rows.values()), {}))


def dump_tables(engine) -> dict[str, Rows]:
    with engine.connect() as conn:
        return {table: table_rows(conn, table) for table in table_names(conn)}


def insert_rows(conn, table: str, rows: Rows, columns: list[str]) -> None:
    """Write ``rows`` with plain SQL as ``table`` stands now, parents before children."""
    names = list(dict.fromkeys(primary_key(conn, table) + columns))
    listed = ", ".join(quoted_name(conn, c) for c in names)
    values = ", ".join(f":c{i}" for i in range(len(names)))
    statement = text(f"INSERT INTO {quoted_name(conn, table)} ({listed}) VALUES ({values})")
    for key in sorted(rows):  # ids in creation order: a unit's parent comes first
        row = rows[key]
        missing = [c for c in names if c not in row]
        assert not missing, f"{table} had {missing} then; the records at head lack them"
        conn.execute(statement, {f"c{i}": row[c] for i, c in enumerate(names)})


# Columns added to a table after it was made whose values the disclosure log's leaves commit to
# (0018: a revision's decision record and the workers' congress's review). A row written
# before they existed could not hold such values; the records' values are written into them
# once they exist, so that the log verifies as it does at head.
LOGGED_LATER: dict[str, tuple[str, ...]] = {
    "disclosure_revisions": ("decision_record", "congress_status", "congress_opinion"),
}


def fill_logged_later(conn, table: str, rows: Rows, written: list[str]) -> list[str]:
    """Write the LOGGED_LATER columns of ``table`` that exist now and were not written yet;
    returns the columns written so far."""
    now = table_columns(conn, table)
    added = [c for c in LOGGED_LATER.get(table, ()) if c in now and c not in written]
    if not added:
        return written
    keys = primary_key(conn, table)
    statement = text(
        f"UPDATE {quoted_name(conn, table)} SET "
        + ", ".join(f"{quoted_name(conn, c)} = :s{i}" for i, c in enumerate(added))
        + " WHERE "
        + " AND ".join(f"{quoted_name(conn, k)} = :k{i}" for i, k in enumerate(keys))
    )
    for row in rows.values():
        values = {f"s{i}": row[c] for i, c in enumerate(added)}
        values |= {f"k{i}": row[k] for i, k in enumerate(keys)}
        conn.execute(statement, values)
    return written + added


def parents_first(conn, tables: set[str]) -> list[str]:
    order = TopologicalSorter(
        {
            table: {fk["referred_table"] for fk in inspect(conn).get_foreign_keys(table)}
            & (tables - {table})
            for table in tables
        }
    )
    return list(order.static_order())


@dataclass(frozen=True)
class Replaced:
    """A column that a later migration replaced by others.

    ``value`` gives what the code of its time wrote into it, from the row at head: rows
    written before that migration carry it, and a downgrade past it must give it back.
    ``by`` are the columns at head that hold what it held: after that migration, rows written
    with it must have them as the services write them.
    """

    value: Callable[[dict[str, Any]], Any]
    by: tuple[str, ...]


REPLACED: dict[str, dict[str, Replaced]] = {
    "disclosures": {
        # 0007: a published item's title and the plain text of its body, as one string.
        "search_text": Replaced(
            lambda row: (
                f"{row['public_title']}\n{row['search_body']}"
                if row["public_state"] == "published"
                else ""
            ),
            by=("public_title", "search_body"),
        ),
    },
}


# Values a downgrade below a revision maps back to those of its time: (table, column) ->
# (the first revision with the new values, {value at head: value before}).
RENAMED_VALUES: dict[tuple[str, str], tuple[str, dict[Any, Any]]] = {
    # 0013: the statuses of the handling rules.
    ("reports", "status"): (
        "0013",
        {
            "under_assessment": "in_progress",
            "disposal_decided": "in_progress",
            "answered": "concluded",
        },
    ),
}


def as_at(table: str, rows: Rows, chain: list[str], revision: str) -> Rows:
    """``rows`` as they read at ``revision`` of ``chain`` after a downgrade to it."""
    renamed = {
        column: values
        for (name, column), (since, values) in RENAMED_VALUES.items()
        if name == table and chain.index(revision) < chain.index(since)
    }
    if not renamed:
        return rows
    return {
        key: row | {c: values.get(row[c], row[c]) for c, values in renamed.items() if c in row}
        for key, row in rows.items()
    }


def as_written(table: str, rows: Rows) -> Rows:
    """``rows`` of ``table`` at head with the values of its replaced columns added."""
    replaced = REPLACED.get(table, {})
    return {
        key: row | {name: column.value(row) for name, column in replaced.items()}
        for key, row in rows.items()
    }


def with_replacements(table: str, columns: list[str]) -> list[str]:
    """``columns`` and the columns at head that replace any of them."""
    replaced = REPLACED.get(table, {})
    by = [c for name in columns if name in replaced for c in replaced[name].by]
    return list(dict.fromkeys(columns + by))


def differences(table: str, expected: Rows, actual: Rows, columns: list[str]) -> list[str]:
    """What changed in ``columns`` (those a migration dropped on purpose are not compared)."""
    problems = [f"{table} {key}: row lost" for key in sorted(expected.keys() - actual.keys())]
    problems += [f"{table} {key}: row added" for key in sorted(actual.keys() - expected.keys())]
    for key in sorted(expected.keys() & actual.keys()):
        before, after = expected[key], actual[key]
        for column in columns:
            if column in before and column in after and before[column] != after[column]:
                problems.append(
                    f"{table} {key}: {column} was {before[column]!r}, is {after[column]!r}"
                )
    return problems


def make_records(app) -> dict[str, Rows]:
    """Fill every table through the services at head and sign the log twice; returns the rows.

    The demo organisation and its disclosures (published, amended, retracted; attachments with
    Chinese names; questions; the catalogue), then an amendment approved, another left under
    review with a new title, a draft returned with a comment and a question rejected.
    """
    from app.services.demo import load_demo
    from tests.helpers.weak_kdf import TEST_SEAL_PARAMS

    drafting, reviewing, questions = (workflow(m) for m in ("drafting", "reviewing", "questions"))
    log = log_service()
    keys = app.extensions["portal.disclosure_log"]
    signer, origin = keys.signer, keys.origin
    database = app.extensions["portal.db"]
    blobs = app.extensions["portal.blobs"]  # where the demo keeps its attachments
    with app.app_context():
        with database.session() as session:
            load_demo(session, blobs=blobs, seal_params=TEST_SEAL_PARAMS)
            log.sign_checkpoint(session, signer, origin)
        with database.session() as session:
            publisher = session.scalar(select(StaffUser).where(StaffUser.username == "publisher"))
            approver = session.scalar(select(StaffUser).where(StaffUser.username == "approver"))
            published = list(
                session.scalars(
                    select(Disclosure)
                    .where(Disclosure.public_state == PublicState.published)
                    .where(Disclosure.work_state == WorkState.none)
                    .order_by(Disclosure.id)
                )
            )
            amended, under_review, asked_about = published[:3]
            drafting.start_amendment(session, amended, publisher, "补充口径说明。")
            amended.body += "\n\n补充：金额按合并报表口径计算。"
            drafting.submit_for_review(session, amended, publisher)
            reviewing.approve(session, amended, approver)

            # The working title differs from the public one until the approval.
            drafting.start_amendment(session, under_review, publisher, "更正标题中的届次。")
            under_review.title = f"（更正）{under_review.title}"
            drafting.submit_for_review(session, under_review, publisher)

            draft = session.scalar(
                select(Disclosure)
                .where(Disclosure.public_state == PublicState.unpublished)
                .where(Disclosure.work_state == WorkState.in_review)
            )
            reviewing.return_for_changes(session, draft, approver, "请写明每批的出发日期。")

            question = questions.ask_question(
                session, asked_about, "夜班职工也适用吗？", date(2026, 4, 2)
            )
            questions.reject_question(session, question, approver)
            questions.ask_question(
                session, asked_about, "Does it cover contractors? 外包人员呢？", date(2026, 4, 3)
            )
            log.sign_checkpoint(session, signer, origin)
        add_a_report(database, blobs)
        add_staff_sessions_and_codes(database)
        add_case_access(database, blobs)
        add_audit_entries(database, app.extensions["portal.audit_log"])
        add_digest(database)
        add_retention(database)
        add_categories_and_calendar(database)
        add_database_blob(database)
        add_days_reset_marker(database)
    records = dump_tables(database.engine)
    database.engine.dispose()
    empty = [table for table, rows in records.items() if not rows]
    assert not empty, f"the records leave {empty} empty: give them rows in make_records"
    assert len(records["disclosure_log_checkpoints"]) == 2
    return records


def add_database_blob(database) -> None:
    """A blob in the database's own tables (``blobs``, ``blob_chunks``), with a Chinese text
    over two chunks: on PostgreSQL the demo's files are there already, on SQLite none are."""
    from app.services.pg_blobs import CHUNK_BYTES, PostgresBlobStore

    text_bytes = "职代会决议附件：食堂承包合同全文。".encode() * (CHUNK_BYTES // 40)
    PostgresBlobStore(database.engine).put(io.BytesIO(text_bytes), len(text_bytes))


def add_a_report(database, blobs) -> None:
    """A report through the intake service (a photo, a real name, an exclusion, readers) and a
    message from the office on it."""
    from app.models import DisciplineOffice, Report, Role
    from app.services.reports.messages import post_office_message
    from app.services.reports.submission import ReportFields, submit
    from app.services.reports.uploads import UploadBatch
    from crypto.keys import X25519Identity
    from tests.helpers.weak_kdf import TEST_RECEIPT_VERSIONS

    with database.session() as session:  # keys for whoever lacks one (the demo may give them)
        for user in session.scalars(select(StaffUser)):
            if user.age_recipient is None and user.has_role(Role.inspector, Role.office_head):
                user.age_recipient = str(X25519Identity.generate().recipient)
        for office in session.scalars(select(DisciplineOffice)):
            if office.recovery_recipient is None:
                office.recovery_recipient = str(X25519Identity.generate().recipient)
    batch = UploadBatch(blobs)
    batch.new_file("食堂后厨照片.jpg", "image/jpeg").write(b"\xff\xd8\xff\xe0 not quite a JPEG")
    with database.session() as session:
        excluded = session.scalar(select(StaffUser.id).where(StaffUser.username == "inspector"))
        form = ReportFields(
            kind="misconduct",
            category="eight_point_rules",
            unit_code="GRP-HR",
            level="middle_manager",
            persons="人力资源部 某科长",
            what="用公款在外宴请，每月多次。",
            real_name="李四",
            contact="分机 6021",
            excluded=[excluded],
        )
        pepper = b"migration-test-pepper-0123456789"
        done = submit(
            session, blobs, pepper, form, batch.finish(), date(2026, 4, 6), TEST_RECEIPT_VERSIONS
        )
    with database.session() as session:
        head = session.scalar(select(StaffUser).where(StaffUser.username == "head"))
        report = session.get(Report, done.report_id)
        post_office_message(session, blobs, report, head, "已受理，将核实。", [], date(2026, 4, 7))
    add_case_work(database, blobs, done.report_id)


def add_case_work(database, blobs, report_id: str) -> None:
    """The office's work on the case: a label, a note, a look, a disposal proposed."""
    from app.models import Disposal, Report, ReportStatus
    from app.services.cases import decisions, notes, workflow
    from app.services.cases.deadlines import DeadlineRules

    on = date(2026, 4, 8)
    with database.session() as session:
        head = session.scalar(select(StaffUser).where(StaffUser.username == "head"))
        report = session.get(Report, report_id)
        workflow.add_label(session, head, report, "食堂采购")
        notes.add_note(session, blobs, head, report, "先调取食堂报销凭证。", on)
        workflow.mark_seen(session, head, report, on)
        workflow.change_status(
            session, head, report, ReportStatus.under_assessment, on, DeadlineRules()
        )
        decisions.propose(session, head, report, Disposal.preliminary_verification, on)


def add_staff_sessions_and_codes(database) -> None:
    """A console session holding a key, recovery codes, and an enrolment code (0012)."""
    from app.db import utcnow
    from app.services import enrolment, recovery_codes, sessions
    from crypto.keys import X25519Identity

    with database.session() as session:
        inspector = session.scalar(select(StaffUser).where(StaffUser.username == "inspector"))
        sessions.open_session(
            session, inspector, [X25519Identity.generate()], sessions.SessionPolicy(), utcnow()
        )
        recovery_codes.new_recovery_codes(session, inspector)
        auditor = session.scalar(select(StaffUser).where(StaffUser.username == "auditor"))
        enrolment.issue_code(session, auditor, utcnow())


def add_digest(database) -> None:
    """An inspector's e-mail address and a day's digest, sent by mail for one and kept in the
    outbox for another (0016)."""
    from app.models import DigestMessage, DigestState
    from app.services.staff import set_email

    with database.session() as session:
        inspector = session.scalar(select(StaffUser).where(StaffUser.username == "inspector"))
        head = session.scalar(select(StaffUser).where(StaffUser.username == "head"))
        set_email(session, inspector, "chen.jing@jiwei.example.cn")
        for user, state, reason in (
            (inspector, DigestState.sent, None),
            (head, DigestState.held, "no_address"),
        ):
            session.add(
                DigestMessage(
                    staff_id=user.id,
                    day=date(2026, 12, 7),
                    language="zh",
                    subject="每日摘要 2026-12-07",
                    body="待处理的新举报：1 件\n  3f9a2c1b\n",
                    state=state,
                    reason=reason,
                    attempts=1,
                )
            )


def add_retention(database) -> None:
    """A category's own retention period and the statistics row of a purged report (0017)."""
    from app.models import DisciplineOffice, PurgedReportStat, RetentionPeriod

    with database.session() as session:
        office = session.scalars(select(DisciplineOffice)).first()
        session.add(RetentionPeriod(category="bribery_embezzlement", years=10))
        session.add(
            PurgedReportStat(
                year=2021,
                quarter=3,
                kind="misconduct",
                category="procurement_bidding",
                subsidiary_id=office.unit_id,
                office_id=office.id,
                concluded=True,
                acknowledged_in_time=True,
                answered_in_time=False,
                disposal="preliminary_verification",
            )
        )


def add_days_reset_marker(database) -> None:
    """The daily pass's last day done, as PostgreSQL's servers share it (0023)."""
    from app.models import DaysResetMarker

    with database.session() as session:
        session.add(DaysResetMarker(last_day=date(2026, 12, 7)))


def add_categories_and_calendar(database) -> None:
    """A report category added, one retired, and a year of the working-day calendar (0020)."""
    from app.services.cases import work_days
    from app.services.reports import categories

    with database.session() as session:
        categories.add_category(session, "work_safety", "安全生产", "Work safety")
        categories.set_active(session, "work_style", False)
        work_days.save_year(
            session,
            2027,
            frozenset({date(2027, 10, 1), date(2027, 10, 4)}),
            frozenset({date(2027, 10, 9)}),
        )


def add_case_access(database, blobs) -> None:
    """A report to MCH whose inspector declares a conflict and which its head then passes up to
    the group's office (the case access services)."""
    from app.models import Report
    from app.services.cases.access import recuse, transfer_up
    from app.services.reports.submission import ReportFields, submit
    from crypto.keys import X25519Identity
    from tests.helpers.weak_kdf import TEST_RECEIPT_VERSIONS

    keys = {name: X25519Identity.generate() for name in ("mch.inspector", "mch.head")}
    with database.session() as session:
        staff = {
            name: session.scalar(select(StaffUser).where(StaffUser.username == name))
            for name in keys
        }
        for name, user in staff.items():
            user.age_recipient = str(keys[name].recipient)
    with database.session() as session:
        form = ReportFields(
            kind="misconduct",
            category="procurement_bidding",
            unit_code="MCH-PUR",
            level="staff",
            what="采购员私下收取供应商礼品卡。",
        )
        pepper = b"migration-test-pepper-0123456789"
        done = submit(session, blobs, pepper, form, [], date(2026, 4, 8), TEST_RECEIPT_VERSIONS)
    with database.session() as session:
        report = session.get(Report, done.report_id)
        staff = {
            name: session.scalar(select(StaffUser).where(StaffUser.username == name))
            for name in keys
        }
        recuse(session, report, [keys["mch.inspector"]], staff["mch.inspector"], date(2026, 4, 9))
        transfer_up(session, report, [keys["mch.head"]], staff["mch.head"], date(2026, 4, 10))


def add_audit_entries(database, keys) -> None:
    """Audit entries (an unknown account's failed sign-in, a case opened, an assignment with
    Chinese words) and a signed checkpoint of the audit log."""
    from app.models import Report
    from app.services import audit

    with database.session() as session:
        head = session.scalar(select(StaffUser).where(StaffUser.username == "head"))
        inspector = session.scalar(select(StaffUser).where(StaffUser.username == "inspector"))
        case_id = session.scalar(select(Report.id))
        day = date(2026, 4, 7)
        audit.record(session, audit.AuditAction.sign_in_failed, actor=None, on=day)
        audit.record(session, audit.AuditAction.sign_in, actor=head, on=day)
        audit.record(session, audit.AuditAction.case_open, actor=head, case_id=case_id, on=day)
        audit.record(
            session,
            audit.AuditAction.assignment,
            actor=head,
            case_id=case_id,
            subject=inspector,
            detail="交办：请核实",
            on=day,
        )
        audit.sign_checkpoint(session, keys.signer, keys.origin, day)


def assert_log_verifies(app, engine) -> None:
    log = log_service()
    keys = app.extensions["portal.disclosure_log"]
    with Session(engine) as session:
        result = log.verify(session, keys.verifier(), keys.origin)
        entries = session.scalar(select(func.count()).select_from(DisclosureRevision))
    assert result.ok, result.problems
    assert result.size == entries
    from app.models import AuditEntry
    from app.services import audit

    audit_keys = app.extensions["portal.audit_log"]
    with Session(engine) as session:
        result = audit.verify(session, audit_keys.verifier(), audit_keys.origin)
        entries = session.scalar(select(func.count()).select_from(AuditEntry))
    assert result.ok, result.problems
    assert result.size == entries
