"""Benchmark of the public disclosure pages and search with 100,000 disclosures.

    python bench/disclosures_bench.py [--items 100000] [--database-url postgresql://...]
                                      [--duration 10] [--connections 16] [--instance DIR]

Builds a fresh instance in a temporary folder (SQLite, or a fresh schema in the given
PostgreSQL database), loads the demo organisation, imports ``--items`` synthetic
disclosures (mixed Chinese and English) through ``portal disclosures import`` and reports
the import time. Then it serves the public app with gunicorn exactly as ``portal serve``
does (``app.serving.gunicorn_command``), and, under the same gunicorn settings, a bare Flask
app rendering a template of the same size as each measured page. The load generator is
``wrk`` when installed, else a thread pool of keep-alive ``http.client`` connections.

Targets: index and detail req/s >= 0.7x the bare page, and p99 <= 1.5x the bare page's;
search p95 <= 20 ms for two-character Chinese and English queries, in-process (service
function) and over HTTP. ``--import-items N`` imports N items and copies them up to
``--items`` (``synthetic_disclosures.replicate``); ``--only pages|search`` measures one part.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the app, and tests.helpers for PostgreSQL schemas

from bench.synthetic_disclosures import replicate, write_synthetic  # noqa: E402

RATIO_TARGET = 0.7
P99_RATIO_TARGET = 1.5  # the page's p99 at most this many times the bare page's
SEARCH_P95_TARGET_MS = 20.0

# --- the reference page: bare Flask, same template size ----------------------------------


def bare_app():
    """A Flask app with one page rendering a template file of a given size (gunicorn target)."""
    from flask import Flask, render_template

    folder = os.environ["BENCH_BARE_TEMPLATES"]
    app = Flask("bare", template_folder=folder)

    @app.get("/<name>")
    def page(name: str):
        return render_template(f"{name}.html")

    return app


# --- running things -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _portal(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "from app.main import main; main()", *args]
    return subprocess.run(cmd, env=env, cwd=REPO, check=check, capture_output=True, text=True)


def _wait_for(port: int, path: str = "/healthz", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not come up")


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, response.read()


def _wrk(port: int, path: str, duration: int, connections: int) -> dict:
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * scale,
        "errors": int(errors.group(1)) if errors else 0,
    }


def _pool(port: int, path: str, duration: int, connections: int) -> dict:
    stop = time.monotonic() + duration
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def client() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        bad = 0
        while time.monotonic() < stop:
            start = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - start) * 1000)
            bad += response.status != 200
        with lock:
            latencies.extend(mine)
            errors += bad

    begin = time.monotonic()
    with ThreadPoolExecutor(connections) as pool:
        for _ in range(connections):
            pool.submit(client)
    elapsed = time.monotonic() - begin
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "errors": errors,
    }


def _median_run(runs: list[dict]) -> dict:
    """Median req/s and median p99 of the runs, with the errors counted over all runs."""
    rps = sorted(run["rps"] for run in runs)
    p99 = sorted(run["p99_ms"] for run in runs)
    return {
        "rps": rps[len(rps) // 2],
        "p99_ms": p99[len(p99) // 2],
        "errors": sum(run["errors"] for run in runs),
    }


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(len(ordered) * fraction) - 1)]


SEARCH_QUERIES = {
    "zh-2char": ["招标", "党费", "预算", "安全", "福利", "工资", "采购", "隐患"],
    "en": ["budget", "tender", "safety", "pension", "dues", "supplier", "hazard", "drill"],
}


def _search_in_process(env: dict, repeat: int) -> dict[str, float]:
    os.environ.update(env)
    from app import create_app
    from app.services.disclosures.visibility import ANONYMOUS
    from app.services.search import query as search_query

    app = create_app("public")
    results = {}
    with app.app_context():
        db = app.extensions["portal.db"]
        for kind, queries in SEARCH_QUERIES.items():
            timings = []
            for round_ in range(repeat + 1):
                for query in queries:
                    with db.sessions() as session:
                        start = time.perf_counter()
                        page = search_query.search(session, ANONYMOUS, query, page=1, per_page=20)
                        if round_:  # the first round warms the caches
                            timings.append((time.perf_counter() - start) * 1000)
                    # A search that finds nothing is fast: make sure these find a full page.
                    assert len(page.hits) == 20 and page.total >= 20, (query, page.total)
            results[kind] = _percentile(timings, 0.95)
    return results


def _search_http(port: int, bare_port: int, repeat: int) -> dict[str, float]:
    """p95 of each kind of query over HTTP, and of the bare page of a results page's size
    fetched between the searches (``bare``): what the machine allows a page at that moment."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    bare = http.client.HTTPConnection("127.0.0.1", bare_port, timeout=30)
    results = {}
    bare_timings = []
    for kind, queries in SEARCH_QUERIES.items():
        timings = []
        for round_ in range(repeat + 1):
            for query in queries:
                start = time.perf_counter()
                conn.request("GET", "/search?q=" + quote(query))
                response = conn.getresponse()
                body = response.read()
                assert response.status == 200, response.status
                assert body.count(b"<mark>") >= 20, query  # found and highlighted
                if round_:
                    timings.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                bare.request("GET", "/search")
                response = bare.getresponse()
                response.read()
                assert response.status == 200, response.status
                if round_:
                    bare_timings.append((time.perf_counter() - start) * 1000)
        results[kind] = _percentile(timings, 0.95)
    results["bare"] = _percentile(bare_timings, 0.95)
    return results


