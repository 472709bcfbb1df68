"""Benchmark of several servers on one PostgreSQL and one Redis: tips and pages with one
server and with two, and the blob store's throughput against PostgreSQL's own ``COPY``.

    .venv/bin/python bench/scale_bench.py --database-url postgresql://postgres@127.0.0.1:5432/test
        --redis-url redis://127.0.0.1:6379/5 [--clients 16] [--duration 20] [--warm-up 3]
        [--page-seconds 10] [--connections 16] [--blob-mib 100] [--keep]

Builds a fresh schema in the given PostgreSQL database (dropped at the end) and two instance
folders that share nothing on disk but what every machine is given the same (the secret
keys, the receipt pepper and the log keys, copied once as an operator would; see
docs/operations.md, "Several servers"). Both servers run ``portal serve`` as production does
(production receipt parameters; only the rate limits lifted), on the same schema and Redis
database.

1. One server (A): public pages per second (the home page and the disclosure index, with
   ``wrk`` when installed, else a Python keep-alive pool) and tips per second
   (``--clients`` reporters in a loop, each sending a report with a 100 KB file).
2. Two servers (A and B) in the same run: the same load spread evenly over both. Both servers
   run on this machine, so the ratio two/one tells what sharing the database and Redis costs
   or gains on the same cores, not what a second machine adds: on separate machines each
   server has its own cores and the database is the shared part.
3. The blob store (``BLOB_STORE=postgresql``): MB/s writing a 100 MiB report file through the
   store (in chunks, committed with its transaction) and reading it back, against ``COPY``
   of the same bytes, in rows of the same chunk size, into a table of the same schema
   (PostgreSQL's own bulk path: the ceiling for bytes going into it).
"""

from __future__ import annotations

import argparse
import copy
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the app, and tests.* for PostgreSQL schemas and the client

from bench.disclosures_bench import _pool, _wrk  # noqa: E402
from bench.servers import Serve  # noqa: E402
from bench.tips_bench import NO_LIMITS  # noqa: E402
from bench.tips_clients import ATTACHMENT_BYTES, Load, run_load  # noqa: E402

PORTAL = Path(sys.executable).parent / "portal"
PAGES = ("/", "/disclosures")
# What every server must be given the same, as files under the instance folder (the rest of
# the shared settings live in the database or are passed as PORTAL_* variables).
SHARED_FOLDERS = ("secrets", "keys")


