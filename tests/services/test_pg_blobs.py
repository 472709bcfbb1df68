"""Blobs kept in PostgreSQL: streamed in bounded memory, committed and rolled back with the
report's rows, readable by every server on the database, purged, checked by fsck, and moved
to and from the filesystem by ``portal blobs migrate`` (which survives being killed)."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from app.config import ConfigError
from app.models import EnvelopeRole, ReportEnvelope
from app.models.blobs import BlobChunk, StoredBlobRow
from app.services.blobs import BlobError, FilesystemBlobStore
from app.services.pg_blobs import CHUNK_BYTES, PostgresBlobStore
from app.services.reports.envelopes import read_bytes
from app.services.reports.fsck import fsck
from app.services.reports.submission import submit
from tests.helpers.environment import PG_URL, engine_url, skip_or_fail
from tests.helpers.instances import Content, Instance
from tests.helpers.private_postgresql import PrivateServer, private_postgresql
from tests.helpers.reports import (
    PARAMS,
    PEPPER,
    TODAY,
    build_org,
    form,
    jpeg_bytes,
    upload_files,
)
from tests.helpers.servers import PORTAL, portal, portal_env

MIB = 1024 * 1024
PHOTO_NAME = "现场照片（食堂）.jpg"
LEDGER_NAME = "采购台账-2026年10月.csv"
LEDGER = "日期,供应商,金额\n2026-10-08,某某食品公司,128000\n".encode() * 20


# The PostgreSQL store's tests run on PostgreSQL only (the instance fixtures' other backend,
# SQLite, has no such store: test_the_store_follows_the_database_unless_set).
only_postgresql = pytest.mark.parametrize("empty_instance", ["postgresql"], indirect=True)


@pytest.fixture
def pg_instance(instance: Instance) -> Instance:
    assert instance.backend == "postgresql"
    return instance


@pytest.fixture
def pg_blobs(db, pg_instance) -> PostgresBlobStore:
    store = db.app.extensions["portal.blobs"]
    assert isinstance(store, PostgresBlobStore)  # the default on PostgreSQL
    return store


class _Generated(io.RawIOBase):
    """``size`` bytes made as they are read (a hash chain): a source that holds nothing."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = hashlib.sha256("举报".encode()).digest() * 2048  # 64 KiB
        self.offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.offset == len(self.block):
            self.block = hashlib.sha256(self.block[:32]).digest() * 2048
            self.offset = 0
        n = min(len(buffer), self.left, len(self.block) - self.offset)
        buffer[:n] = self.block[self.offset : self.offset + n]
        self.offset += n
        self.left -= n
        return n


def _digest_of_generated(size: int) -> str:
    digest = hashlib.sha256()
    source = _Generated(size)
    while chunk := source.read(64 * 1024):
        digest.update(chunk)
    return digest.hexdigest()


def _rows(engine, model, key: str) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(model).where(model.key == key))


def _submit(db, blobs):
    uploads = upload_files(
        blobs,
        [(PHOTO_NAME, "image/jpeg", jpeg_bytes()), (LEDGER_NAME, "text/csv", LEDGER)],
    )
    with db() as session:
        return submit(session, blobs.bound(session), PEPPER, form(), uploads, TODAY, PARAMS)


def _attachment_texts(session, blobs, report_id: str, identity) -> list[bytes]:
    envelopes = session.scalars(
        select(ReportEnvelope)
        .where(ReportEnvelope.report_id == report_id, ReportEnvelope.role == EnvelopeRole.text)
        .order_by(ReportEnvelope.position)
    )
    return [read_bytes(blobs, e, [identity], 10 * MIB) for e in envelopes]


# --- the store ------------------------------------------------------------------------------


