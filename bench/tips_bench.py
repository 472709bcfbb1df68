"""Benchmark of anonymous tip submissions: 64 reporters at once, each sending a 100 KB file.

    .venv/bin/python bench/tips_bench.py [--database-url postgresql://postgres@127.0.0.1:5432/test]
        [--clients 64] [--duration 30] [--warm-up 5] [--count N] [--upload-mib 100]
        [--workers N --redis-url redis://127.0.0.1:6379/0] [--threads N] [--profile] [--keep]

Builds a fresh instance in a temporary folder (SQLite, or a fresh schema in the given
PostgreSQL database, dropped at the end), loads the demo organisation and starts
``portal serve`` on it as production runs it: production receipt parameters, no test
overrides; only the rate limits are lifted. The server's TMPDIR is a fresh folder.

1. The reference, measured in this process before the load: one receipt derivation
   (``crypto.receipts.derive_receipt``, production Argon2id parameters), wall and CPU time.
   The KDF-bound limit is cores / wall time of one derivation. OpenSSL runs a derivation's
   lanes on up to min(lanes, cores) threads, so its CPU time exceeds its wall time and that
   limit is more than the CPU can give: the limit by CPU time (cores / CPU time of one
   derivation) and the server's CPU per receipt are printed too.
2. One report with a single 100 MiB file: peak RSS growth of the public app's gunicorn
   worker(s), sampled from /proc every 20 ms, and no plaintext of the file in the server's
   TMPDIR (its files after the upload, and files the workers held open there during it).
3. ``--clients`` reporters, each in a loop: GET the form (CSRF token), POST a report with a
   100 KB file, follow the redirect to the receipt. Measured over ``--duration`` seconds after
   ``--warm-up`` seconds of the same load (or until ``--count`` receipts): tips/s, p50/p95 of
   the POST-to-receipt latency, errors, and the ratio to the KDF-bound limit.

``--profile`` then runs a few submissions in this process under cProfile: where a submission's
time goes (derivation, sealing, durable commit). A stall (no receipt and no CPU used by the
public workers for ``--stall-seconds``, as when concurrent Argon2id derivations deadlocked in
OpenSSL's thread pool) is reported with the workers' thread states, and the server is killed.

More than one worker needs ``--redis-url`` (rate limits, receipt hand-over and follow-up
sessions are shared there): give it a Redis database of its own; the bench's keys expire.

Targets: tips/s >= 0.8x the KDF-bound limit with zero errors; peak RSS growth < 100 MB while
one 100 MiB file uploads; no plaintext in the temporary folder.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the app, and tests.* for PostgreSQL schemas and the client

from bench.servers import (  # noqa: E402
    HOST,
    Serve,
    machine_busy,
)
from bench.tips_clients import ATTACHMENT_BYTES, WHAT, big_upload, run_load  # noqa: E402
from crypto.receipts import (  # noqa: E402
    DEFAULT_RECEIPT_PARAMS,
    derive_receipt,
    new_receipt_code,
)
from tests.helpers.report_client import (  # noqa: E402
    Attachment,
    Browser,
)

PORTAL = Path(sys.executable).parent / "portal"
RATIO_TARGET = 0.8
RSS_TARGET_BYTES = 100 * 1000 * 1000
NO_LIMITS = {
    "PORTAL_RATELIMIT_DEFAULT": "1000000 per minute",
    "PORTAL_RATELIMIT_REPORTS": "1000000 per hour",
    "PORTAL_REPORT_NOSCRIPT_WAIT_MINUTES": "0",  # the clients send forms without script
    # Every client sends from this machine's address: each stands for a client of its own.
    "PORTAL_BODY_READS_PER_CLIENT": "1000000",
}


# --- the reference: one receipt derivation ----------------------------------------------------


@dataclass(frozen=True)
class KdfTime:
    wall: float
    cpu: float
    samples: int
    fastest: float


def measure_kdf(samples: int) -> KdfTime:
    """Median wall and CPU time (all threads of this process) of one production derivation."""
    pepper = secrets.token_bytes(32)
    derive_receipt(new_receipt_code(), pepper, DEFAULT_RECEIPT_PARAMS)  # warm-up
    walls, cpus = [], []
    for _ in range(samples):
        code = new_receipt_code()
        wall, cpu = time.perf_counter(), time.process_time()
        derive_receipt(code, pepper, DEFAULT_RECEIPT_PARAMS)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return KdfTime(statistics.median(walls), statistics.median(cpus), samples, min(walls))


# --- where a submission's time goes ------------------------------------------------------------


def profile_in_process(env: dict[str, str], submissions: int) -> None:
    os.environ.update(env)
    from app import create_app
    from app.services.reports import submission
    from app.services.reports.uploads import UploadBatch
    from crypto.receipts import RECEIPT_VERSIONS

    app = create_app("public")
    blobs = app.extensions["portal.blobs"]
    database = app.extensions["portal.db"]
    pepper = app.config["RECEIPT_PEPPER"].encode()
    data = os.urandom(ATTACHMENT_BYTES)

    def submit(number: int) -> None:
        batch = UploadBatch(blobs)
        batch.new_file(f"采购合同（第{number}份）.bin", "application/octet-stream").write(data)
        form = submission.ReportFields(
            "misconduct", "procurement_bidding", "MCH-W1", "staff", what=WHAT.format(n=number)
        )
        with database.session() as session:
            submission.submit(
                session, blobs, pepper, form, batch.finish(), date.today(), RECEIPT_VERSIONS
            )

    submit(0)  # warm-up
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for number in range(1, submissions + 1):
        submit(number)
    profiler.disable()
    each = (time.perf_counter() - start) / submissions
    stats = pstats.Stats(profiler)
    wanted = {
        "derive_receipt": "Argon2id derivation",
        "seal_payload": "encrypt the report's text",
        "finish": "finish the attachment's blob",
        "commit_durably": "durable commit",
        "prepare_durable_commit": "synchronous commit set-up",
        "fsync": "os.fsync (blobs and folders)",
        "check_fields": "check the fields",
        "route_report": "route",
        "_rows": "make the rows",
    }
    print(f"\nIn-process submission, {submissions} in a row: {each * 1000:.0f} ms each")
    totals: dict[str, float] = {}
    for (_file, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if name in wanted:
            totals[name] = totals.get(name, 0.0) + row[3]
    for name, label in wanted.items():
        if name in totals:
            share = totals[name] / submissions
            print(f"  {label:<32} {share * 1000:>7.1f} ms  {share / each:>5.0%}")


# --- main --------------------------------------------------------------------------------------


def _mb(value: float) -> str:
    return f"{value / 1e6:.1f} MB"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(len(ordered) * fraction) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL URL (a fresh schema is used)")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--duration", type=float, default=30, help="measured seconds")
    parser.add_argument("--warm-up", type=float, default=5, help="seconds of load not measured")
    parser.add_argument("--count", type=int, help="stop after this many receipts instead")
    parser.add_argument("--upload-mib", type=int, default=100, help="the single large file")
    parser.add_argument("--workers", type=int, help="public worker processes (portal serve)")
    parser.add_argument("--threads", type=int, help="threads per worker (PORTAL_THREADS)")
    parser.add_argument("--redis-url", help="rate limits and sessions in Redis (>1 worker)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per request")
    parser.add_argument("--stall-seconds", type=float, default=20)
    parser.add_argument("--kdf-samples", type=int, default=10)
    parser.add_argument("--profile", action="store_true", help="profile in-process submissions")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="portal-tips-bench-"))
    instance, tmpdir = workdir / "instance", workdir / "server-tmp"
    tmpdir.mkdir()
    schema = None
    if args.database_url:
        from tests.helpers.environment import create_schema

        database_url, schema = create_schema(
            args.database_url, "bench_tips_" + secrets.token_hex(4)
        )
        backend = "postgresql"
    else:
        database_url = f"sqlite:///{instance / 'portal.sqlite3'}"
        backend = "sqlite"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")} | NO_LIMITS
    env |= {"PORTAL_INSTANCE_PATH": str(instance), "PORTAL_DATABASE_URL": database_url}
    if args.threads:
        env["PORTAL_THREADS"] = str(args.threads)
    if args.redis_url:
        env["PORTAL_RATELIMIT_STORAGE_URI"] = args.redis_url
    serve = None
    try:
        made = subprocess.run([PORTAL, "demo"], env=env, capture_output=True, text=True)
        if made.returncode != 0:
            raise SystemExit(made.stderr[-2000:])
        cores = len(os.sched_getaffinity(0))
        kdf = measure_kdf(args.kdf_samples)
        limit = cores / kdf.wall
        cpu_limit = cores / kdf.cpu

        server_env = env | {"TMPDIR": str(tmpdir)}
        serve = Serve(PORTAL, server_env, workdir / "serve.log", args.workers)
        serve.wait_until_up()
        workers = serve.workers()
        threads = args.threads or 4
        print(f"Backend: {backend}; instance: {instance}")
        print(
            f"Server: portal serve, {len(workers)} public worker(s) x {threads} threads (gthread)"
            f"; {cores} cores"
        )
        print(
            f"KDF (production Argon2id {DEFAULT_RECEIPT_PARAMS}, median of {kdf.samples} runs in "
            f"this process): one derivation {kdf.wall * 1000:.0f} ms wall (fastest "
            f"{kdf.fastest * 1000:.0f} ms), {kdf.cpu * 1000:.0f} ms CPU "
            f"({kdf.cpu / kdf.wall:.2f} cores busy while it runs)"
        )
        print(
            f"KDF-bound limit: {cores} cores / {kdf.wall:.3f} s = {limit:.1f} tips/s "
            f"(by CPU time: {cores} / {kdf.cpu:.3f} s = {cpu_limit:.1f} tips/s)"
        )

        for number in range(2):  # warm-up: imports, templates, connections
            Browser(HOST, serve.port, timeout=args.timeout).send_report(
                WHAT.format(n=f"预热{number}"),
                [Attachment("预热.bin", os.urandom(ATTACHMENT_BYTES))],
            )

        size = args.upload_mib * 1024 * 1024
        upload = big_upload(serve, size, tmpdir, instance)
        rss_ok = upload.growth < RSS_TARGET_BYTES and upload.code_shown
        plain = (
            upload.temp_files_with_plaintext
            + sorted(upload.temp_fds_with_plaintext)
            + upload.instance_files_with_plaintext
        )
        print(
            f"\n{args.upload_mib} MiB upload: {upload.seconds:.1f} s, HTTP {upload.status}, "
            f"receipt {'shown' if upload.code_shown else 'MISSING'}; peak RSS growth of the "
            f"public worker(s) {_mb(upload.growth)} (from {_mb(upload.baseline)})  "
            f"target < {_mb(RSS_TARGET_BYTES)}  {'ok' if rss_ok else 'MISSED'}"
        )
        print(
            f"  of which while the body arrived: {_mb(upload.peak_while_sent - upload.baseline)}"
            "; the rest while the report was stored (its receipt derivation: Argon2id, "
            f"{DEFAULT_RECEIPT_PARAMS.memory_cost_kib // 1024} MiB)"
        )
        held = ", ".join(sorted(upload.temp_fds)) or "none"
        print(
            f"Plaintext in TMPDIR: {len(upload.temp_files)} files after the upload; files the "
            f"workers held open there during it: {held}; plaintext found in {len(plain)}  "
            f"{'ok' if not plain else 'MISSED: ' + ', '.join(plain)}"
        )

        busy_before, total_before = machine_busy()
        client_before = time.process_time()
        load, window_start, window_end, stall = run_load(serve, args)
        client_cpu = time.process_time() - client_before
        busy_after, total_after = machine_busy()
        served = [d for d in load.done if window_start <= d[0] <= window_end]
        if not served:
            served = load.done
        window = max(window_end - window_start, 1e-9)
        tips = len(served) / window
        latencies = [latency * 1000 for _at, latency in served]
        ratio = tips / limit
        verdict = "ok" if ratio >= RATIO_TARGET and not load.errors and not stall else "MISSED"
        print(
            f"\nTips: {args.clients} clients, one {ATTACHMENT_BYTES // 1024} KiB file each; "
            f"{len(load.done)} receipts in all, {len(served)} in the {window:.1f} s window after "
            f"{0 if args.count else args.warm_up:.0f} s of warm-up"
        )
        print(
            f"{'tips/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'errors':>7} {'ratio':>6}  "
            f"target >= {RATIO_TARGET}, zero errors"
        )
        p50 = _percentile(latencies, 0.5) if latencies else float("nan")
        p95 = _percentile(latencies, 0.95) if latencies else float("nan")
        print(
            f"{tips:>8.2f} {p50:>8.0f} {p95:>8.0f} {len(load.errors):>7} {ratio:>6.2f}  {verdict}"
        )
        if load.errors:
            kinds: dict[str, int] = {}
            for error in load.errors:
                kinds[error] = kinds.get(error, 0) + 1
            print("Errors: " + ", ".join(f"{n} x {kind}" for kind, n in sorted(kinds.items())))
        done_count = max(len(load.done), 1)
        print(
            f"Ratio to the CPU-time limit: {tips / cpu_limit:.2f}. Per receipt: server CPU "
            f"{load.server_cpu / done_count * 1000:.0f} ms (of which one "
            f"derivation {kdf.cpu * 1000:.0f} ms), load generator CPU "
            f"{client_cpu / done_count * 1000:.0f} ms; machine busy "
            f"{(busy_after - busy_before) / max(total_after - total_before, 1):.0%} "
            f"(shared with other users)"
        )
        if stall:
            print(
                f"STALLED: no receipt and no server CPU for {args.stall_seconds:.0f} s; the "
                f"server was killed. Public worker threads: {stall}."
            )
        serve.stop()
        serve = None
        if args.profile:
            profile_in_process(env, 10)
    finally:
        if serve is not None:
            serve.stop()
        if schema:
            from tests.helpers.environment import drop_schema

            drop_schema(args.database_url, schema)
        if args.keep:
            print(f"Kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
