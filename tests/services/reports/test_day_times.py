"""No time finer than the day: what a copy of the server shows of when the day's reports came.

Reports are sent at Shanghai times between midnight and 8 a.m. (the UTC day before), on a
clock the blob store is given; the daily pass (job ``reset-times``) runs the next morning.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from app.models import EnvelopeRole, Report, ReportEnvelope
from app.services import blobs as blobs_module
from app.services import jobs
from app.services.blobs import FilesystemBlobStore, day_start
from app.services.jobs import JobContext
from app.services.reports import day_reset
from app.services.reports.fsck import fsck
from app.services.reports.submission import submit
from tests.helpers.day_times import DAY, NEXT, SHANGHAI, Clock, at, concordance, scan
from tests.helpers.reports import PARAMS, PEPPER, form, upload_files

REPORTS = 30


@pytest.fixture
def clock() -> Clock:
    return Clock(at(DAY, 0, 1))


@pytest.fixture
def store(db, clock) -> FilesystemBlobStore:
    return FilesystemBlobStore(db.app.config["BLOB_PATH"], SHANGHAI, clock)


def submit_night(db, store, clock, count=REPORTS) -> tuple[list[str], list[str]]:
    """``count`` reports between 00:01 and 07:59 in Shanghai on DAY; their ids and their blobs,
    each list in the order they came."""
    report_ids, keys = [], []
    for i in range(count):
        clock.at = at(DAY, 0, 1) + timedelta(minutes=i * 478 // count, seconds=i % 60)
        uploads = upload_files(
            store, [(f"第{i}号证据-现场记录.txt", "text/plain", f"证据内容{i}，".encode() * 300)]
        )
        with db() as session:
            submitted = submit(
                session,
                store,
                PEPPER,
                form(what=f"第{i}号举报：夜班期间仓库物资被私自运出。"),
                uploads,
                clock.at.date(),
                PARAMS,
            )
        with db() as session:
            envelopes = session.scalars(
                select(ReportEnvelope).where(ReportEnvelope.report_id == submitted.report_id)
            ).all()
        report_ids.append(submitted.report_id)
        # The file is written while the form is read, the text once it is checked.
        keys += [e.blob_key for e in envelopes if e.role == EnvelopeRole.attachment]
        keys += [e.blob_key for e in envelopes if e.role == EnvelopeRole.text]
    return report_ids, keys


def run_reset(db, store, clock, today=NEXT) -> str:
    clock.at = at(today, 10, 17, 23)
    with db.app.extensions["portal.db"].sessions() as session:  # as portal jobs run makes it
        return jobs.reset_report_times(JobContext(session, None, store, today))  # type: ignore[arg-type]


def last_day_done(db, store):
    """The pass's marker: the database's on PostgreSQL, the blob folder's on SQLite."""
    return day_reset.last_reset_day(db.app.extensions["portal.db"].engine, store)


def blob_path(store: FilesystemBlobStore, key: str) -> Path:
    return store.root / key[:2] / key


def digests(store: FilesystemBlobStore, keys: list[str]) -> dict[str, str]:
    found = {}
    for key in keys:
        with store.open(key) as blob:  # as the app reads them: their access time stays
            found[key] = hashlib.sha256(blob.read()).hexdigest()
    return found


def database_files(db) -> list[Path]:
    url = db.app.config["DATABASE_URL"]
    if not url.startswith("sqlite:///"):
        return []
    database = url.removeprefix("sqlite:///")
    return [Path(database + s) for s in ("", "-wal", "-shm") if Path(database + s).exists()]


def test_the_job_is_registered_next_to_publish():
    names = [job.name for job in jobs.JOBS]
    assert names[:2] == ["publish", "reset-times"]


