"""The daily pass with several servers on one PostgreSQL: one marker and one lock for all.

Each server has an instance folder of its own (no shared disk), as docs/operations.md "Several
servers" sets them up; the blobs are kept in PostgreSQL. On SQLite (one machine) the marker
stays a file in the blob folder.
"""

from __future__ import annotations

import os
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import event, inspect, text
from sqlalchemy.exc import IntegrityError

from app.models import DaysResetMarker
from app.services import jobs
from app.services.blobs import BlobStore
from app.services.jobs import JobContext
from app.services.reports import day_reset
from app.services.reports.submission import submit
from tests.helpers.instances import Instance
from tests.helpers.reports import PARAMS, PEPPER, TODAY, form, upload_files

DAY = TODAY  # the day the reports come
NEXT = DAY + timedelta(days=1)  # the day the pass runs

only_postgresql = pytest.mark.parametrize("empty_instance", ["postgresql"], indirect=True)


@pytest.fixture
def second_server(instance: Instance, tmp_path: Path):
    """A second server: an instance folder of its own, the same database."""
    assert instance.backend == "postgresql"
    other = Instance(tmp_path / "second", instance.database_url, "postgresql")
    other.path.mkdir()
    try:
        app = other.app("console")
        assert app.config["BLOB_PATH"] != instance.apps[0].config["BLOB_PATH"]
        yield app
    finally:
        other.close()


def send_reports(app: Flask, count: int = 3) -> list[str]:
    """``count`` reports of DAY, with a file each, through ``app``'s blob store."""
    blobs = app.extensions["portal.blobs"]
    ids = []
    for i in range(count):
        uploads = upload_files(
            blobs, [(f"第{i}号材料-仓库记录.txt", "text/plain", f"夜班记录{i}".encode() * 200)]
        )
        with app.extensions["portal.db"].session() as session:
            store = blobs.bound(session) if blobs.transactional else blobs
            what = f"第{i}号举报：仓库物资夜间被运出。"
            ids.append(
                submit(session, store, PEPPER, form(what=what), uploads, DAY, PARAMS).report_id
            )
    return ids


def run_pass(app: Flask, today: date = NEXT, blobs: BlobStore | None = None) -> str:
    """The job as ``portal serve`` runs it on that server."""
    store = blobs or app.extensions["portal.blobs"]
    with app.extensions["portal.db"].sessions() as session:
        return jobs.reset_report_times(JobContext(session, None, store, today))  # type: ignore[arg-type]


def marker(app: Flask) -> date | None:
    engine = app.extensions["portal.db"].engine
    return day_reset.last_reset_day(engine, app.extensions["portal.blobs"])


# The sessions holding the pass's lock in the test's schema, on any connection of any server.
HOLDERS = (
    "FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2"
    " AND classid = CAST(:id AS oid)"
    " AND objid = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
)


def advisory_locks_held(app: Flask) -> int:
    with app.extensions["portal.db"].engine.connect() as connection:
        return connection.scalar(text(f"SELECT count(*) {HOLDERS}"), {"id": day_reset.LOCK_ID})


def rewrote(line: str) -> bool:
    return "rows written again" in line


BUSY = "another run is resetting the days: left to it"


