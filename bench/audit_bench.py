"""``portal audit verify`` over a million entries, against hashing the same records alone.

    .venv/bin/python bench/audit_bench.py [--entries 1000000] [--checkpoints 10]
        [--database-url postgresql://postgres@127.0.0.1:5432/test]

Builds an instance in a temporary folder (SQLite, or a fresh schema in the given PostgreSQL
database, dropped at the end) with a few staff accounts and ``--entries`` audit entries
(Chinese details and case ids, the chain and the leaf hashes as ``record`` makes them,
written in bulk), signs a checkpoint every ``entries / checkpoints`` entries, and times:

- ``verify``: what ``portal audit verify`` runs (``app.services.audit.verify``): every row
  read from the database, its record rebuilt and hashed, the chain, and every checkpoint's
  signature and root;
- the reference, in the same run: SHA-256 of the same records (already in memory, encoded
  once) with ``hashlib`` alone, the floor of any check that recomputes every leaf.

It prints both times and the ratio verify / reference. The target: verify under a minute
for 1,000,000 entries on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the app, and tests.* for the schemas

from sqlalchemy import create_engine, insert  # noqa: E402

from app import create_app  # noqa: E402
from app.db import Base  # noqa: E402
from app.models import AuditCheckpoint, AuditEntry, StaffUser  # noqa: E402
from app.services import audit  # noqa: E402
from crypto import tlog  # noqa: E402
from tests.helpers.environment import create_schema, drop_schema, engine_url  # noqa: E402

ACTIONS = [a.value for a in audit.AuditAction]
DETAILS = ["", "", "", "交办：请核实采购问题", "紧急", "received -> acknowledged", "to office MCH"]
COLUMNS = (
    "log_index",
    "leaf_hash",
    "previous_hash",
    "on_date",
    "actor_id",
    "actor_username",
    "action",
    "case_id",
    "subject_id",
    "subject_username",
    "detail",
)
BATCH = 20_000


def make_rows(count: int, staff: list[tuple[int, str]], rng: random.Random):
    """Yield (row, record) in log order: rows as ``record`` writes them."""
    previous = ""
    start = date(2026, 1, 1)
    cases = [f"案{n:05d}-{rng.randrange(16**8):08X}" for n in range(20_000)]
    for index in range(count):
        actor_id, actor = staff[rng.randrange(len(staff))]
        subject = staff[rng.randrange(len(staff))] if index % 7 == 0 else (None, None)
        action = ACTIONS[index % len(ACTIONS)]
        case_id = cases[rng.randrange(len(cases))] if index % 3 else None
        detail = DETAILS[index % len(DETAILS)]
        on_date = start + timedelta(days=index * 300 // count)
        record = audit._encode(
            previous, on_date, actor_id, actor, action, case_id, subject[0], subject[1], detail
        )
        leaf = tlog.leaf_hash(record).hex()
        row = (index, leaf, previous, on_date, actor_id, actor, action, case_id, *subject, detail)
        yield row, record
        previous = leaf


def fill(app, count: int, checkpoints: int) -> tuple[list[bytes], int]:
    """Write ``count`` entries and the checkpoints; return the records (the reference's input)
    and how many checkpoints were signed."""
    database = app.extensions["portal.db"]
    keys = app.extensions["portal.audit_log"]
    with database.session() as session:
        for n, name in enumerate(["审计员 auditor", "mch.head", "grp.insp1", "f1.insp"]):
            session.add(
                StaffUser(
                    username=f"user{n}", display_name=name, password_hash="!", totp_secret="A"
                )
            )
    with database.session() as session:
        staff = [(u.id, u.username) for u in session.query(StaffUser).order_by(StaffUser.id)]
    every = max(1, count // checkpoints)
    records: list[bytes] = []
    frontier = audit._Frontier()
    batch: list[tuple] = []
    notes: list[dict] = []
    engine = database.engine
    postgres = engine.dialect.name == "postgresql"

    def flush() -> None:
        if not batch:
            return
        with engine.begin() as connection:
            if postgres:
                cursor = connection.connection.driver_connection.cursor()
                with cursor.copy(f"COPY audit_entries ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for row in batch:
                        copy.write_row(row)
            else:
                values = [dict(zip(COLUMNS, row, strict=True)) for row in batch]
                connection.execute(insert(AuditEntry.__table__), values)
        batch.clear()

    for row, record in make_rows(count, staff, random.Random(1)):
        records.append(record)
        batch.append(row)
        frontier.append(bytes.fromhex(row[1]))
        if frontier.size % every == 0 or frontier.size == count:
            root = frontier.root()
            note = tlog.Checkpoint(keys.origin, frontier.size, root).sign(keys.signer)
            notes.append(
                {
                    "size": frontier.size,
                    "root_hash": root.hex(),
                    "note": note,
                    "signed_on": date(2026, 11, 30),
                }
            )
        if len(batch) >= BATCH:
            flush()
    flush()
    with engine.begin() as connection:
        connection.execute(insert(AuditCheckpoint.__table__), notes)
    return records, len(notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--checkpoints", type=int, default=10)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    instance = folder / "instance"
    instance.mkdir()
    schema = None
    if args.database_url:
        url, schema = create_schema(args.database_url)
    else:
        url = f"sqlite:///{instance}/portal.sqlite3"
    os.environ["PORTAL_INSTANCE_PATH"] = str(instance)
    app = create_app("console", {"DATABASE_URL": url, "TESTING": True})
    engine = create_engine(engine_url(url))
    Base.metadata.create_all(engine)
    engine.dispose()
    try:
        started = time.perf_counter()
        records, signed = fill(app, args.entries, args.checkpoints)
        backend = "PostgreSQL" if schema else "SQLite"
        took = time.perf_counter() - started
        print(f"{backend}: {args.entries:,} entries, {signed} checkpoints written in {took:.1f} s")

        started = time.perf_counter()
        for record in records:
            hashlib.sha256(b"\x00" + record).digest()
        reference = time.perf_counter() - started

        keys = app.extensions["portal.audit_log"]
        database = app.extensions["portal.db"]
        started = time.perf_counter()
        with database.session() as session:
            result = audit.verify(session, keys.verifier(), keys.origin)
        verify = time.perf_counter() - started
        assert result.ok, result.problems[:5]
        assert (result.size, result.checkpoints) == (args.entries, signed)
        print(f"reference (hashlib over the same records in memory): {reference:.2f} s")
        print(f"portal audit verify: {verify:.2f} s ({result.checkpoints} checkpoints)")
        print(f"ratio verify / reference: {verify / reference:.1f}x")
        print(f"target: under 60 s: {'met' if verify < 60 else 'MISSED'}")
    finally:
        app.extensions["portal.db"].engine.dispose()
        if schema is not None:
            drop_schema(args.database_url, schema)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
