"""`portal run` and `portal serve` as deployed: resources that stay bounded, limits that hold."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.db import Database
from tests.helpers.disclosures import schedule_due_item
from tests.helpers.servers import (
    PORTAL,
    SERVER_HOST,
    Server,
    first_disclosure_path,
    free_port,
    portal_env,
)

REQUESTS = 2000
CHECKED_AFTER = 200


@pytest.mark.slow
@pytest.mark.xdist_group("portal_run")
def test_portal_run_answers_thousands_of_requests_within_a_low_open_file_limit(demo_portal_run):
    # The development server starts a thread per request: nothing a request thread opens may
    # outlive it, or the process runs out of file descriptors (256 here) after a few hundred
    # requests.
    server = demo_portal_run
    item = first_disclosure_path(server)
    paths = ["/", "/disclosures/", item, "/healthz"]
    open_files = None
    for number in range(1, REQUESTS + 1):
        path = paths[number % len(paths)]
        status, body, _headers = server.get(path, timeout=5)
        assert status == 200, f"request {number} ({path}): {status} {body[:300]!r}"
        if number == CHECKED_AFTER:
            open_files = server.open_files()
    assert server.open_files() <= open_files + 8, (open_files, server.open_files())


AT_ONCE = 24


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def _read_in_threads(latest, threads: int, at_once: bool) -> None:
    start = threading.Barrier(threads) if at_once else None

    def read() -> None:
        if start is not None:
            start.wait()
        latest()

    for _ in range(1 if at_once else threads):
        running = [threading.Thread(target=read) for _ in range(threads if at_once else 1)]
        for thread in running:
            thread.start()
        for thread in running:
            thread.join()


def test_the_version_read_keeps_no_connection_per_thread(public_app):
    latest = public_app.extensions["portal.public_version"]
    before = _open_files()
    _read_in_threads(latest, 300, at_once=False)  # a thread per request, as `portal run`
    assert _open_files() <= before + 3, "one connection (with its WAL file) is enough"
    # Reads at the same moment need a connection each; afterwards a few stay open, and SQLite
    # keeps the files of closed ones for its next connections: what stays open is bounded by
    # the reads at one moment (3 files a connection at most), not by the threads that read.
    for _ in range(5):
        _read_in_threads(latest, AT_ONCE, at_once=True)
        _read_in_threads(latest, 100, at_once=False)
    assert _open_files() <= before + 3 * AT_ONCE
    public_app.extensions["portal.db"].engine.dispose()
    assert _open_files() <= before
    assert latest() == latest()  # and it reads again after the engine is disposed


@pytest.mark.slow
def test_portal_serve_refuses_several_workers_with_limits_in_memory(tmp_path):
    # Each worker would count requests apart: a limit of 5 per hour would let 10 through.
    # Workers set in the environment, and a number given on the command line.
    cases = (({"PORTAL_WORKERS": "2"}, [], 2), ({"PORTAL_WORKERS": "1"}, ["--workers", "3"], 3))
    for settings, args, workers in cases:
        env = portal_env(tmp_path / "instance", **settings)
        process = subprocess.Popen(
            [
                PORTAL,
                "serve",
                "--public",
                f"{SERVER_HOST}:{free_port()}",
                "--console",
                f"{SERVER_HOST}:{free_port()}",
                *args,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)  # it started serving: stop it and its servers
            process.communicate(timeout=30)
            raise AssertionError(f"{workers} workers started on memory storage") from None
        assert process.returncode == 2, out + err
        assert "PORTAL_RATELIMIT_STORAGE_URI=redis://" in err
        assert "--workers 1" in err
        assert f"{workers} workers" in err
        assert "Traceback" not in err


def test_gunicorn_with_the_deploy_configuration_refuses_several_workers_in_memory(tmp_path):
    env = portal_env(tmp_path / "instance", PORTAL_WORKERS="2")
    config = Path(__file__).resolve().parents[1] / "deploy" / "gunicorn.conf.py"
    argv = [sys.executable, "-m", "gunicorn", "-c", str(config), "app:create_app('public')"]
    env["PORTAL_PUBLIC_BIND"] = f"{SERVER_HOST}:{free_port()}"
    process = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    try:
        _out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        raise AssertionError("gunicorn started 2 workers on memory storage") from None
    assert process.returncode != 0
    assert "PORTAL_RATELIMIT_STORAGE_URI=redis://" in err and "--workers 1" in err, err


def _public_gunicorn(server: Server) -> int:
    for task in Path(f"/proc/{server.process.pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"create_app('public')" in Path(f"/proc/{child}/cmdline").read_bytes():
                return int(child)
    raise AssertionError("the public gunicorn should be running")


def _workers(master: int) -> int:
    return sum(
        len((task / "children").read_text().split())
        for task in Path(f"/proc/{master}/task").iterdir()
    )


@pytest.mark.slow
def test_portal_serve_keeps_one_worker_on_memory_storage_when_sent_sigttin(tmp_path):
    # SIGTTIN asks gunicorn for one more worker: with limits in memory, refused at run time.
    env = portal_env(tmp_path / "instance", PORTAL_WORKERS="1")
    server = Server.start("serve", env, tmp_path / "serve.log")
    try:
        master = _public_gunicorn(server)
        assert _workers(master) == 1
        os.kill(master, signal.SIGTTIN)
        output = server.output_so_far(until="Refused 2 workers", timeout=20)
        assert "Refused 2 workers" in output and "PORTAL_RATELIMIT_STORAGE_URI=redis://" in output
        time.sleep(1)  # a worker gunicorn were to add would be forked by now
        assert _workers(master) == 1
    finally:
        assert server.stop() == 0, server.output


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["--jobs", "--no-jobs"])
def test_portal_serve_runs_the_periodic_jobs_unless_told_not_to(
    sqlite_instance, demo_sqlite, tmp_path, jobs
):
    env = portal_env(
        sqlite_instance.path,
        PORTAL_DATABASE_URL=sqlite_instance.database_url,
        PORTAL_WORKERS="1",
        PORTAL_JOBS_EVERY_SECONDS="1",
    )
    database = Database(sqlite_instance.database_url)
    item = schedule_due_item(database.session, title="定时发布：第三届职工代表大会决议")
    database.engine.dispose()
    server = Server.start("serve", env, tmp_path / "serve.log", jobs)
    try:
        # Two rounds of the jobs (one a second) have had their chance by then.
        deadline = time.monotonic() + (2.5 if jobs == "--no-jobs" else 30)
        status = 404
        while status == 404 and time.monotonic() < deadline:
            time.sleep(0.2)
            status, body, _headers = server.get(f"/disclosures/{item}")
    finally:
        assert server.stop() == 0, server.output
    if jobs == "--jobs":
        assert status == 200 and "第三届职工代表大会决议" in body.decode()
    else:
        assert status == 404