def race(apps: list[Flask], today: date = NEXT, finished: threading.Event | None = None):
    """Each server's pass started at the same moment, in a thread of its own; what each said
    (None: it failed). ``finished`` is set as each ends."""
    start = threading.Barrier(len(apps))
    said: dict[int, str] = {}

    def server(number: int, app: Flask) -> None:
        start.wait()
        try:
            said[number] = run_pass(app, today)
        finally:
            if finished is not None:
                finished.set()

    threads = [threading.Thread(target=server, args=item) for item in enumerate(apps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return [said.get(number) for number in range(len(apps))]


@only_postgresql
def test_two_servers_starting_the_pass_at_once_do_the_days_once(
    db, org, second_server, monkeypatch
):
    first = db.app
    report_ids = send_reports(first)
    # The server that takes the lock waits inside the pass until the other has given up, so
    # the two passes overlap whichever thread wins.
    finished = threading.Event()
    real_reset = day_reset._reset

    def held(*args, **kwargs):
        if not finished.wait(60):
            raise AssertionError("both servers are inside the pass")
        return real_reset(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(day_reset, "_reset", held)
        lines = race([first, second_server], NEXT, finished)
    assert None not in lines, lines
    assert sum(rewrote(line) for line in lines) == 1, lines
    other = next(line for line in lines if not rewrote(line))
    assert other in (BUSY, f"nothing to do: the days up to {DAY} are reset"), lines
    assert advisory_locks_held(first) == 0
    # One transaction rewrote the day's reports: one xmin for all.
    with first.extensions["portal.db"].engine.connect() as connection:
        xmins = connection.scalars(
            text("SELECT DISTINCT xmin::text FROM reports WHERE id = ANY(:ids)"),
            {"ids": report_ids},
        ).all()
    assert len(xmins) == 1
    # Later rounds on either server find the day done, in the database they share.
    assert marker(first) == marker(second_server) == DAY
    for app in (second_server, first):
        assert run_pass(app) == f"nothing to do: the days up to {DAY} are reset"


@only_postgresql
def test_two_servers_racing_unhindered_do_the_days_once(db, org, second_server):
    send_reports(db.app, count=2)
    for today in (NEXT, NEXT + timedelta(days=1)):
        said = race([db.app, second_server], today)
        done = today - timedelta(days=1)
        assert None not in said and sum(rewrote(line) for line in said) == 1, said
        other = next(line for line in said if not rewrote(line))
        assert other in (BUSY, f"nothing to do: the days up to {done} are reset"), said
        assert marker(second_server) == done
        assert advisory_locks_held(db.app) == 0


@only_postgresql
def test_an_interrupted_pass_moves_no_marker_and_leaves_no_lock(
    db, org, second_server, monkeypatch
):
    send_reports(db.app, count=2)
    real_rewrite = day_reset._rewrite_rows

    def then_power_cut(*args, **kwargs):
        rows = real_rewrite(*args, **kwargs)  # the rows are written again and committed
        assert rows > 0
        raise OSError("power cut (simulated)")

    with monkeypatch.context() as patch:
        patch.setattr(day_reset, "_rewrite_rows", then_power_cut)
        with pytest.raises(OSError, match="power cut"):
            run_pass(db.app)
    assert marker(db.app) is None
    assert advisory_locks_held(db.app) == 0
    # The next round, on either server, does the whole pass again.
    said = run_pass(second_server)
    assert "CLUSTER" in said and f"the days up to {DAY}" in said, said
    assert marker(db.app) == DAY


@only_postgresql
def test_a_pass_whose_lock_connection_dies_tells_its_own_error(db, org, monkeypatch):
    """The server ends the lock's session (a restart, an administrator): unlocking fails, the
    connection is dropped, and the pass's own error is the one raised."""
    send_reports(db.app, count=1)
    engine = db.app.extensions["portal.db"].engine
    real_rewrite = day_reset._rewrite_rows

    def lock_lost(*args, **kwargs):
        real_rewrite(*args, **kwargs)
        with engine.connect() as connection:
            ended = connection.scalar(
                text(f"SELECT count(pg_terminate_backend(pid)) {HOLDERS}"),
                {"id": day_reset.LOCK_ID},
            )
        assert ended == 1
        raise OSError("power cut (simulated)")

    with monkeypatch.context() as patch:
        patch.setattr(day_reset, "_rewrite_rows", lock_lost)
        with pytest.raises(OSError, match="power cut"):
            run_pass(db.app)
    assert marker(db.app) is None
    assert "CLUSTER" in run_pass(db.app)
    assert marker(db.app) == DAY


@only_postgresql
def test_a_round_with_nothing_to_do_reads_one_row(db, org, second_server):
    send_reports(db.app, count=1)
    assert rewrote(run_pass(db.app))
    statements: list[str] = []
    engine = second_server.extensions["portal.db"].engine

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert run_pass(second_server) == f"nothing to do: the days up to {DAY} are reset"
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 1, statements
    assert statements[0].startswith("SELECT") and "days_reset_markers" in statements[0]


def test_on_sqlite_a_round_with_nothing_to_do_reads_only_the_marker_file(sqlite_instance):
    app = sqlite_instance.app("console")
    root = Path(app.config["BLOB_PATH"])
    root.mkdir(parents=True, exist_ok=True)
    (root / day_reset.MARKER).write_text(f"{DAY}\n", "ascii")
    statements: list[str] = []
    engine = app.extensions["portal.db"].engine

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert run_pass(app) == f"nothing to do: the days up to {DAY} are reset"
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert statements == []
    assert marker(app) == DAY


@only_postgresql
def test_the_marker_of_an_earlier_release_is_carried_into_the_database(db, org, second_server):
    """The first pass after 0023 starts from the day the blob folder's file says, on the
    server that runs it; the file goes. A stale file on another server is not read."""
    send_reports(db.app, count=2)
    root = Path(db.app.config["BLOB_PATH"])
    root.mkdir(parents=True, exist_ok=True)
    (root / day_reset.MARKER).write_text(f"{DAY - timedelta(days=1)}\n", "ascii")
    other = Path(second_server.config["BLOB_PATH"])
    other.mkdir(parents=True, exist_ok=True)
    (other / day_reset.MARKER).write_text(f"{NEXT + timedelta(days=5)}\n", "ascii")
    assert marker(db.app) is None
    said = run_pass(db.app)
    assert said.startswith(f"{DAY} to {DAY}: ") and rewrote(said), said  # not every day
    assert marker(db.app) == DAY
    assert not (root / day_reset.MARKER).exists()
    midnight = db.app.extensions["portal.blobs"].day_start(NEXT)
    assert os.stat(root).st_mtime == midnight
    # The other server's file says a later day: the database's marker is the one read.
    assert run_pass(second_server, NEXT + timedelta(days=1)).startswith(f"{NEXT} to {NEXT}: ")
    assert not (other / day_reset.MARKER).exists()
    assert marker(second_server) == NEXT


@only_postgresql
def test_a_carried_marker_up_to_date_leaves_nothing_to_do(db, org):
    root = Path(db.app.config["BLOB_PATH"])
    root.mkdir(parents=True, exist_ok=True)
    (root / day_reset.MARKER).write_text(f"{DAY}\n", "ascii")
    assert run_pass(db.app) == f"nothing to do: the days up to {DAY} are reset"
    assert marker(db.app) == DAY and not (root / day_reset.MARKER).exists()


def test_the_marker_table_holds_one_date_and_nothing_else(db, org):
    engine = db.app.extensions["portal.db"].engine
    columns = {c["name"]: c for c in inspect(engine).get_columns("days_reset_markers")}
    assert set(columns) == {"id", "last_day"}
    assert columns["last_day"]["type"].python_type is date
    assert not columns["last_day"]["nullable"]
    assert columns["id"]["type"].python_type is int
    on_postgresql = engine.dialect.name == "postgresql"
    if on_postgresql:
        send_reports(db.app, count=1)
        run_pass(db.app)
        run_pass(db.app, NEXT + timedelta(days=1))
        with engine.connect() as connection:
            kind = connection.scalar(
                text(
                    "SELECT data_type FROM information_schema.columns WHERE column_name ="
                    " 'last_day' AND table_name = 'days_reset_markers'"
                    " AND table_schema = current_schema()"
                )
            )
        assert kind == "date"
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM days_reset_markers")).all()
    # SQLite keeps its marker in the blob folder: the table stays empty there.
    assert rows == ([(1, NEXT)] if on_postgresql else [])
    if not on_postgresql:
        with db() as session:
            session.add(DaysResetMarker(last_day=DAY))
    # A second row cannot be added, whatever its id.
    for row_id in (1, 2):
        with pytest.raises(IntegrityError), db() as session:
            session.add(DaysResetMarker(id=row_id, last_day=DAY))
            session.flush()