@only_postgresql
def test_a_large_blob_is_written_and_read_in_bounded_memory(pg_blobs):
    size = 24 * MIB
    tracemalloc.start()
    try:
        stored = pg_blobs.put(_Generated(size), size)
        digest = hashlib.sha256()
        with pg_blobs.open(stored.key) as blob:
            assert blob.seek(0, io.SEEK_END) == size
            blob.seek(0)
            while chunk := blob.read(64 * 1024):
                digest.update(chunk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.size == size and stored.sha256 == _digest_of_generated(size)
    assert digest.hexdigest() == stored.sha256
    assert peak < 4 * MIB, f"{peak} bytes held at once for a {size}-byte blob"
    assert _rows(pg_blobs.engine, BlobChunk, stored.key) == size // CHUNK_BYTES
    # A seek into the middle reads from there (downloads and fsck ask the size by seeking).
    with pg_blobs.open(stored.key) as blob:
        blob.seek(CHUNK_BYTES + 5)
        middle = blob.read(10)
    source = io.BufferedReader(_Generated(size))
    source.read(CHUNK_BYTES + 5)
    assert middle == source.read(10)


@only_postgresql
def test_a_rolled_back_transaction_leaves_no_blob_and_a_committed_one_keeps_it(db, pg_blobs):
    engine = pg_blobs.engine
    with db.app.extensions["portal.db"].sessions() as session:
        bound = pg_blobs.bound(session)
        stored = bound.put(io.BytesIO("举报材料".encode() * 100_000), 2 * MIB)
        with bound.open(stored.key) as blob:  # the transaction reads its own blob
            assert blob.read(12) == "举报材料".encode()
        assert _rows(engine, StoredBlobRow, stored.key) == 0  # nobody else sees it yet
        session.rollback()
    assert _rows(engine, StoredBlobRow, stored.key) == 0
    assert _rows(engine, BlobChunk, stored.key) == 0
    with pytest.raises(BlobError):
        pg_blobs.open(stored.key)
    with db() as session:
        kept = pg_blobs.bound(session).put(io.BytesIO("附件".encode()), 100)
    with pg_blobs.open(kept.key) as blob:
        assert blob.read() == "附件".encode()


@only_postgresql
def test_a_report_rolled_back_takes_its_uploads_with_it(db, org, pg_blobs):
    with db.app.extensions["portal.db"].sessions() as session:
        uploads = upload_files(pg_blobs.bound(session), [(PHOTO_NAME, "image/jpeg", jpeg_bytes())])
        keys = [upload.blob_key for upload in uploads]
        with pytest.raises(Exception):  # noqa: B017  the unit does not exist
            submit(
                session,
                pg_blobs.bound(session),
                PEPPER,
                form(unit_code="无此单位"),
                uploads,
                TODAY,
                PARAMS,
            )
    for key in keys:
        assert _rows(pg_blobs.engine, BlobChunk, key) == 0


@only_postgresql
def test_a_report_on_postgresql_opens_on_a_second_server_with_no_shared_disk(
    db, org, pg_blobs, pg_instance, tmp_path
):
    done = _submit(db, pg_blobs)
    first_folder = Path(db.app.config["BLOB_PATH"])
    assert not [p for p in first_folder.rglob("*") if p.is_file() and len(p.name) == 32]
    other = Instance(tmp_path / "second", pg_instance.database_url, "postgresql")
    other.path.mkdir()
    try:
        app = other.app("console")
        assert app.config["BLOB_PATH"] != db.app.config["BLOB_PATH"]
        store = app.extensions["portal.blobs"]
        with app.extensions["portal.db"].session() as session:
            envelopes = session.scalars(
                select(ReportEnvelope)
                .where(ReportEnvelope.report_id == done.report_id)
                .where(ReportEnvelope.role == EnvelopeRole.attachment)
                .order_by(ReportEnvelope.position)
            ).all()
            files = [read_bytes(store, e, [org.recovery["MCH"]], MIB) for e in envelopes]
        assert files[1] == LEDGER and files[0][:2] == b"\xff\xd8"
    finally:
        other.close()


def _one_connection_pool(url: str):
    """An engine whose pool holds one connection and waits two seconds for it: a thread that
    holds it and asks for another times out, as every thread of a server does once its
    requests hold all of the pool's connections."""
    return create_engine(engine_url(url), pool_size=1, max_overflow=0, pool_timeout=2)


@only_postgresql
def test_a_session_holding_the_last_connection_reads_a_blob_through_it(pg_blobs, pg_instance):
    # Forty downloads of a public attachment at once took a server's fifteen connections,
    # each request holding one and waiting for a second to read the blob: 500s after 30 s.
    kept = pg_blobs.put(io.BytesIO(LEDGER * 2_000), 4 * MIB)
    engine = _one_connection_pool(pg_instance.database_url)
    try:
        with Session(engine) as session:
            session.execute(text("SELECT 1"))  # the request's connection: the pool's last
            store = PostgresBlobStore(engine, lambda: session)
            with store.open(kept.key) as blob:
                start = blob.read(CHUNK_BYTES)
                assert engine.pool.checkedout() == 1
                # The request ends; its download goes on being sent, through a connection of
                # its own (the session is not opened again, to be left open).
                session.close()
                rest = blob.read()
                assert engine.pool.checkedout() == 1 and not session.in_transaction()
            assert start + rest == LEDGER * 2_000
        assert engine.pool.checkedout() == 0
    finally:
        engine.dispose()


@only_postgresql
def test_a_disclosure_attachment_downloads_on_a_pool_of_one_connection(db, pg_instance, demo):
    from app.services.disclosures import attachments, drafting, reviewing
    from tests.helpers.disclosures import draft_fields, sign_log, staff

    with db() as session:
        author = staff(session, "publisher")
        item = drafting.create_draft(session, author, draft_fields(session, title="报价明细公示"))
        found = attachments.add_attachment(
            session,
            db.app.extensions["portal.blobs"],
            item,
            author,
            "报价明细.csv",
            io.BytesIO(LEDGER * 2_000),
            4 * MIB,
        )
        drafting.submit_for_review(session, item, author)
        reviewing.approve(session, item, staff(session, "approver"))
        session.flush()
        path = f"/disclosures/{item.id}/attachments/{found.id}"
    sign_log(db)
    app = pg_instance.app("public")
    engine = _one_connection_pool(pg_instance.database_url)
    # The app's engine, for its sessions and its blob store alike.
    app.extensions["portal.db"].engine = engine
    app.extensions["portal.db"].sessions.configure(bind=engine)
    app.extensions["portal.blobs"].engine = engine
    try:
        response = app.test_client().get(path)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        body = response.get_data()
        response.close()
        assert body == LEDGER * 2_000
        assert engine.pool.checkedout() == 0  # the download let its connection go
    finally:
        engine.dispose()


@only_postgresql
def test_fsck_finds_a_deleted_chunk_a_changed_chunk_and_an_orphan(db, org, pg_blobs):
    done = _submit(db, pg_blobs)
    big = pg_blobs.put(io.BytesIO(os.urandom(3 * CHUNK_BYTES)), 4 * CHUNK_BYTES)
    with db() as session:
        envelopes = session.scalars(
            select(ReportEnvelope).where(ReportEnvelope.report_id == done.report_id)
        ).all()
        text_key = next(e.blob_key for e in envelopes if e.role == EnvelopeRole.text)
        photo = next(e for e in envelopes if e.role == EnvelopeRole.attachment)
        clean = fsck(session, pg_blobs, [org.recovery["MCH"]], delete_orphans=False)
    assert clean.ok and clean.orphans == [big.key] and clean.damaged_blobs == []
    assert clean.opened == 3
    with pg_blobs.engine.begin() as connection:
        connection.execute(text("DELETE FROM blob_chunks WHERE key = :k"), {"k": text_key})
        connection.execute(  # one byte of its first chunk changed
            text(
                "UPDATE blob_chunks SET data = overlay(data placing '\\x00'::bytea from 40)"
                " WHERE key = :k AND seq = 0"
            ),
            {"k": photo.blob_key},
        )
    with db() as session:
        result = fsck(session, pg_blobs, [org.recovery["MCH"]])
    assert not result.ok
    problems = dict(result.damaged_blobs)
    assert "chunk 0 missing" in problems[text_key]
    assert "SHA-256" in problems[photo.blob_key]
    assert result.orphans == [big.key] and big.key not in set(pg_blobs.keys())
    assert photo.id in [envelope for envelope, _error in result.damaged]
    runner = db.app.test_cli_runner()
    said = runner.invoke(args=["reports", "fsck", "--dry-run"])
    assert said.exit_code == 1
    assert f"DAMAGED blob {text_key}" in said.output and "FAILED" in said.output


@only_postgresql
def test_fsck_finds_chunks_numbered_past_the_end_of_a_blob(db, org, pg_blobs):
    done = _submit(db, pg_blobs)
    with db() as session:
        keys = sorted(
            session.scalars(
                select(ReportEnvelope.blob_key).where(ReportEnvelope.report_id == done.report_id)
            )
        )
    extra = {keys[0]: 1, keys[1]: 2_000_000_000}  # next to the last one; far past every size
    with pg_blobs.engine.begin() as connection:
        for key, seq in extra.items():
            connection.execute(
                text("INSERT INTO blob_chunks (key, seq, data) VALUES (:k, :s, :d)"),
                {"k": key, "s": seq, "d": "藏在文件之后的数据".encode()},
            )
    with db() as session:
        result = fsck(session, pg_blobs, [org.recovery["MCH"]], delete_orphans=False)
    problems = dict(result.damaged_blobs)
    assert not result.ok and set(problems) == set(extra)
    assert all("1 chunk(s) outside its" in problem for problem in problems.values())


@only_postgresql
def test_a_purge_leaves_no_row_of_the_case_blobs(db, org, pg_blobs):
    from tests.helpers.retention import PURGE_DAY, concluded_case

    due, _code = concluded_case(db, org, pg_blobs)
    with db() as session:
        keys = list(
            session.scalars(select(ReportEnvelope.blob_key).where(ReportEnvelope.report_id == due))
        )
    assert keys and all(_rows(pg_blobs.engine, BlobChunk, k) for k in keys)
    from app.services.reports import retention

    with db.app.extensions["portal.db"].sessions() as session:
        outcome = retention.purge(session, pg_blobs, PURGE_DAY, 5)
    assert [case.report_id for case in outcome.purged] == [due]
    assert "VACUUM FULL" in outcome.database
    for key in keys:
        assert _rows(pg_blobs.engine, BlobChunk, key) == 0
        assert _rows(pg_blobs.engine, StoredBlobRow, key) == 0


# --- the setting ------------------------------------------------------------------------------


def test_the_store_follows_the_database_unless_set(instance):
    app = instance.app("console")
    wanted = "postgresql" if instance.backend == "postgresql" else "filesystem"
    assert app.config["BLOB_STORE"] == wanted
    assert instance.app("console", BLOB_STORE="filesystem").config["BLOB_STORE"] == "filesystem"
    with pytest.raises(ConfigError, match=r"PORTAL_BLOB_STORE.*filesystem or postgresql"):
        instance.app("console", BLOB_STORE="对象存储")
    if instance.backend == "sqlite":
        with pytest.raises(ConfigError, match="PORTAL_BLOB_STORE: postgresql keeps files"):
            instance.app("console", BLOB_STORE="postgresql")


# --- portal blobs migrate ---------------------------------------------------------------------


def _fill_filesystem(db, org, pg_instance, blobs_count: int = 0):
    """A report with Chinese-named files, and a disclosure attachment, in the filesystem store
    of a PostgreSQL instance; ``blobs_count`` more blobs of 512 KiB; their digests by key."""
    app = pg_instance.app("console", BLOB_STORE="filesystem")
    files = app.extensions["portal.blobs"]
    assert isinstance(files, FilesystemBlobStore)
    files.prepare()
    done = _submit(db, files)
    for number in range(blobs_count):
        files.put(io.BytesIO(f"第{number}号附件".encode() * 40_000), MIB)
    digests = {}
    for key in list(files.keys()):
        with files.open(key) as blob:
            digests[key] = hashlib.sha256(blob.read()).hexdigest()
    return app, files, done, digests


def _check_everything_in(store, other, digests):
    assert set(store.keys()) == set(digests)
    assert list(other.keys()) == []
    for key, digest in digests.items():
        with store.open(key) as blob:
            assert hashlib.sha256(blob.read()).hexdigest() == digest


@only_postgresql
def test_migrate_to_postgresql_and_back_keeps_every_file(db, org, pg_blobs, pg_instance):
    app, files, done, digests = _fill_filesystem(db, org, pg_instance)
    runner = app.test_cli_runner()
    # Configured for PostgreSQL before the move: fsck says where the files are.
    said = db.app.test_cli_runner().invoke(args=["reports", "fsck", "--dry-run"])
    assert said.exit_code == 1
    assert "PORTAL_BLOB_STORE=filesystem" in said.output
    assert "portal blobs migrate --to postgresql" in said.output

    result = runner.invoke(args=["blobs", "migrate", "--to", "postgresql"])
    assert result.exit_code == 0, result.output
    assert f"{len(digests)} blobs moved to the postgresql store" in result.output
    assert "set PORTAL_BLOB_STORE=postgresql" in result.output
    _check_everything_in(pg_blobs, files, digests)
    with db() as session:
        checked = fsck(session, pg_blobs, [org.recovery["MCH"]], delete_orphans=False)
        texts = _attachment_texts(session, pg_blobs, done.report_id, org.recovery["MCH"])
    assert checked.ok and checked.orphans == [] and checked.opened == 3
    assert PHOTO_NAME.encode() in texts[0] and LEDGER_NAME.encode() in texts[0]

    again = runner.invoke(args=["blobs", "migrate", "--to", "postgresql"])
    assert again.exit_code == 0 and "0 blobs moved" in again.output

    back = runner.invoke(args=["blobs", "migrate", "--to", "filesystem"])
    assert back.exit_code == 0, back.output
    _check_everything_in(files, pg_blobs, digests)
    with db() as session:
        checked = fsck(session, files, [org.recovery["MCH"]], delete_orphans=False, min_age=0)
    assert checked.ok and checked.opened == 3


@only_postgresql
def test_migrate_refuses_a_blob_that_differs_from_its_row(db, org, pg_blobs, pg_instance):
    app, files, done, _digests = _fill_filesystem(db, org, pg_instance)
    with db() as session:
        key = session.scalar(
            select(ReportEnvelope.blob_key)
            .where(ReportEnvelope.report_id == done.report_id)
            .where(ReportEnvelope.role == EnvelopeRole.attachment)
        )
    path = files.root / key[:2] / key
    path.write_bytes(path.read_bytes() + b"\x00")  # one byte more than its row says
    result = app.test_cli_runner().invoke(args=["blobs", "migrate", "--to", "postgresql"])
    assert result.exit_code == 1
    assert f"FAILED blob {key}" in result.output
    assert key in set(files.keys()) and key not in set(pg_blobs.keys())  # left where it was


@only_postgresql
def test_migrate_leaves_a_changed_or_cut_postgresql_blob_where_it_is(db, org, pg_blobs):
    done = _submit(db, pg_blobs)
    with db() as session:
        envelopes = session.scalars(
            select(ReportEnvelope).where(ReportEnvelope.report_id == done.report_id)
        ).all()
    text_key = next(e.blob_key for e in envelopes if e.role == EnvelopeRole.text)
    photo, ledger = [e.blob_key for e in envelopes if e.role == EnvelopeRole.attachment]
    with pg_blobs.engine.begin() as connection:
        connection.execute(  # one byte changed: the same size, another SHA-256 than its row's
            text(
                "UPDATE blob_chunks SET data = overlay(data placing '\\x00'::bytea from 40)"
                " WHERE key = :k AND seq = 0"
            ),
            {"k": photo},
        )
        connection.execute(text("DELETE FROM blob_chunks WHERE key = :k"), {"k": ledger})
    result = db.app.test_cli_runner().invoke(args=["blobs", "migrate", "--to", "filesystem"])
    assert result.exit_code == 1, result.output
    assert f"FAILED blob {photo}: source: its bytes do not hash to the SHA-256" in result.output
    # A blob whose chunk is gone is still in PostgreSQL (its row and what is left): not lost.
    assert f"FAILED blob {ledger}: source: blob {ledger} is damaged: chunk 0" in result.output
    assert "MISSING" not in result.output and "1 blobs moved" in result.output
    files = FilesystemBlobStore(db.app.config["BLOB_PATH"])
    assert set(files.keys()) == {text_key}
    assert {photo, ledger} <= set(pg_blobs.keys())
    assert pg_blobs.stat(photo) is not None and pg_blobs.stat(ledger) is not None
    # Run the other way, they are found where they are, damaged, not said to be lost.
    back = db.app.test_cli_runner().invoke(args=["blobs", "migrate", "--to", "postgresql"])
    assert back.exit_code == 1 and "MISSING" not in back.output, back.output
    assert f"FAILED blob {ledger}: copy kept as it is: blob {ledger} is damaged" in back.output
    assert f"FAILED blob {photo}: copy kept as it is" in back.output
    assert set(files.keys()) == set() and {photo, ledger} <= set(pg_blobs.keys())


@only_postgresql
def test_a_second_migrate_while_one_runs_is_refused(db, org, pg_blobs, pg_instance):
    from app.services.blob_migration import one_run_at_a_time

    app, files, _done, digests = _fill_filesystem(db, org, pg_instance)
    runner = app.test_cli_runner()
    with one_run_at_a_time(pg_blobs.engine):  # a run on another machine, under way
        refused = runner.invoke(args=["blobs", "migrate", "--to", "postgresql"])
    assert refused.exit_code == 1
    assert "another `portal blobs migrate` is moving the blobs" in refused.output
    assert set(files.keys()) == set(digests) and list(pg_blobs.keys()) == []
    done = runner.invoke(args=["blobs", "migrate", "--to", "postgresql"])
    assert done.exit_code == 0, done.output
    _check_everything_in(pg_blobs, files, digests)


@only_postgresql
def test_migrate_killed_midway_and_run_again_moves_every_blob_once(db, org, pg_blobs, pg_instance):
    _app, files, _done, digests = _fill_filesystem(db, org, pg_instance, blobs_count=60)
    env = portal_env(
        pg_instance.path,
        PORTAL_DATABASE_URL=pg_instance.database_url,
        PYTHONUNBUFFERED="1",
    )
    process = subprocess.Popen(
        [PORTAL, "blobs", "migrate", "--to", "postgresql"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    assert process.stdout is not None
    for line in process.stdout:
        seen.append(line)
        if line.startswith("[20/"):
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    process.stdout.close()
    assert process.returncode == -signal.SIGKILL, "".join(seen)
    moved = set(pg_blobs.keys())
    assert 0 < len(moved) < len(digests)
    assert set(files.keys()) | moved == set(digests)  # nothing lost at the kill

    done = portal(env, "blobs", "migrate", "--to", "postgresql", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 missing, 0 failed" in done.stdout
    _check_everything_in(pg_blobs, files, digests)
    with pg_blobs.engine.connect() as connection:  # one row each, never two
        rows = connection.scalar(select(func.count()).select_from(StoredBlobRow))
    assert rows == len(digests)
    checked = portal(env, "reports", "fsck", "--dry-run", "--min-age-days", "0", timeout=300)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Report store OK." in checked.stdout


# --- portal db upgrade, killed ----------------------------------------------------------------


def test_db_upgrade_killed_midway_and_run_again_ends_at_head(empty_instance, tmp_path):
    from sqlalchemy import create_engine

    from app import migrate
    from tests.helpers.environment import create_schema, drop_schema

    schemas = []

    def fresh(name: str) -> dict:
        # A database of its own for each attempt: an upgrade that ended cannot be killed.
        folder = tmp_path / name
        folder.mkdir()
        if empty_instance.backend == "sqlite":
            url = f"sqlite:///{folder}/portal.sqlite3"
        else:
            url, schema = create_schema(PG_URL)
            schemas.append(schema)
        return portal_env(folder, PORTAL_DATABASE_URL=url, PORTAL_BLOB_STORE="filesystem")

    try:
        started = time.monotonic()
        first = portal(fresh("measure"), "db", "upgrade", timeout=300)
        assert first.returncode == 0, first.stderr
        whole = time.monotonic() - started
        # Killed at 60% of a whole upgrade's time; on a machine that got faster meanwhile the
        # upgrade may be over by then, and is tried again on a new database, killed sooner.
        for attempt, share in enumerate((0.6, 0.4, 0.25, 0.15, 0.1)):
            env = fresh(f"attempt-{attempt}")
            process = subprocess.Popen(
                [PORTAL, "db", "upgrade"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(whole * share)
            killed = process.poll() is None
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            if killed:
                break
        assert killed, "every upgrade ended before it could be killed"
        again = portal(env, "db", "upgrade", timeout=300)
        assert again.returncode == 0, again.stderr
        engine = create_engine(engine_url(env["PORTAL_DATABASE_URL"]))
        try:
            with engine.connect() as connection:
                version = connection.scalar(text("SELECT version_num FROM alembic_version"))
                tables = set(connection.dialect.get_table_names(connection))
            heads = migrate.alembic_config(engine)
            from alembic.script import ScriptDirectory

            assert version == ScriptDirectory.from_config(heads).get_current_head()
            assert {"blobs", "blob_chunks", "reports", "staff_users"} <= tables
        finally:
            engine.dispose()
        # A working instance: an administrator is added and listed.
        added = portal(env, "init", "--admin", "guanli", "--name", "管理员", timeout=300)
        assert added.returncode == 0, added.stderr
        listed = portal(env, "user", "list", timeout=120)
        assert "guanli" in listed.stdout and "管理员" in listed.stdout
    finally:
        for schema in schemas:
            drop_schema(PG_URL, schema)


# --- the daily pass ---------------------------------------------------------------------------


@only_postgresql
def test_the_daily_pass_rewrites_the_days_blob_rows_with_the_reports(db, org, pg_blobs):
    from datetime import timedelta

    from app.services.reports import day_reset

    first, second = _submit(db, pg_blobs), _submit(db, pg_blobs)
    with db() as session:
        keys = list(session.scalars(select(ReportEnvelope.blob_key)))
    xmins = "SELECT DISTINCT xmin::text FROM {} WHERE key = ANY(:keys)"
    with pg_blobs.engine.connect() as connection:
        before = set(connection.scalars(text(xmins.format("blob_chunks")), {"keys": keys}))
    assert len(before) > 1  # each upload's own transaction, in the order they came
    with db.app.extensions["portal.db"].sessions() as session:
        line = day_reset.reset_previous_days(session, pg_blobs, TODAY + timedelta(days=1))
    assert "CLUSTER" in line, line
    with pg_blobs.engine.connect() as connection:
        after = set(connection.scalars(text(xmins.format("blob_chunks")), {"keys": keys}))
        after |= set(connection.scalars(text(xmins.format("blobs")), {"keys": keys}))
        reports = set(
            connection.scalars(
                text("SELECT DISTINCT xmin::text FROM reports WHERE id IN (:a, :b)"),
                {"a": first.report_id, "b": second.report_id},
            )
        )
    assert len(after) == 1 and after == reports  # one transaction, the pass's
    with db() as session:
        texts = _attachment_texts(session, pg_blobs, first.report_id, org.recovery["MCH"])
    assert LEDGER_NAME.encode() in texts[0]


@only_postgresql
def test_the_daily_pass_leaves_no_order_of_arrival_in_the_chunks_stored_apart(db, org, pg_blobs):
    """A chunk's bytes are stored apart (TOAST) under a value id given out in increasing order
    and kept by CLUSTER: matched to the chunks' rows (both tables are in key order after it),
    those ids gave back the order the day's files came in."""
    from datetime import timedelta

    from app.services.reports import day_reset

    keys = []
    for number in range(4):
        ledger = f"第{number}份台账\n".encode() + LEDGER * 10  # kept out of line
        with db() as session:
            uploads = upload_files(pg_blobs.bound(session), [(LEDGER_NAME, "text/csv", ledger)])
            submit(session, pg_blobs.bound(session), PEPPER, form(), uploads, TODAY, PARAMS)
            keys.append(uploads[0].blob_key)
    # What an administrator reading the tables does: the i-th value stored apart, in the order
    # of the table that holds them, is the i-th chunk kept out of line, in its table's order.
    recover = text(
        "WITH rows AS (SELECT key, row_number() OVER (ORDER BY ctid) AS n FROM blob_chunks"
        " WHERE length(data) > 2000),"
        " apart AS (SELECT chunk_id, row_number() OVER (ORDER BY min(ctid)) AS n"
        " FROM {toast} GROUP BY chunk_id)"
        " SELECT rows.key FROM rows JOIN apart USING (n) ORDER BY apart.chunk_id"
    )
    toast = _toast_table(pg_blobs, "blob_chunks")
    before = _values_apart(pg_blobs, toast)

    def backwards(items: list) -> None:  # not the order of arrival, whatever it is
        items.reverse()

    with db.app.extensions["portal.db"].sessions() as session:
        day_reset.reset_previous_days(
            session, pg_blobs, TODAY + timedelta(days=1), shuffle=backwards
        )
    with pg_blobs.engine.connect() as connection:
        after = set(connection.scalars(text(f"SELECT DISTINCT chunk_id FROM {toast}")))
        found = [key for key in connection.scalars(text(recover.text.format(toast=toast)))]
    assert not before & after  # every value stored anew, by the pass
    assert [key for key in found if key in keys] == keys[::-1]  # in the pass's order


def _ledgers_and_their_values(db, pg_blobs, count: int) -> tuple[str, set[int]]:
    """``count`` reports of today, each with a file kept out of line; the table that keeps the
    chunks' values apart (TOAST) and the value ids it holds."""
    for number in range(count):
        ledger = f"第{number}份台账\n".encode() + LEDGER * 10
        with db() as session:
            uploads = upload_files(pg_blobs.bound(session), [(LEDGER_NAME, "text/csv", ledger)])
            submit(session, pg_blobs.bound(session), PEPPER, form(), uploads, TODAY, PARAMS)
    toast = _toast_table(pg_blobs, "blob_chunks")
    return toast, _values_apart(pg_blobs, toast)


def _toast_table(pg_blobs, table: str) -> str:
    """The table that keeps ``table``'s values stored apart (TOAST)."""
    with pg_blobs.engine.connect() as connection:
        return connection.scalar(
            text(
                "SELECT reltoastrelid::regclass::text FROM pg_class"
                " WHERE oid = CAST(:t AS regclass)"
            ),
            {"t": table},
        )


def _values_apart(pg_blobs, toast: str) -> set[int]:
    with pg_blobs.engine.connect() as connection:
        return set(connection.scalars(text(f"SELECT DISTINCT chunk_id FROM {toast}")))


def _snapshot_before_the_pass(pg_blobs):
    """A session that took its snapshot before the pass (a long query, a backup, a client left
    in a transaction), on other tables (it holds no lock the pass waits for): PostgreSQL
    keeps for it the rows as they were."""
    holder = pg_blobs.engine.connect().execution_options(isolation_level="REPEATABLE READ")
    holder.execute(text("SELECT 1"))
    return holder


@only_postgresql
def test_the_daily_pass_waits_for_sessions_that_still_see_the_old_rows(db, org, pg_blobs):
    """CLUSTER copies the row versions an open snapshot may still see, with their values
    stored apart under their old, ordered ids: the pass waits for such sessions first."""
    import threading
    import time
    from datetime import timedelta

    from app.services.reports import day_reset

    toast, before = _ledgers_and_their_values(db, pg_blobs, 3)
    holder = _snapshot_before_the_pass(pg_blobs)
    ended = threading.Timer(1.5, holder.close)
    ended.start()
    try:
        started = time.monotonic()
        with db.app.extensions["portal.db"].sessions() as session:
            line = day_reset.reset_previous_days(
                session, pg_blobs, TODAY + timedelta(days=1), snapshot_wait=600
            )
        waited = time.monotonic() - started
    finally:
        ended.join()
    assert "CLUSTER" in line, line
    after = _values_apart(pg_blobs, toast)
    assert after and not before & after  # the old ids are gone with the old versions
    assert waited >= 1.4  # until the older snapshot was gone


@only_postgresql
def test_the_daily_pass_outlasted_by_an_old_session_marks_nothing_and_runs_again(
    db, org, pg_blobs, monkeypatch
):
    from datetime import timedelta

    from app.services import jobs
    from app.services.reports import day_reset

    toast, before = _ledgers_and_their_values(db, pg_blobs, 2)
    holder = _snapshot_before_the_pass(pg_blobs)
    pid = holder.scalar(text("SELECT pg_backend_pid()"))
    monkeypatch.setattr(day_reset, "SNAPSHOT_WAIT_SECONDS", 0.5)
    try:
        with db.app.extensions["portal.db"].sessions() as session:
            context = jobs.JobContext(session, None, pg_blobs, TODAY + timedelta(days=1))
            line = jobs.reset_report_times(context)
            assert f"pid {pid}" in line and "next round" in line, line
            assert day_reset.last_reset_day(session, pg_blobs) is None  # nothing marked
    finally:
        holder.close()
    # The wait as it is: other sessions of the server (tests beside this one) are short.
    monkeypatch.undo()
    with db.app.extensions["portal.db"].sessions() as session:
        line = jobs.reset_report_times(
            jobs.JobContext(session, None, pg_blobs, TODAY + timedelta(days=1))
        )
        assert day_reset.last_reset_day(session, pg_blobs) == TODAY
    assert "CLUSTER" in line, line
    assert not before & _values_apart(pg_blobs, toast)


@only_postgresql
def test_a_session_already_older_than_the_wait_puts_the_pass_off_before_it_rewrites(
    db, org, pg_blobs, monkeypatch
):
    """Rewriting the rows only to find them still seen as they were would be done again at
    every round while such a session lasts (a long report query, a client left in a
    transaction): the pass looks first, and leaves the rows alone."""
    import time
    from datetime import timedelta

    from app.services import jobs
    from app.services.reports import day_reset

    _ledgers_and_their_values(db, pg_blobs, 2)
    versions = "SELECT string_agg(xmin::text || ctid::text, ',' ORDER BY id) FROM reports"
    with pg_blobs.engine.connect() as connection:
        before = connection.scalar(text(versions))
    holder = _snapshot_before_the_pass(pg_blobs)
    pid = holder.scalar(text("SELECT pg_backend_pid()"))
    monkeypatch.setattr(day_reset, "SNAPSHOT_WAIT_SECONDS", 0.5)
    time.sleep(0.7)
    try:
        with db.app.extensions["portal.db"].sessions() as session:
            started = time.monotonic()
            line = jobs.reset_report_times(
                jobs.JobContext(session, None, pg_blobs, TODAY + timedelta(days=1))
            )
            assert time.monotonic() - started < 0.5  # no wait either
            assert f"pid {pid}" in line and "next round" in line, line
            assert day_reset.last_reset_day(session, pg_blobs) is None
    finally:
        holder.close()
    with pg_blobs.engine.connect() as connection:
        assert connection.scalar(text(versions)) == before  # no row written again


@only_postgresql
def test_the_daily_pass_leaves_no_order_of_arrival_in_the_headers_stored_apart(db, org, pg_blobs):
    """A file encrypted to many readers (an office of twenty or more) has a header too long to
    stay in its row: PostgreSQL keeps it apart (TOAST) under a value id given out in order of
    arrival, which a row written again with the header unchanged, and CLUSTER, both keep."""
    from datetime import timedelta

    from app.services.reports import day_reset

    for _number in range(4):
        with db() as session:
            result = _submit(db, pg_blobs)
        with db() as session:  # the header as twenty-odd recipients make it (about 2.4 kB)
            stanzas = b"".join(
                b"-> X25519 "
                + os.urandom(32).hex().encode()[:43]
                + b"\n"
                + os.urandom(32).hex().encode()[:43]
                + b"\n"
                for _ in range(24)
            )
            session.execute(
                text("UPDATE report_envelopes SET header = :h WHERE report_id = :r"),
                {"h": b"age-encryption.org/v1\n" + stanzas + b"--- mac\n", "r": result.report_id},
            )
            session.commit()
    toast = _toast_table(pg_blobs, "report_envelopes")
    before = _values_apart(pg_blobs, toast)
    assert before  # kept apart
    with db.app.extensions["portal.db"].sessions() as session:
        line = day_reset.reset_previous_days(session, pg_blobs, TODAY + timedelta(days=1))
    assert "CLUSTER" in line, line
    after = _values_apart(pg_blobs, toast)
    assert after and not before & after  # every header stored anew, by the pass


@pytest.fixture(scope="module")
def private_server() -> Iterator[PrivateServer]:
    """A server of the module's own: it takes prepared transactions, and its settings may be
    changed for every session (tests/helpers/private_postgresql.py)."""
    if not PG_URL:
        skip_or_fail("PostgreSQL not configured: set PORTAL_TEST_DATABASE_URL")
    with private_postgresql(max_prepared_transactions="4") as server:
        yield server


@pytest.fixture
def private_db(private_server: PrivateServer, tmp_path: Path) -> Iterator[tuple]:
    """``db`` and ``pg_blobs`` as the fixtures give them (with the report tests' organisation),
    on a new database of the private server; and the server."""
    folder = tmp_path / "instance"
    folder.mkdir()
    inst = Instance(folder, private_server.url(private_server.create_database()), "postgresql")
    inst.fill(Content.SCHEMA)
    app = inst.app("console")

    @contextmanager
    def session() -> Iterator[Session]:
        with app.extensions["portal.db"].session() as s:
            yield s

    session.app = app  # type: ignore[attr-defined]
    with session() as s:
        build_org(s)
    try:
        yield session, app.extensions["portal.blobs"], private_server
    finally:
        inst.close()


def test_a_prepared_transaction_older_than_the_rewrite_holds_the_pass(private_db, monkeypatch):
    """A prepared transaction (two-phase commit) has no session in pg_stat_activity, yet it
    holds the old row versions like an open one until it is committed or rolled back: CLUSTER
    would copy them, with their values' old ids."""
    from datetime import timedelta

    from app.services import jobs
    from app.services.reports import day_reset

    db, pg_blobs, _server = private_db
    toast, before = _ledgers_and_their_values(db, pg_blobs, 2)
    gid = f"held-{os.getpid()}-{time.monotonic_ns()}"
    holder = pg_blobs.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    holder.exec_driver_sql("BEGIN")
    holder.exec_driver_sql("SELECT txid_current()")
    holder.exec_driver_sql(f"PREPARE TRANSACTION '{gid}'")
    holder.close()
    monkeypatch.setattr(day_reset, "SNAPSHOT_WAIT_SECONDS", 0.5)
    try:
        with db.app.extensions["portal.db"].sessions() as session:
            line = jobs.reset_report_times(
                jobs.JobContext(session, None, pg_blobs, TODAY + timedelta(days=1))
            )
            assert f"prepared transaction '{gid}'" in line and "next round" in line, line
            assert day_reset.last_reset_day(session, pg_blobs) is None
    finally:
        with pg_blobs.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as ended:
            ended.exec_driver_sql(f"ROLLBACK PREPARED '{gid}'")
    with db.app.extensions["portal.db"].sessions() as session:
        line = jobs.reset_report_times(
            jobs.JobContext(session, None, pg_blobs, TODAY + timedelta(days=1))
        )
    assert "CLUSTER" in line, line
    assert not before & _values_apart(pg_blobs, toast)


def test_a_download_read_slowly_does_not_hold_the_daily_pass(private_db, monkeypatch):
    """A reporter's download of a large file is streamed as slowly as the client reads it
    (nginx holds 64 KiB of it, no more): read in one snapshot, the rows as they were were kept
    for it, and one client reading a few bytes a second put the pass off for as long as it
    liked, every day. Each chunk is read in a snapshot of its own."""
    from datetime import timedelta

    from app.services import jobs
    from app.services.reports import day_reset

    # On a server of its own: a short wait, which another session would outlast too.
    db, pg_blobs, _server = private_db
    payload = os.urandom(3 * CHUNK_BYTES + 1000)
    with db() as session:
        uploads = upload_files(pg_blobs.bound(session), [(LEDGER_NAME, "text/csv", payload)])
        submit(session, pg_blobs.bound(session), PEPPER, form(), uploads, TODAY, PARAMS)
    key = uploads[0].blob_key
    with pg_blobs.open(key) as whole:
        stored = whole.read()
    monkeypatch.setattr(day_reset, "SNAPSHOT_WAIT_SECONDS", 0.5)
    with pg_blobs.open(key) as reader:  # a download under way, past its first chunks
        start = reader.read(CHUNK_BYTES + 100)
        time.sleep(0.7)  # older than the wait
        with db.app.extensions["portal.db"].sessions() as session:
            line = jobs.reset_report_times(
                jobs.JobContext(session, None, pg_blobs, TODAY + timedelta(days=1))
            )
        assert "CLUSTER" in line, line
        rest = reader.read()
    assert start + rest == stored  # the same file, read across the pass


def test_a_server_deferring_cleanup_puts_the_pass_off(private_db):
    """vacuum_defer_cleanup_age (PostgreSQL 15 and older) keeps every old row version for that
    many transactions, seen or not: CLUSTER copied them, with their values' ordered ids."""
    from datetime import timedelta

    from app.services import jobs
    from app.services.reports import day_reset

    db, pg_blobs, server = private_db
    if int(server.psql("SHOW server_version_num")) >= 160000:
        pytest.skip("PostgreSQL 16 and later have no vacuum_defer_cleanup_age")
    toast, before = _ledgers_and_their_values(db, pg_blobs, 2)
    server.set("vacuum_defer_cleanup_age", "100000")
    try:
        with db.app.extensions["portal.db"].sessions() as session:
            line = jobs.reset_report_times(
                jobs.JobContext(session, None, pg_blobs, TODAY + timedelta(days=1))
            )
            assert "vacuum_defer_cleanup_age" in line and "next round" in line, line
            assert day_reset.last_reset_day(session, pg_blobs) is None
    finally:
        server.set("vacuum_defer_cleanup_age", "0")
    with db.app.extensions["portal.db"].sessions() as session:
        line = jobs.reset_report_times(
            jobs.JobContext(session, None, pg_blobs, TODAY + timedelta(days=1))
        )
    assert "CLUSTER" in line, line
    assert not before & _values_apart(pg_blobs, toast)
