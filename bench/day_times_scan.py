"""What a copy of the server tells of when a day's reports came, before and after the daily job.

    .venv/bin/python bench/day_times_scan.py [--reports 30]
        [--database-url postgresql://postgres@127.0.0.1:5432/test] [--keep]

Builds an instance in a temporary folder (SQLite, or a fresh schema in the given PostgreSQL
database, dropped at the end) with the report tests' organisation, and sends ``--reports``
reports, each with a file, at Shanghai times between 00:01 and 08:00 of one day (on the blob
store's clock; the rest of the system sees the real time, as it would). Then it scans:

1. the instance as it is before the job;
2. after ``reset-times`` ran the next morning: the instance itself (what a disk image or a
   snapshot keeps: change times, inode numbers) and a copy made with ``cp -a``.

For each: the files and folders the reports wrote (the blob folder, the database's files and
the instance folder) whose modification or access time is not
the start of a day in Shanghai, those whose change time falls inside the minutes the reports
came in, how far the blobs' inode numbers (and, in the copy, the order ``cp`` met them in)
follow the order the reports came in (the share of pairs in that order: 1.0 is the order,
0.5 is none), and the database's own order: on SQLite, the order in which the report ids
first appear in the database file and its write-ahead log; on PostgreSQL, the ``xmin`` and
``ctid`` of the report rows.

The target: after the job, no time finer than the day and no order (shares near 0.5).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the app, and tests.* for the organisation and schemas

from sqlalchemy import create_engine, select, text  # noqa: E402

from app import create_app  # noqa: E402
from app.db import Base  # noqa: E402
from app.models import EnvelopeRole, ReportEnvelope  # noqa: E402
from app.services import jobs  # noqa: E402
from app.services.blobs import FilesystemBlobStore  # noqa: E402
from app.services.reports.day_reset import MARKER  # noqa: E402
from app.services.reports.submission import submit  # noqa: E402
from tests.helpers.day_times import (  # noqa: E402
    DAY,
    NEXT,
    SHANGHAI,
    Clock,
    at,
    concordance,
    scan,
)
from tests.helpers.environment import create_schema, drop_schema, engine_url  # noqa: E402
from tests.helpers.reports import PARAMS, PEPPER, build_org, form, upload_files  # noqa: E402
from tests.helpers.weak_kdf import TEST_SEAL_PARAMS  # noqa: E402


def first_occurrences(data: bytes, ids: list[str]) -> list[int]:
    found = sorted((data.find(rid.encode()), i) for i, rid in enumerate(ids))
    return [i for offset, i in found if offset >= 0]


def report(title: str, root: Path, window: tuple[int, int], keys: list[str], db) -> None:
    # What the reports wrote: the blob folder, the database's files, the instance folder.
    # (keys/ and secrets/ are made when the instance is set up; the job's marker carries the
    # time the job ran.)
    stats = {
        path: stat
        for path, stat in scan(root).items()
        if path.name != MARKER
        and (path == root or path.name.startswith("portal.sqlite3") or "blobs" in path.parts)
    }

    def finer(ns: int) -> bool:
        when = datetime.fromtimestamp(ns // 10**9, SHANGHAI)
        return bool(ns % 10**9) or when.time() != datetime.min.time()

    print(f"\n== {title}: {len(stats)} files and folders under {root.name}/")
    for field in ("st_mtime_ns", "st_atime_ns"):
        found = sorted(p for p, s in stats.items() if finer(getattr(s, field)))
        print(f"  {field[3:8]} not the start of a Shanghai day: {len(found)}")
        for path in found[:4]:
            when = datetime.fromtimestamp(getattr(stats[path], field) / 1e9, SHANGHAI)
            print(f"    {path.relative_to(root)}  {when:%Y-%m-%d %H:%M:%S.%f}")
        if found and field == "st_atime_ns" and all(p.is_dir() for p in found):
            print("    (folders only: the time they were last listed, by this scan or by cp, on")
            print("    a relatime mount; mount the instance noatime to keep them)")
    inside = [p for p, s in stats.items() if window[0] <= s.st_ctime_ns <= window[1]]
    blobs = root / "blobs"
    inodes = [stats[blobs / key[:2] / key].st_ino for key in keys]
    print(f"  ctime inside the minutes the reports came in: {len(inside)}")
    for path in sorted(inside)[:4]:
        print(f"    {path.relative_to(root)}")
    print(f"  blobs' inode numbers in the order the reports came: {concordance(inodes):.2f}")
    db(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=30)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="day-times-"))
    instance = folder / "instance"
    instance.mkdir()
    schema = None
    if args.database_url:
        url, schema = create_schema(args.database_url)
    else:
        url = f"sqlite:///{instance}/portal.sqlite3"
    os.environ["PORTAL_INSTANCE_PATH"] = str(instance)
    config = {"DATABASE_URL": url, "TESTING": True, "SEAL_PARAMS": TEST_SEAL_PARAMS}
    app = create_app("console", {**config, "RECEIPT_PARAMS": PARAMS})
    engine = create_engine(engine_url(url))
    Base.metadata.create_all(engine)
    database = app.extensions["portal.db"]
    try:
        with database.session() as session:
            build_org(session)
        clock = Clock(at(DAY, 0, 1))
        store = FilesystemBlobStore(app.config["BLOB_PATH"], SHANGHAI, clock)
        ids, keys = [], []
        first = time.time_ns()
        for i in range(args.reports):
            clock.at = at(DAY, 0, 1) + timedelta(minutes=i * 478 // args.reports)
            files = [(f"第{i}号证据.txt", "text/plain", f"证据{i}".encode() * 300)]
            uploads = upload_files(store, files)
            with database.session() as session:
                done = submit(
                    session, store, PEPPER, form(what=f"第{i}号举报"), uploads, DAY, PARAMS
                )
            with database.session() as session:
                rows = session.scalars(
                    select(ReportEnvelope).where(ReportEnvelope.report_id == done.report_id)
                ).all()
            ids.append(done.report_id)
            keys += [e.blob_key for e in rows if e.role == EnvelopeRole.attachment]
            keys += [e.blob_key for e in rows if e.role == EnvelopeRole.text]
        window = (first, time.time_ns())

        def database_order(root: Path) -> None:
            if schema is None:
                data = b"".join(
                    (root / name).read_bytes()
                    for name in ("portal.sqlite3", "portal.sqlite3-wal")
                    if (root / name).exists()
                )
                wal = root / "portal.sqlite3-wal"
                size = wal.stat().st_size if wal.exists() else 0
                order = concordance(first_occurrences(data, ids))
                print(f"  report ids in the database files, in the order they came: {order:.2f}")
                print(f"  write-ahead log: {size} bytes")
                return
            with engine.connect() as connection:
                rows = dict(
                    (rid, (int(x), tuple(map(int, c.strip("()").split(",")))))
                    for rid, x, c in connection.execute(
                        text("SELECT id, xmin::text, ctid::text FROM reports")
                    )
                )
            xmins = [rows[r][0] for r in ids]
            ctids = [rows[r][1] for r in ids]
            if len(set(xmins)) == 1:
                print("  reports' xmin: 1 value (one transaction wrote them all)")
            else:
                print(
                    f"  reports' xmin: {len(set(xmins))} values, in order {concordance(xmins):.2f}"
                )
            print(f"  reports' ctid in the order they came: {concordance(ctids):.2f}")

        report("before the job", instance, window, keys, database_order)
        clock.at = at(NEXT, 6, 30)
        with database.sessions() as session:
            context = jobs.JobContext(session, None, store, NEXT)  # type: ignore[arg-type]
            print("\nportal jobs run reset-times:", jobs.reset_report_times(context))
        report("after the job, the instance itself", instance, window, keys, database_order)
        copy = folder / "copy"  # (cp reads every file: the instance's access times are then its)
        subprocess.run(["cp", "-a", str(instance), str(copy)], check=True)
        report("after the job, a copy made with cp -a", copy, window, keys, database_order)
    finally:
        database.engine.dispose()
        engine.dispose()
        if schema is not None:
            drop_schema(args.database_url, schema)
        if args.keep:
            print(f"\nkept: {folder}")
        else:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