def test_a_report_before_8am_in_shanghai_is_dated_by_its_shanghai_day(db, org, store, clock):
    clock.at = at(DAY, 3, 27, 41)  # 19:27 UTC on the day before
    uploads = upload_files(store, [("凌晨拍的照片说明.txt", "text/plain", "仓库后门".encode())])
    with db() as session:
        submitted = submit(session, store, PEPPER, form(), uploads, clock.at.date(), PARAMS)
    with db() as session:
        report = session.get(Report, submitted.report_id)
        assert report is not None and report.received_on == DAY
        keys = [e.blob_key for e in report.envelopes]
    midnight = day_start(DAY, SHANGHAI) * 10**9
    assert midnight == int(at(DAY, 0).timestamp()) * 10**9
    for key in keys:
        path = blob_path(store, key)
        for item in (path, path.parent, store.root):
            stat = os.stat(item)
            assert (stat.st_mtime_ns, stat.st_atime_ns) == (midnight, midnight), item
    for path in database_files(db):
        assert os.stat(path).st_mtime_ns == midnight, path


def test_reading_a_blob_leaves_its_access_time_at_the_day(db, org, store, clock):
    clock.at = at(DAY, 5)
    key = upload_files(store, [("记录.txt", "text/plain", "内容".encode() * 100)])[0].blob_key
    with store.open(key) as blob:
        assert blob.read()
    assert os.stat(blob_path(store, key)).st_atime_ns == day_start(DAY, SHANGHAI) * 10**9


def test_after_the_job_the_blobs_hold_no_time_finer_than_the_day(db, org, store, clock):
    _ids, keys = submit_night(db, store, clock)
    before = {key: os.stat(blob_path(store, key)).st_ino for key in keys}
    assert len(set(before.values())) == len(keys)
    contents = digests(store, keys)
    started = time.time_ns()
    said = run_reset(db, store, clock)
    assert f"{DAY}" in said and f"{len(keys)} blobs rewritten" in said, said
    assert digests(store, keys) == contents

    midnight = day_start(DAY, SHANGHAI) * 10**9
    # Every file and folder the reports wrote: blobs, their folders, the database's files.
    scanned = {path: os.stat(path) for path in database_files(db)}
    for path in database_files(db):
        scanned[path.parent] = os.stat(path.parent)
    scanned.update(scan(store.root))
    for path, stat in scanned.items():
        assert stat.st_ctime_ns >= started, f"{path} keeps a change time from before the job"
        if path.name == day_reset.MARKER:
            continue
        for name in ("st_mtime_ns", "st_atime_ns"):
            value = getattr(stat, name)
            assert value % 10**9 == 0, (path, name)
            assert datetime.fromtimestamp(value / 10**9, SHANGHAI).time() == clock_time(0), (
                path,
                name,
            )
    for key in keys:
        stat = os.stat(blob_path(store, key))
        assert (stat.st_mtime_ns, stat.st_atime_ns) == (midnight, midnight)
    # Inode numbers are new, and no longer in the order the files came.
    after = [os.stat(blob_path(store, key)).st_ino for key in keys]
    assert not set(after) & set(before.values())
    assert 0.2 < concordance(after) < 0.8, after
    # A copy made now (a backup) makes its files in the order it meets them: no order either.
    copy = Path(tempfile.mkdtemp(dir=store.root.parent.parent)) / "copy"
    shutil.copytree(store.root, copy)
    copied = [os.stat(copy / key[:2] / key).st_ino for key in keys]
    assert 0.2 < concordance(copied) < 0.8, copied
    assert not (store.root / ".staging").exists()
    assert not [p for p in store.root.iterdir() if p.name.endswith(".new")]
    with db() as session:
        assert fsck(session, store, org.all_identities(), min_age=0).ok


@pytest.fixture(params=["disk", "tmpfs"])
def blob_folder(request, tmp_path) -> Iterator[Path]:
    """A folder on the tests' disk, and one in memory (tmpfs), where ``ls -f`` lists entries
    in the order they were made (ext4 lists them in the order of a hash of their names)."""
    if request.param == "disk":
        yield tmp_path / "blobs"
        return
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        pytest.skip("no /dev/shm here")
    folder = Path(tempfile.mkdtemp(dir=shm, prefix="portal-test-"))
    try:
        yield folder / "blobs"
    finally:
        shutil.rmtree(folder)