def _load_pages(ports: list[int], path: str, seconds: int, connections: int) -> dict:
    """One load generator per server, at once; req/s summed, worst p99 and errors summed."""
    load = _wrk if shutil.which("wrk") else _pool
    each = max(1, connections // len(ports))
    results: list[dict] = [{}] * len(ports)

    def run(index: int, port: int) -> None:
        results[index] = load(port, path, seconds, each)

    threads = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(ports)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "rps": sum(r["rps"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "errors": sum(r["errors"] for r in results),
    }


def _tips(servers: list[Serve], args: argparse.Namespace) -> tuple[float, int, list[str]]:
    """(tips/s in the measured window, receipts in it, errors): the clients split evenly."""
    results: list[tuple[Load, float, float, str]] = []
    lock = threading.Lock()

    def run(serve: Serve, clients: int) -> None:
        own = copy.copy(args)
        own.clients = clients
        outcome = run_load(serve, own)
        with lock:
            results.append(outcome)

    share = max(1, args.clients // len(servers))
    threads = [threading.Thread(target=run, args=(s, share)) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    start = max(r[1] for r in results)
    end = min(r[2] for r in results)
    done = [d for r in results for d in r[0].done if start <= d[0] <= end]
    errors = [error for r in results for error in r[0].errors]
    stalls = [r[3] for r in results if r[3]]
    if stalls:
        print("STALLED: " + "; ".join(stalls))
    return len(done) / max(end - start, 1e-9), len(done), errors


def _blob_throughput(env: dict[str, str], size: int) -> None:
    from sqlalchemy import text

    from app import create_app
    from app.services.pg_blobs import CHUNK_BYTES

    os.environ.update(env | {"PORTAL_BLOB_STORE": "postgresql"})
    app = create_app("console")
    store = app.extensions["portal.blobs"]
    database = app.extensions["portal.db"]
    block = os.urandom(1 << 20)

    with database.session() as session:
        start = time.perf_counter()
        writer = store.bound(session).create(size)
        for _ in range(size // len(block)):
            writer.write(block)
        stored = writer.commit()
        session.commit()
        write_seconds = time.perf_counter() - start

    start = time.perf_counter()
    read = 0
    with store.open(stored.key) as reader:
        while data := reader.read(1 << 20):
            read += len(data)
    read_seconds = time.perf_counter() - start
    assert read == size, (read, size)

    with database.engine.connect() as conn:
        # A table like the store's (logged, in the same schema), dropped afterwards.
        conn.execute(text("CREATE TABLE bench_copy (seq integer PRIMARY KEY, data bytea)"))
        conn.commit()
        raw = conn.connection.dbapi_connection
        start = time.perf_counter()
        with (
            raw.cursor() as cursor,
            cursor.copy("COPY bench_copy (seq, data) FROM STDIN (FORMAT BINARY)") as copying,
        ):
            copying.set_types(["int4", "bytea"])
            sequence = 0
            for _ in range(size // len(block)):
                view = memoryview(block)
                for offset in range(0, len(view), CHUNK_BYTES):
                    copying.write_row((sequence, view[offset : offset + CHUNK_BYTES]))
                    sequence += 1
        raw.commit()
        copy_seconds = time.perf_counter() - start
        conn.execute(text("DROP TABLE bench_copy"))
        conn.commit()

    with database.session() as session:
        store.bound(session).delete(stored.key)
        session.commit()

    mib = size / (1 << 20)
    print(
        f"\nBlob store (PostgreSQL, {CHUNK_BYTES // 1024} KiB chunks), one {mib:.0f} MiB file:"
        f"\n  {'write':<22}{mib / write_seconds:>8.1f} MiB/s"
        f"\n  {'read':<22}{mib / read_seconds:>8.1f} MiB/s"
        f"\n  {'COPY, same bytes':<22}{mib / copy_seconds:>8.1f} MiB/s"
        f"\n  write / COPY: {copy_seconds / write_seconds:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="PostgreSQL (a fresh schema)")
    parser.add_argument("--redis-url", required=True, help="a Redis database of its own")
    parser.add_argument("--clients", type=int, default=16, help="reporters in all")
    parser.add_argument("--duration", type=float, default=20, help="measured seconds of tips")
    parser.add_argument("--warm-up", type=float, default=3)
    parser.add_argument("--page-seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16, help="page connections in all")
    parser.add_argument("--blob-mib", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    args.count = None
    args.stall_seconds = 30

    from tests.helpers.environment import create_schema, drop_schema

    workdir = Path(tempfile.mkdtemp(prefix="portal-scale-bench-"))
    database_url, schema = create_schema(args.database_url, "bench_scale_" + secrets.token_hex(4))
    base = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")} | NO_LIMITS
    base |= {
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_RATELIMIT_STORAGE_URI": args.redis_url,
    }
    instances = [workdir / "a", workdir / "b"]
    envs = [base | {"PORTAL_INSTANCE_PATH": str(folder)} for folder in instances]
    servers: list[Serve] = []
    try:
        made = subprocess.run([PORTAL, "demo"], env=envs[0], capture_output=True, text=True)
        if made.returncode != 0:
            raise SystemExit(made.stderr[-2000:])
        instances[1].mkdir()
        for name in SHARED_FOLDERS:
            if (instances[0] / name).exists():
                shutil.copytree(instances[0] / name, instances[1] / name)
        for index, env in enumerate(envs):
            tmp = workdir / f"tmp-{index}"
            tmp.mkdir()
            servers.append(Serve(PORTAL, env | {"TMPDIR": str(tmp)}, workdir / f"{index}.log", 2))
        for serve in servers:
            serve.wait_until_up()
        cores = len(os.sched_getaffinity(0))
        print(
            f"PostgreSQL schema {schema}, Redis {args.redis_url}; {cores} cores; each server: "
            f"portal serve, 2 public workers. Load: {'wrk' if shutil.which('wrk') else 'pool'}"
        )

        figures: dict[str, list[float]] = {}
        for count in (1, 2):
            ports = [s.port for s in servers[:count]]
            for path in PAGES:
                _load_pages(ports, path, 2, args.connections)  # warm-up
                page = _load_pages(ports, path, args.page_seconds, args.connections)
                figures.setdefault(path, []).append(page["rps"])
                print(
                    f"{count} server(s), page {path:<13} {page['rps']:>8.0f} req/s  "
                    f"p99 {page['p99_ms']:>6.1f} ms  errors {page['errors']}"
                )
            tips, receipts, errors = _tips(servers[:count], args)
            figures.setdefault("tips", []).append(tips)
            print(
                f"{count} server(s), tips ({args.clients} clients, {ATTACHMENT_BYTES // 1024} KiB "
                f"file each) {tips:>6.2f} tips/s  ({receipts} receipts, {len(errors)} errors)"
            )
            if errors:
                kinds = {kind: errors.count(kind) for kind in sorted(set(errors))}
                print("  errors: " + ", ".join(f"{n} x {kind}" for kind, n in kinds.items()))
        print("\nTwo servers / one server, same run:")
        for name, (one, two) in figures.items():
            print(f"  {name:<14} {two / one:>5.2f}")
        for serve in servers:
            serve.stop()
        servers = []
        if args.blob_mib:
            _blob_throughput(envs[0], args.blob_mib << 20)
    finally:
        for serve in servers:
            serve.stop()
        drop_schema(args.database_url, schema)
        if args.keep:
            print(f"Kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
