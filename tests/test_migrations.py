"""The schema is built by Alembic from empty, the migrations match the models, and they keep
the data of every table on the way up and on the way down."""

from datetime import date

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from app import migrate
from app.db import Base, make_engine
from app.models import StaffUser
from tests.helpers.environment import engine_url
from tests.helpers.migration_data import (
    LOGGED_LATER,
    as_at,
    as_written,
    assert_log_verifies,
    columns_of,
    differences,
    dump_tables,
    fill_logged_later,
    insert_rows,
    make_records,
    parents_first,
    quoted_name,
    revision_chain,
    table_columns,
    table_names,
    with_replacements,
)


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


def test_upgrade_from_the_first_revision_keeps_the_rows_of_every_table(empty_instance):
    """Rows written as each table appears come through every later migration unchanged."""
    engine = _engine(empty_instance)
    chain = revision_chain(engine)
    app = empty_instance.app("console")
    migrate.upgrade(engine)
    records = make_records(app)
    migrate.downgrade(engine, "base")

    # table -> the columns its rows were written with; the search index, which migrations
    # fill from the disclosures, must come out as the services write it, in every column.
    written: dict[str, list[str]] = {}
    for revision in chain:
        migrate.upgrade(engine, revision)
        with engine.begin() as conn:
            for table in parents_first(conn, set(table_names(conn)) - written.keys()):
                if table not in records:
                    continue  # dropped again before head: no rows of it at head to write
                columns = table_columns(conn, table)
                if table in migrate.UNMODELLED_TABLES:
                    written[table] = columns_of(records[table])
                    continue
                # A row a migration seeds (the public version counter) gives way to the
                # services' row, as it would have on a live site.
                conn.execute(text(f"DELETE FROM {quoted_name(conn, table)}"))
                insert_rows(conn, table, as_written(table, records[table]), columns)
                written[table] = columns
            for table in LOGGED_LATER.keys() & written.keys():
                written[table] = fill_logged_later(
                    conn, table, as_written(table, records[table]), written[table]
                )
        now = dump_tables(engine)
        problems = [f"{table} is gone" for table in written if table not in now]
        for table, columns in written.items():
            if table in now:
                expected = as_written(table, records[table])
                compared = with_replacements(table, columns)
                problems += differences(table, expected, now[table], compared)
        assert not problems, f"after upgrading to {revision}:\n" + "\n".join(problems)

    assert written.keys() == records.keys()
    assert_log_verifies(app, engine)
    engine.dispose()


def test_downgrade_to_each_revision_and_up_again_keeps_the_rows_that_survive(empty_instance):
    """Down to every earlier revision and back: surviving tables are unchanged, the log holds."""
    engine = _engine(empty_instance)
    chain = revision_chain(engine)
    app = empty_instance.app("console")
    migrate.upgrade(engine)
    records = make_records(app)
    assert_log_verifies(app, engine)

    for target in reversed(chain[:-1]):  # newest first: each step down loses no more than it must
        migrate.downgrade(engine, target)
        with engine.connect() as conn:
            kept = {
                table: table_columns(conn, table) for table in table_names(conn) if table in records
            }
        now = dump_tables(engine)
        problems = []
        for table, columns in kept.items():
            expected = as_at(table, as_written(table, records[table]), chain, target)
            problems += differences(table, expected, now[table], columns)
        assert not problems, f"after downgrading to {target}:\n" + "\n".join(problems)

        migrate.upgrade(engine)
        now = dump_tables(engine)
        problems = []
        for table, rows in records.items():
            if table in migrate.UNMODELLED_TABLES and "disclosures" in kept:
                # The search index, dropped or not, is rebuilt from the disclosures in full.
                problems += differences(table, rows, now[table], columns_of(rows))
            elif table in kept:
                compared = with_replacements(table, kept[table])
                problems += differences(table, rows, now[table], compared)
        assert not problems, f"after {target} and up again:\n" + "\n".join(problems)
        assert_log_verifies(app, engine)
    engine.dispose()