def test_a_folder_s_entries_no_longer_keep_the_order_the_files_came_in(blob_folder, monkeypatch):
    clock = Clock(at(DAY, 2))
    store = FilesystemBlobStore(blob_folder, SHANGHAI, clock)
    # Forty blobs in one folder, written one after the other.
    monkeypatch.setattr(blobs_module.secrets, "token_hex", lambda n: "ab" + os.urandom(15).hex())
    keys = []
    for i in range(40):
        clock.at = at(DAY, 2, i)
        keys.append(store.put(_stream(f"第{i}份材料".encode() * 50), 10**6).key)
    folder = store.root / "ab"
    place = {key: i for i, key in enumerate(keys)}
    clock.at = at(NEXT, 9)
    result = store.rewrite_days(store.days_before(NEXT))
    assert result.rewritten == 40 and result.folders == 1 and result.folders_rebuilt
    listed = [place[name] for name in os.listdir(folder)]  # as ls -f, cp -r and tar see them
    assert sorted(listed) == list(range(40))
    assert 0.2 < concordance(listed) < 0.8, listed


def _stream(data: bytes):
    import io

    return io.BytesIO(data)


def test_today_s_blobs_and_writes_under_way_are_left_alone(db, org, store, clock):
    _ids, keys = submit_night(db, store, clock, count=3)
    clock.at = at(NEXT, 0, 30)
    todays = upload_files(store, [("今天的材料.txt", "text/plain", "今天".encode())])[0].blob_key
    writing = store.create(10**6)
    writing.write("写了一半".encode())
    inodes = {k: os.stat(blob_path(store, k)).st_ino for k in (todays, writing.key)}
    run_reset(db, store, clock)
    assert {k: os.stat(blob_path(store, k)).st_ino for k in inodes} == inodes
    writing.write("，写完了".encode())
    kept = writing.commit()
    assert blob_path(store, kept.key).read_bytes() == "写了一半，写完了".encode()
    assert all(blob_path(store, key).exists() for key in keys)


def test_the_job_is_idempotent_and_cheap_when_done(db, org, store, clock):
    _ids, keys = submit_night(db, store, clock, count=4)
    first = run_reset(db, store, clock)
    assert "8 blobs rewritten" in first
    state = {k: os.stat(blob_path(store, k)) for k in keys}
    again = run_reset(db, store, clock)
    assert again == f"nothing to do: the days up to {DAY} are reset"
    for key, stat in state.items():
        now = os.stat(blob_path(store, key))
        assert (now.st_ino, now.st_ctime_ns) == (stat.st_ino, stat.st_ctime_ns)
    assert last_day_done(db, store) == DAY
    # The next day, with nothing new: nothing rewritten, the marker moves on.
    later = run_reset(db, store, clock, today=NEXT + timedelta(days=1))
    assert "0 blobs rewritten" in later
    assert last_day_done(db, store) == NEXT


