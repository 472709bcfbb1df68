"""The schema is built by Alembic from empty, and the migrations match the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from app import migrate
from app.db import Base, make_engine


def _engine(instance):
    return make_engine(instance.database_url.replace("postgresql://", "postgresql+psycopg://", 1))


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