def _typical_item(database_url: str) -> int:
    """An imported (synthetic) item of median length: what most item pages look like."""
    from sqlalchemy import create_engine, text

    from tests.helpers.environment import engine_url

    engine = create_engine(engine_url(database_url))
    where = (
        "public_state = 'published' AND scope = 'everyone' AND revision_count = 1"
        " AND author_id IS NULL"
    )
    with engine.connect() as conn:
        count = conn.execute(text(f"SELECT count(*) FROM disclosures WHERE {where}")).scalar()
        found = conn.execute(
            text(
                f"SELECT id FROM disclosures WHERE {where} ORDER BY length(body), id "
                "LIMIT 1 OFFSET :middle"
            ),
            {"middle": count // 2},
        ).scalar()
    engine.dispose()
    if found is None:
        raise SystemExit("no imported item to measure the item page with")
    return found


def _bare_template(html: bytes) -> str:
    return "{% raw %}" + html.decode() + "{% endraw %}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--database-url", help="PostgreSQL URL (a fresh schema is used)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--repeat", type=int, default=3, help="interleaved load runs per page and app (median)"
    )
    parser.add_argument("--search-repeat", type=int, default=25)
    parser.add_argument(
        "--import-items",
        type=int,
        help="import only this many items and make the rest copies of them"
        " (synthetic_disclosures.replicate): seeding 100,000 in minutes, not hours",
    )
    parser.add_argument(
        "--only", choices=("pages", "search"), help="measure only the pages, or only search"
    )
    parser.add_argument(
        "--port",
        type=int,
        help="port of the portal; the bare page gets the next one (default: any free ports)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary instance")
    parser.add_argument(
        "--instance",
        type=Path,
        help="instance folder to seed once and reuse in later runs (kept; with --database-url"
        " it also names the PostgreSQL schema, which is kept too)",
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    instance = args.instance or workdir / "instance"
    reuse = args.instance is not None and (instance / "portal.sqlite3").exists()
    instance.mkdir(parents=True, exist_ok=True)
    schema = None
    keep_schema = args.instance is not None
    if args.database_url:
        from tests.helpers.environment import create_schema, schema_url

        schema_file = instance / "bench-schema"
        reuse = keep_schema and schema_file.exists()
        if reuse:
            schema = schema_file.read_text().strip()
            database_url = schema_url(args.database_url, schema)
        else:
            name = "bench_" + secrets.token_hex(4)
            database_url, schema = create_schema(args.database_url, name)
            if keep_schema:
                schema_file.write_text(schema)
        backend = "postgresql"
    else:
        database_url = f"sqlite:///{instance / 'portal.sqlite3'}"
        backend = "sqlite"
    port, bare_port = (args.port, args.port + 1) if args.port else (_free_port(), _free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")} | {
        "PORTAL_INSTANCE_PATH": str(instance),
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_RATELIMIT_DEFAULT": "1000000 per second",
        "PORTAL_PUBLIC_BIND": f"127.0.0.1:{port}",
        "PORTAL_PUBLIC_ACCESS_LOG": "",
    }
    servers: list[subprocess.Popen] = []
    import_s = None
    try:
        print(f"Backend: {backend}; instance: {instance}")
        if reuse:
            _portal(env, "db", "upgrade")
            print("Reusing the seeded instance (import not measured in this run)")
        else:
            _portal(env, "demo")
            data = workdir / "synthetic.jsonl"
            imported = min(args.items, args.import_items or args.items)
            write_synthetic(data, imported)
            start = time.perf_counter()
            result = _portal(env, "disclosures", "import", str(data), check=False)
            import_s = time.perf_counter() - start
            print(result.stdout.strip() or result.stderr.strip()[-500:])
            if result.returncode != 0:
                raise SystemExit(result.stderr[-2000:])
            rate = imported / import_s
            print(f"Import of {imported} items: {import_s:.1f} s ({rate:.0f}/s)")
            if imported < args.items:
                start = time.perf_counter()
                copied = replicate(database_url, args.items)
                _portal(env, "log", "checkpoint")
                print(f"Copied {copied} items in {time.perf_counter() - start:.1f} s")

        os.environ.update(env)
        from app import create_app
        from app.serving import gunicorn_command

        # Two workers, as the reference figures were taken (the bench limits nothing).
        config = create_app("public", {"WORKERS": 2}).config
        public_cmd = gunicorn_command("public", config)
        servers.append(subprocess.Popen(public_cmd, env=env, cwd=REPO, stderr=subprocess.DEVNULL))
        _wait_for(port)

        pages = {"index": "/disclosures/", "detail": None}
        pages["detail"] = f"/disclosures/{_typical_item(database_url)}"
        templates = workdir / "bare"
        templates.mkdir()
        for name, path in [*pages.items(), ("search", "/search?q=" + quote("预算"))]:
            status, html = _get(port, path)
            assert status == 200, (path, status)
            (templates / f"{name}.html").write_text(_bare_template(html))
            print(f"{name} page {path}: {len(html)} bytes")
        bare_cmd = gunicorn_command("public", config | {"PUBLIC_BIND": f"127.0.0.1:{bare_port}"})
        bare_cmd[-1] = "disclosures_bench:bare_app()"
        bare_cmd[3:3] = ["--pythonpath", str(REPO / "bench")]
        bare_env = env | {"BENCH_BARE_TEMPLATES": str(templates)}
        servers.append(
            subprocess.Popen(bare_cmd, env=bare_env, cwd=REPO, stderr=subprocess.DEVNULL)
        )
        _wait_for(bare_port, "/index")

        use_wrk = shutil.which("wrk") is not None
        load = _wrk if use_wrk else _pool
        print(
            f"Load generator: {'wrk' if use_wrk else 'Python thread pool (http.client keep-alive)'}"
            f", {args.connections} connections, median of {args.repeat} interleaved runs of "
            f"{args.duration} s; gunicorn "
            f"{config['WORKERS']} workers x {config['THREADS']} threads (gthread)"
        )
        rows = []
        for name, path in pages.items() if args.only != "search" else ():
            load(port, path, 2, args.connections)  # warm-up
            load(bare_port, f"/{name}", 2, args.connections)
            # Interleaved runs, median of each side: how wrk's connections happen to spread
            # over the gunicorn workers changes req/s from run to run, for both apps alike.
            portal_runs, bare_runs = [], []
            for _ in range(args.repeat):
                portal_runs.append(load(port, path, args.duration, args.connections))
                bare_runs.append(load(bare_port, f"/{name}", args.duration, args.connections))
            rows.append((name, _median_run(portal_runs), _median_run(bare_runs)))

        searched = args.only != "pages"
        load_before = os.getloadavg()[0]
        http_p95 = _search_http(port, bare_port, args.search_repeat) if searched else {}
        in_process_p95 = _search_in_process(env, args.search_repeat) if searched else {}

        print()
        print(
            f"{'page':<8} {'portal req/s':>13} {'p99 ms':>8} {'bare req/s':>11} "
            f"{'p99 ms':>8} {'req/s ratio':>12} {'p99 ratio':>10}  "
            f"targets: req/s >= {RATIO_TARGET}x, p99 <= {P99_RATIO_TARGET}x the bare page's"
        )
        for name, portal, bare in rows:
            ratio = portal["rps"] / bare["rps"]
            p99_ratio = portal["p99_ms"] / bare["p99_ms"]
            verdict = (
                "ok"
                if ratio >= RATIO_TARGET and p99_ratio <= P99_RATIO_TARGET and not portal["errors"]
                else "MISSED"
            )
            print(
                f"{name:<8} {portal['rps']:>13.1f} {portal['p99_ms']:>8.1f} {bare['rps']:>11.1f} "
                f"{bare['p99_ms']:>8.1f} {ratio:>12.2f} {p99_ratio:>10.2f}  {verdict}"
                + (f" ({portal['errors']} errors)" if portal["errors"] else "")
            )
        print()
        print(
            f"{'search p95 (ms)':<16} {'in-process':>11} {'HTTP':>8}  "
            f"target <= {SEARCH_P95_TARGET_MS}"
        )
        for kind in SEARCH_QUERIES if searched else ():
            worst = max(in_process_p95[kind], http_p95[kind])
            verdict = "ok" if worst <= SEARCH_P95_TARGET_MS else "MISSED"
            print(f"{kind:<16} {in_process_p95[kind]:>11.2f} {http_p95[kind]:>8.2f}  {verdict}")
        if searched:
            print(
                f"{'bare page':<16} {'':>11} {http_p95['bare']:>8.2f}  (a results page's HTML"
                f" from a bare Flask app, between the searches; load average"
                f" {load_before:.1f} before)"
            )
        if import_s is not None:
            print(f"\nImport: {imported} items in {import_s:.1f} s on {backend}")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait()
        if schema and not keep_schema:
            from tests.helpers.environment import drop_schema

            drop_schema(args.database_url, schema)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"Kept {workdir}")


if __name__ == "__main__":
    main()