# --- 0007: the searched text in two columns ---------------------------------------------------


def test_search_text_is_split_after_its_title_and_joined_again(empty_instance):
    """Rows as earlier code wrote them: Chinese text, titles with a line break, empty bodies."""
    from app.services.demo import load_demo
    from tests.helpers.weak_kdf import TEST_SEAL_PARAMS

    engine = _engine(empty_instance)
    migrate.upgrade(engine)
    app = empty_instance.app("console")
    database = app.extensions["portal.db"]
    with app.app_context(), database.session() as session:
        load_demo(session, seal_params=TEST_SEAL_PARAMS)
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


# --- 0009: the receipt version of each report --------------------------------------------------


def test_reports_from_before_0009_keep_opening_by_their_code_under_either_version(empty_instance):
    """A database at 0008 may hold reports made with 4 lanes (version 1) and with 1 (version 2):
    after the upgrade both are "1 or 2" (0) and open; new reports get the current version."""
    from app.models import DisciplineOffice, Report, Role
    from app.services.demo import load_demo
    from app.services.reports.followup import open_by_code
    from app.services.reports.receipt_versions import versions_in_use
    from app.services.reports.submission import ReportFields, submit
    from crypto.keys import X25519Identity
    from crypto.receipts import ReceiptVersions
    from tests.helpers.weak_kdf import TEST_RECEIPT_VERSIONS, TEST_SEAL_PARAMS

    versions = TEST_RECEIPT_VERSIONS
    before_lane_change = ReceiptVersions({1: versions[1]}, current=1)
    pepper = b"migration-test-pepper-0123456789"
    engine = _engine(empty_instance)
    migrate.upgrade(engine)
    app = empty_instance.app("console")
    database, blobs = app.extensions["portal.db"], app.extensions["portal.blobs"]
    with app.app_context(), database.session() as session:
        load_demo(session, seal_params=TEST_SEAL_PARAMS)
        for user in session.scalars(select(StaffUser)):
            if user.has_role(Role.inspector, Role.office_head):
                user.age_recipient = str(X25519Identity.generate().recipient)
        for office in session.scalars(select(DisciplineOffice)):
            office.recovery_recipient = str(X25519Identity.generate().recipient)

    def send(what: str, made_with: ReceiptVersions) -> tuple[str, str]:
        fields = ReportFields("misconduct", "other", "GRP-HR", "staff", what=what)
        with database.session() as session:
            done = submit(session, blobs, pepper, fields, [], date(2026, 12, 4), made_with)
        return done.code, done.report_id

    sent = [send("四条车道时的举报", before_lane_change), send("一条车道时的举报", versions)]
    migrate.downgrade(engine, "0008")
    migrate.upgrade(engine)  # through 0009, to the head the models are written for
    with database.session() as session:
        assert {session.get(Report, id_).receipt_version for _code, id_ in sent} == {0}
        assert versions_in_use(session, versions) == (1, 2)
        for code, report_id in sent:
            assert open_by_code(session, pepper, code, versions).report.id == report_id
    _code, new_id = send("升级之后的举报", versions)
    with database.session() as session:
        assert session.get(Report, new_id).receipt_version == versions.current

    migrate.downgrade(engine, "0008")  # in place: the reports' rows stay, with their threads
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM reports")) == 3
        assert "receipt_version" not in table_columns(conn, "reports")
        if conn.dialect.name == "sqlite":
            made = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'reports'"))
            assert "WITHOUT ROWID" in made
    database.engine.dispose()
    engine.dispose()


# --- 0010: whether a report's own files are encrypted to its reporter ---------------------------


def test_0010_adds_and_drops_the_reporter_copy_column(empty_instance):
    engine = _engine(empty_instance)
    migrate.upgrade(engine, "0010")
    with engine.connect() as conn:
        assert "reporter_copy" in table_columns(conn, "reports")
    migrate.downgrade(engine, "0009")
    with engine.connect() as conn:
        assert "reporter_copy" not in table_columns(conn, "reports")
    engine.dispose()