@pytest.mark.parametrize("where", ["copying", "swapping", "database"])
def test_a_crash_midway_loses_nothing_and_a_rerun_finishes(
    db, org, store, clock, monkeypatch, where
):
    _ids, keys = submit_night(db, store, clock, count=12)
    contents = digests(store, keys)
    calls = {"n": 0}

    def crash_on_third(real):
        def wrapped(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 3:
                raise OSError("power cut (simulated)")
            return real(*args, **kwargs)

        return wrapped

    with monkeypatch.context() as patch:
        if where == "copying":
            real = FilesystemBlobStore._stage_copy
            patch.setattr(FilesystemBlobStore, "_stage_copy", crash_on_third(real))
        elif where == "swapping":
            patch.setattr(blobs_module, "_exchange", crash_on_third(blobs_module._exchange))
        else:
            calls["n"] = 2
            patch.setattr(day_reset, "_settle_database", crash_on_third(day_reset._settle_database))
        with pytest.raises(OSError, match="power cut"):
            run_reset(db, store, clock)
    # Nothing is lost or damaged, and the day is not marked done.
    assert digests(store, keys) == contents
    assert last_day_done(db, store) is None
    with db() as session:
        assert fsck(session, store, org.all_identities(), min_age=0).ok
    started = time.time_ns()
    said = run_reset(db, store, clock)
    assert f"{len(keys)} blobs rewritten" in said
    assert digests(store, keys) == contents
    assert all(os.stat(blob_path(store, key)).st_ctime_ns >= started for key in keys)
    assert last_day_done(db, store) == DAY
    leftovers = [p.name for p in store.root.iterdir() if p.name.startswith(".")]
    on_postgresql = db.app.config["DATABASE_URL"].startswith("postgresql")
    assert leftovers == ([] if on_postgresql else [day_reset.MARKER])


def _first_occurrences(data: bytes, report_ids: list[str]) -> list[int]:
    """Where each report's id first appears in the bytes (those found only)."""
    found = [(data.find(rid.encode()), i) for i, rid in enumerate(report_ids)]
    return [i for offset, i in sorted(found) if offset >= 0]


def test_the_database_does_not_keep_the_order_the_reports_came_in(db, org, store, clock):
    if db.app.config["DATABASE_URL"].startswith("postgresql"):
        _postgresql_rows_do_not_keep_the_order(db, store, clock)
    else:
        _sqlite_files_do_not_keep_the_order(db, store, clock)


def _sqlite_files_do_not_keep_the_order(db, store, clock) -> None:
    report_ids, _keys = submit_night(db, store, clock)
    run_reset(db, store, clock)
    # The database file and its write-ahead log, as a copy of them would hold them.
    copied = b"".join(p.read_bytes() for p in database_files(db) if not p.name.endswith("-shm"))
    order = _first_occurrences(copied, report_ids)
    assert len(order) == REPORTS
    assert 0.2 < concordance(order) < 0.8, order
    assert all(p.stat().st_size == 0 for p in database_files(db) if p.name.endswith("-wal"))


def _postgresql_rows_do_not_keep_the_order(db, store, clock) -> None:
    report_ids, _keys = submit_night(db, store, clock)
    said = run_reset(db, store, clock)
    assert "CLUSTER" in said, said
    with db() as session:
        rows = {
            rid: (int(xmin), tuple(int(n) for n in ctid.strip("()").split(",")))
            for rid, xmin, ctid in session.execute(
                text("SELECT id, xmin::text, ctid::text FROM reports")
            )
        }
    xmins = [rows[rid][0] for rid in report_ids]
    ctids = [rows[rid][1] for rid in report_ids]
    assert len(set(xmins)) == 1  # one transaction wrote them all again
    assert 0.2 < concordance(ctids) < 0.8, ctids
    for table, column in (
        ("report_envelopes", "report_id"),
        ("report_readers", "report_id"),
        ("cases", "report_id"),
        ("inbox_entries", "report_id"),
    ):
        with db() as session:
            found = session.execute(
                text(f"SELECT {column}, xmin::text, ctid::text FROM {table}")
            ).all()
        assert len({xmin for _r, xmin, _c in found}) == 1, table


def test_blobs_dated_by_the_utc_day_of_earlier_versions_are_taken_too(db, org, store, clock):
    _ids, keys = submit_night(db, store, clock, count=2)
    utc_midnight = int(datetime.combine(DAY, clock_time(0), ZoneInfo("UTC")).timestamp())
    for key in keys:  # as the portal dated blobs before it knew the enterprise's zone
        os.utime(blob_path(store, key), (utc_midnight, utc_midnight))
    clock.at = at(NEXT, 0, 5)  # 16 hours after that stamp: not a day old
    with db.app.extensions["portal.db"].sessions() as session:
        said = jobs.reset_report_times(JobContext(session, None, store, NEXT))  # type: ignore[arg-type]
    assert "4 blobs rewritten" in said, said
    for key in keys:
        assert os.stat(blob_path(store, key)).st_mtime_ns == day_start(DAY, SHANGHAI) * 10**9
