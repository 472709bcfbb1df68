"""Benchmark of the bulk import of disclosures (``portal disclosures import``).

    python bench/import_bench.py [--items 20000] [--database-url postgresql://...]
                                 [--reference-items 1000] [--jobs N] [--repeat 1]

For SQLite, and for a fresh schema in PostgreSQL when ``--database-url`` is given, it makes
a fresh demo instance (``portal demo``), writes ``--items`` synthetic items
(``bench/synthetic_disclosures.py``: mixed Chinese and English, a few amendments and
retractions), imports them with ``portal disclosures import`` in a process of its own and
prints items/s. The reference, measured in the same run on another fresh instance of the
same backend, is the import as it was done before batching: each line in its own savepoint
through the console workflow's services (``bulk_import.store_item``), committed every 500
lines, on the first ``--reference-items`` lines of the same file. The ratio is the batched
rate over the one-by-one rate. It also prints the CPU time per item of each (the import's
processes, its start and workers included; the reference's loop alone), which a machine shared
with other work disturbs less than rates. ``portal log verify`` must pass after the import.

Targets: at least 1,000 items/s on SQLite and 500 items/s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the app, and tests.helpers for PostgreSQL schemas

from bench.synthetic_disclosures import write_synthetic  # noqa: E402

TARGETS = {"sqlite": 1000.0, "postgresql": 500.0}

ONE_BY_ONE = r"""
import sys, time
from itertools import islice
from pathlib import Path
from flask_babel import force_locale
from app import create_app
from app.i18n import today
from app.resources import blob_store
from app.services.disclosures import bulk_import
from app.services.disclosures.bulk_format import Lookups, parse_line
from app.web import runtime

path, count = Path(sys.argv[1]), int(sys.argv[2])
app = create_app("console")
with app.app_context(), force_locale("en"):
    session = app.extensions["portal.db"].sessions()
    lookups = Lookups.load(session)
    zone, day, blobs = runtime.local_zone(), today(), blob_store()
    max_bytes = app.config["ATTACHMENT_MAX_BYTES"]
    start, cpu = time.perf_counter(), time.process_time()
    with path.open("rb") as fh:
        for number, raw in enumerate(islice(fh, count), start=1):
            item = parse_line(raw.decode(), path.parent, lookups, day, max_bytes)
            with session.begin_nested():
                bulk_import.store_item(session, blobs, item, zone, max_bytes, [])
            if number % 500 == 0:
                session.commit()
                session.expunge_all()
    session.commit()
    print(time.perf_counter() - start, time.process_time() - cpu)
"""


def _portal(env: dict, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "from app.main import main; main()", *args]
    result = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"portal {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


class Instance:
    """A fresh demo instance: a folder, and an SQLite file or a PostgreSQL schema."""

    def __init__(self, workdir: Path, name: str, database_url: str | None) -> None:
        self.path = workdir / name
        self.path.mkdir()
        self.base_url = database_url
        self.schema = None
        if database_url:
            from tests.helpers.environment import create_schema

            url, self.schema = create_schema(database_url, "bench_" + secrets.token_hex(4))
        else:
            url = f"sqlite:///{self.path / 'portal.sqlite3'}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")} | {
            "PORTAL_INSTANCE_PATH": str(self.path),
            "PORTAL_DATABASE_URL": url,
        }
        _portal(self.env, "demo")

    def close(self) -> None:
        if self.schema:
            from tests.helpers.environment import drop_schema

            drop_schema(self.base_url, self.schema)


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (and theirs: the import's workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(backend: str, args: argparse.Namespace, data: Path, workdir: Path) -> None:
    url = args.database_url if backend == "postgresql" else None
    rates, reference = [], []
    cpu_ms, reference_cpu = [], []  # CPU per item: steadier than rates on a shared machine
    for run in range(args.repeat):
        # The reference and the batched import alternate, so that both see the same load.
        one = Instance(workdir, f"{backend}-one-{run}", url)
        try:
            count = min(args.reference_items, args.items)
            cmd = [sys.executable, "-c", ONE_BY_ONE, str(data), str(count)]
            out = subprocess.run(
                cmd, env=one.env, cwd=REPO, capture_output=True, text=True, check=True
            )
            wall, cpu = map(float, out.stdout.strip().splitlines()[-1].split())
            reference.append(count / wall)
            reference_cpu.append(cpu / count * 1000)
        finally:
            one.close()
        batched = Instance(workdir, f"{backend}-batched-{run}", url)
        try:
            jobs = ["--jobs", str(args.jobs)] if args.jobs else []
            start = time.perf_counter()
            used = _children_cpu()
            result = _portal(batched.env, "disclosures", "import", str(data), *jobs)
            elapsed = time.perf_counter() - start
            cpu_ms.append((_children_cpu() - used) / args.items * 1000)
            if f"Imported {args.items} disclosures; 0 lines failed." not in result.stdout:
                raise SystemExit(result.stdout + result.stderr)
            rates.append(args.items / elapsed)
            verify = _portal(batched.env, "log", "verify")
            print(f"  {verify.stdout.strip().splitlines()[0]}")
        finally:
            batched.close()
        print(
            f"  run {run + 1}: batched {rates[-1]:.0f} items/s (whole command, process start "
            f"included); one by one {reference[-1]:.0f} items/s;"
            f" ratio {rates[-1] / reference[-1]:.1f}x; CPU per item {cpu_ms[-1]:.2f} ms (all"
            f" processes, start included) against {reference_cpu[-1]:.2f} ms:"
            f" {reference_cpu[-1] / cpu_ms[-1]:.1f}x less"
        )
    rate = sorted(rates)[len(rates) // 2]
    ref = sorted(reference)[len(reference) // 2]
    target = TARGETS[backend]
    verdict = "meets" if rate >= target else "MISSES"
    print(
        f"{backend}: {args.items} items imported at {rate:.0f} items/s (median of {len(rates)}),"
        f" one by one {ref:.0f} items/s: ratio {rate / ref:.1f}x;"
        f" target {target:.0f} items/s: {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--database-url", help="PostgreSQL URL (fresh schemas are used)")
    parser.add_argument("--reference-items", type=int, default=1000)
    parser.add_argument("--jobs", type=int, help="passed to the import (default: its own)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--postgresql-only", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="portal-import-bench-"))
    try:
        data = workdir / "synthetic.jsonl"
        write_synthetic(data, args.items)
        print(
            f"{args.items} synthetic items, {data.stat().st_size / 1e6:.1f} MB;"
            f" {os.cpu_count()} CPUs"
        )
        if not args.postgresql_only:
            measure("sqlite", args, data, workdir)
        if args.database_url and not args.sqlite_only:
            measure("postgresql", args, data, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
