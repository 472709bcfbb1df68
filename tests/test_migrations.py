"""The schema is built by Alembic from empty, the migrations match the models, and they keep
the data of every table on the way up and on the way down."""

import importlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from graphlib import TopologicalSorter
from types import ModuleType
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from app import migrate
from app.db import Base, make_engine
from app.models import Disclosure, DisclosureRevision, PublicState, StaffUser, WorkState
from tests.helpers.environment import engine_url


def _engine(instance):
    return make_engine(engine_url(instance.database_url))


def test_upgrade_from_empty_matches_the_models(empty_instance):
    engine = _engine(empty_instance)
    assert migrate.is_empty(engine)
    migrate.upgrade(engine)
    assert not migrate.is_empty(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": migrate.include_object}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"
    engine.dispose()


def test_downgrade_to_base_and_up_again_keeps_nothing_behind(empty_instance):
    engine = _engine(empty_instance)
    migrate.upgrade(engine)
    migrate.downgrade(engine, "base")
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set()
    migrate.upgrade(engine)
    assert "staff_users" in inspect(engine).get_table_names()
    engine.dispose()


def test_sqlite_uses_wal_and_enforces_foreign_keys(sqlite_instance):
    engine = make_engine(sqlite_instance.database_url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_foreign_keys_are_enforced(instance):
    from sqlalchemy.exc import IntegrityError

    engine = _engine(instance)
    with engine.connect() as conn:
        try:
            conn.execute(
                text(
                    "INSERT INTO units (code, name_zh, name_en, kind, parent_id, created_at) "
                    "VALUES ('X', 'x', 'x', 'workshop', 424242, CURRENT_TIMESTAMP)"
                )
            )
            conn.commit()
        except IntegrityError:
            pass
        else:
            raise AssertionError("a unit with a missing parent was accepted")
    engine.dispose()


def test_migration_script_lives_in_the_package():
    # Installed copies (not only a checkout) must carry the migrations for `portal db upgrade`.
    assert (migrate.MIGRATIONS / "env.py").exists()
    assert list((migrate.MIGRATIONS / "versions").glob("0001_*.py"))


# --- migrations keep data -------------------------------------------------------------------
#
# The records come from the real services at head (the demo organisation and its disclosures,
# attachments, questions, workflow steps, a signed log) and are then taken apart table by
# table. Walking the revision chain from the scripts, new revisions join in by themselves; a
# revision that adds a table fails the data test until the records give it rows.

Rows = dict[tuple, dict[str, Any]]  # key of a row -> its stored values, as the driver reads them


def _first_module(*names: str) -> ModuleType:
    """The first of ``names`` that imports: services move between modules over time."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise  # a module that exists but fails to import is a failure, not a move
    raise ModuleNotFoundError(f"none of {names}")


def _log_service() -> ModuleType:
    return _first_module("app.services.disclosures.log", "app.services.disclosure_log")


def _workflow(step: str) -> ModuleType:
    return _first_module(f"app.services.disclosures.{step}", "app.services.disclosures")


def _revision_chain(engine) -> list[str]:
    """Every revision from the first to head, in order."""
    scripts = ScriptDirectory.from_config(migrate.alembic_config(engine))
    heads = scripts.get_heads()
    assert len(heads) == 1, f"the migrations have {len(heads)} heads: {heads}"
    chain = [script.revision for script in scripts.walk_revisions("base", heads[0])][::-1]
    for earlier, later in itertools.pairwise(chain):
        assert scripts.get_revision(later).down_revision == earlier, f"{later} is a merge"
    return chain


def _tables(conn) -> list[str]:
    """Our tables; the shadow tables of SQLite's FTS5 index follow from the index itself."""
    names = set(inspect(conn).get_table_names()) - {"alembic_version"}
    if conn.dialect.name == "sqlite":
        names -= {
            row.name for row in conn.execute(text("PRAGMA table_list")) if row.type == "shadow"
        }
    return sorted(names)


def _columns(conn, table: str) -> list[str]:
    # Generated columns (the tsvector) follow from the others, and migrations redefine them.
    return [c["name"] for c in inspect(conn).get_columns(table) if not c.get("computed")]


def _key(conn, table: str) -> list[str]:
    key = inspect(conn).get_pk_constraint(table)["constrained_columns"]
    if key:
        return key
    return ["rowid"] if conn.dialect.name == "sqlite" else _columns(conn, table)


def _quoted(conn, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _rows(conn, table: str) -> Rows:
    columns = list(dict.fromkeys(_key(conn, table) + _columns(conn, table)))
    listed = ", ".join(_quoted(conn, c) for c in columns)
    result = conn.execute(text(f"SELECT {listed} FROM {_quoted(conn, table)}"))
    key = _key(conn, table)
    return {
        tuple(row[c] for c in key): row
        for row in (dict(zip(columns, r, strict=True)) for r in result)
    }


def _columns_of(rows: Rows) -> list[str]:
    return list(next(iter(rows.values()), {}))


def _dump(engine) -> dict[str, Rows]:
    with engine.connect() as conn:
        return {table: _rows(conn, table) for table in _tables(conn)}


def _insert(conn, table: str, rows: Rows, columns: list[str]) -> None:
    """Write ``rows`` with plain SQL as ``table`` stands now, parents before children."""
    names = list(dict.fromkeys(_key(conn, table) + columns))
    listed = ", ".join(_quoted(conn, c) for c in names)
    values = ", ".join(f":c{i}" for i in range(len(names)))
    statement = text(f"INSERT INTO {_quoted(conn, table)} ({listed}) VALUES ({values})")
    for key in sorted(rows):  # ids in creation order: a unit's parent comes first
        row = rows[key]
        missing = [c for c in names if c not in row]
        assert not missing, f"{table} had {missing} then; the records at head lack them"
        conn.execute(statement, {f"c{i}": row[c] for i, c in enumerate(names)})


def _parents_first(conn, tables: set[str]) -> list[str]:
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


def _as_written(table: str, rows: Rows) -> Rows:
    """``rows`` of ``table`` at head with the values of its replaced columns added."""
    replaced = REPLACED.get(table, {})
    return {
        key: row | {name: column.value(row) for name, column in replaced.items()}
        for key, row in rows.items()
    }


def _with_replacements(table: str, columns: list[str]) -> list[str]:
    """``columns`` and the columns at head that replace any of them."""
    replaced = REPLACED.get(table, {})
    by = [c for name in columns if name in replaced for c in replaced[name].by]
    return list(dict.fromkeys(columns + by))


def _differences(table: str, expected: Rows, actual: Rows, columns: list[str]) -> list[str]:
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


def _make_records(app) -> dict[str, Rows]:
    """Fill every table through the services at head and sign the log twice; returns the rows.

    The demo organisation and its disclosures (published, amended, retracted; attachments with
    Chinese names; questions; the catalogue), then an amendment approved, another left under
    review with a new title, a draft returned with a comment and a question rejected.
    """
    from app.services.demo import load_demo
    from tests.helpers.weak_kdf import TEST_PASSWORD_METHOD

    drafting, reviewing, questions = (_workflow(m) for m in ("drafting", "reviewing", "questions"))
    log = _log_service()
    keys = app.extensions["portal.disclosure_log"]
    signer, origin = keys.signer, keys.origin
    database = app.extensions["portal.db"]
    blobs = app.extensions["portal.blobs"]  # where the demo keeps its attachments
    with app.app_context():
        with database.session() as session:
            load_demo(session, password_method=TEST_PASSWORD_METHOD, blobs=blobs)
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
        _add_a_report(database, blobs)
    records = _dump(database.engine)
    database.engine.dispose()
    empty = [table for table, rows in records.items() if not rows]
    assert not empty, f"the records leave {empty} empty: give them rows in _make_records"
    assert len(records["disclosure_log_checkpoints"]) == 2
    return records


def _add_a_report(database, blobs) -> None:
    """A report through the intake service (a photo, a real name, an exclusion, readers) and a
    message from the office on it."""
    from app.models import DisciplineOffice, Report, Role
    from app.services.reports.messages import post_office_message
    from app.services.reports.submission import ReportFields, submit
    from app.services.reports.uploads import UploadBatch
    from crypto.keys import X25519Identity
    from crypto.receipts import ReceiptParams

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
        weak = ReceiptParams(memory_cost_kib=64, iterations=1, lanes=1)
        pepper = b"migration-test-pepper-0123456789"
        done = submit(session, blobs, pepper, form, batch.finish(), date(2026, 4, 6), weak)
    with database.session() as session:
        head = session.scalar(select(StaffUser).where(StaffUser.username == "head"))
        report = session.get(Report, done.report_id)
        post_office_message(session, blobs, report, head, "已受理，将核实。", [], date(2026, 4, 7))


def _assert_log_verifies(app, engine) -> None:
    log = _log_service()
    keys = app.extensions["portal.disclosure_log"]
    with Session(engine) as session:
        result = log.verify(session, keys.verifier(), keys.origin)
        entries = session.scalar(select(func.count()).select_from(DisclosureRevision))
    assert result.ok, result.problems
    assert result.size == entries


def test_upgrade_from_the_first_revision_keeps_the_rows_of_every_table(empty_instance):
    """Rows written as each table appears come through every later migration unchanged."""
    engine = _engine(empty_instance)
    chain = _revision_chain(engine)
    app = empty_instance.app("console")
    migrate.upgrade(engine)
    records = _make_records(app)
    migrate.downgrade(engine, "base")

    # table -> the columns its rows were written with; the search index, which migrations
    # fill from the disclosures, must come out as the services write it, in every column.
    written: dict[str, list[str]] = {}
    for revision in chain:
        migrate.upgrade(engine, revision)
        with engine.begin() as conn:
            for table in _parents_first(conn, set(_tables(conn)) - written.keys()):
                if table not in records:
                    continue  # dropped again before head: no rows of it at head to write
                columns = _columns(conn, table)
                if table in migrate.UNMODELLED_TABLES:
                    written[table] = _columns_of(records[table])
                    continue
                # A row a migration seeds (the public version counter) gives way to the
                # services' row, as it would have on a live site.
                conn.execute(text(f"DELETE FROM {_quoted(conn, table)}"))
                _insert(conn, table, _as_written(table, records[table]), columns)
                written[table] = columns
        now = _dump(engine)
        problems = [f"{table} is gone" for table in written if table not in now]
        for table, columns in written.items():
            if table in now:
                expected = _as_written(table, records[table])
                compared = _with_replacements(table, columns)
                problems += _differences(table, expected, now[table], compared)
        assert not problems, f"after upgrading to {revision}:\n" + "\n".join(problems)

    assert written.keys() == records.keys()
    _assert_log_verifies(app, engine)
    engine.dispose()


def test_downgrade_to_each_revision_and_up_again_keeps_the_rows_that_survive(empty_instance):
    """Down to every earlier revision and back: surviving tables are unchanged, the log holds."""
    engine = _engine(empty_instance)
    chain = _revision_chain(engine)
    app = empty_instance.app("console")
    migrate.upgrade(engine)
    records = _make_records(app)
    _assert_log_verifies(app, engine)

    for target in reversed(chain[:-1]):  # newest first: each step down loses no more than it must
        migrate.downgrade(engine, target)
        with engine.connect() as conn:
            kept = {table: _columns(conn, table) for table in _tables(conn) if table in records}
        now = _dump(engine)
        problems = []
        for table, columns in kept.items():
            problems += _differences(table, _as_written(table, records[table]), now[table], columns)
        assert not problems, f"after downgrading to {target}:\n" + "\n".join(problems)

        migrate.upgrade(engine)
        now = _dump(engine)
        problems = []
        for table, rows in records.items():
            if table in migrate.UNMODELLED_TABLES and "disclosures" in kept:
                # The search index, dropped or not, is rebuilt from the disclosures in full.
                problems += _differences(table, rows, now[table], _columns_of(rows))
            elif table in kept:
                compared = _with_replacements(table, kept[table])
                problems += _differences(table, rows, now[table], compared)
        assert not problems, f"after {target} and up again:\n" + "\n".join(problems)
        _assert_log_verifies(app, engine)
    engine.dispose()


# --- 0007: the searched text in two columns ---------------------------------------------------


def test_search_text_is_split_after_its_title_and_joined_again(empty_instance):
    """Rows as earlier code wrote them: Chinese text, titles with a line break, empty bodies."""
    from app.services.demo import load_demo
    from tests.helpers.weak_kdf import TEST_PASSWORD_METHOD

    engine = _engine(empty_instance)
    migrate.upgrade(engine)
    app = empty_instance.app("console")
    database = app.extensions["portal.db"]
    with app.app_context(), database.session() as session:
        load_demo(session, password_method=TEST_PASSWORD_METHOD)
    database.engine.dispose()
    migrate.downgrade(engine, "0006")

    by_state = text("SELECT id FROM disclosures WHERE public_state = :state ORDER BY id")
    with engine.connect() as conn:
        published = list(conn.scalars(by_state, {"state": "published"}))
        others = list(conn.scalars(by_state, {"state": "retracted"}))
        others += list(conn.scalars(by_state, {"state": "unpublished"}))
    assert len(published) >= 6 and len(others) >= 2
    # id -> (public title, search text as written before 0007, the body split from it)
    cases = {
        published[0]: (
            "食堂承包招标结果公示",
            "食堂承包招标结果公示\n中标单位：华北餐饮有限公司。\n\n公示期五个工作日。",
            "中标单位：华北餐饮有限公司。\n\n公示期五个工作日。",
        ),
        # Titles from before titles were one line: their later lines are not body.
        published[1]: (
            "党费收缴情况\n（2025年下半年）",
            "党费收缴情况\n（2025年下半年）\n应缴 100%，实缴 100%。",
            "应缴 100%，实缴 100%。",
        ),
        published[2]: ("标题\r\n第二行 second", "标题\r\n第二行 second\n正文 body", "正文 body"),
        published[3]: ("只有标题 title only", "只有标题 title only\n", ""),
        published[4]: (
            "Budget 2026 预算",
            "Budget 2026 预算\nBudget 2026 预算\n正文第一行重复了标题。",
            "Budget 2026 预算\n正文第一行重复了标题。",
        ),
    }
    with engine.begin() as conn:
        for id_, (title, search_text, _body) in cases.items():
            conn.execute(
                text("UPDATE disclosures SET public_title = :t, search_text = :s WHERE id = :id"),
                {"t": title, "s": search_text, "id": id_},
            )
        before = dict(conn.execute(text("SELECT id, search_text FROM disclosures")).all())
    assert all(before[id_] == "" for id_ in others)

    migrate.upgrade(engine, "0007")
    with engine.connect() as conn:
        after = dict(conn.execute(text("SELECT id, search_body FROM disclosures")).all())
    for id_, (_title, _search_text, body) in cases.items():
        assert after[id_] == body
    for id_ in published[5:]:  # as the services wrote them: the title, a line break, the body
        title, _sep, body = before[id_].partition("\n")
        assert after[id_] == body and title and body
    assert all(after[id_] == "" for id_ in others)

    migrate.downgrade(engine, "0006")
    with engine.connect() as conn:
        joined = dict(conn.execute(text("SELECT id, search_text FROM disclosures")).all())
    assert joined == before
    engine.dispose()
