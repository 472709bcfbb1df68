"""Running the servers: the development servers of ``portal run`` and the gunicorns of
``portal serve`` (the commands themselves are in ``app.cli.serve``).

``app.devserver`` is the development server; ``app.gunicorn_hooks`` the hooks gunicorn loads.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer

from app import logging_setup
from app.devserver import ClosingRequestHandler, development_server
from app.security.daily_key import new_seed

# Public access log: no client address, no user agent, no time (a line's time is a trace too).
PUBLIC_ACCESS_LOG_FORMAT = logging_setup.PUBLIC_ACCESS_LOG_FORMAT


# gthread, its event loop reading request headers before a thread does (slow clients).
WORKER_CLASS = "app.gunicorn_worker.HeadersFirstWorker"


def split_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    return host.strip("[]"), int(port)


def request_handler(surface: str) -> type[ClosingRequestHandler]:
    """The development server's request handler: the public one logs nothing of the client."""
    return logging_setup.public_request_handler() if surface == "public" else ClosingRequestHandler


def development_servers(
    apps: Mapping[str, Flask], binds: Mapping[str, str]
) -> list[BaseWSGIServer]:
    """One development server per surface, bound (not yet serving)."""
    servers = []
    for surface, app in apps.items():
        host, port = split_bind(binds[surface])
        server = development_server(host, port, app, request_handler(surface))
        if surface == "public":
            logging_setup.quiet_development_server(server)
        servers.append(server)
    return servers


def serve_until_stopped(
    servers: Iterable[BaseWSGIServer],
    background: Iterable[Callable[[threading.Event], None]] = (),
) -> None:
    """Serve until SIGTERM or Ctrl-C; each of ``background`` runs in a thread of its own and is
    handed the event that tells it to stop."""
    servers = list(servers)
    stopped = threading.Event()
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    threads += [threading.Thread(target=task, args=(stopped,), daemon=True) for task in background]
    for thread in threads:
        thread.start()
    signal.signal(signal.SIGTERM, lambda *_args: stopped.set())
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stopped.set()
        for server in servers:
            server.shutdown()


def gunicorn_command(surface: str, config: Mapping[str, Any]) -> list[str]:
    """The gunicorn command line for one surface, as ``portal serve`` runs it."""
    bind = config[f"{surface.upper()}_BIND"]
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        bind,
        "--workers",
        str(config["WORKERS"]),
        "--worker-class",
        WORKER_CLASS,
        "--threads",
        str(config["THREADS"]),
        "--error-logfile",
        "-",
        # No control socket: the two apps' servers would share one (~/.gunicorn/gunicorn.ctl),
        # and it can change the number of workers past the rate-limit check of `portal serve`.
        "--no-control-socket",
        # Hooks: no more workers at run time while rate limits are counted in memory.
        "--config",
        "python:app.gunicorn_hooks",
        "--forwarded-allow-ips",
        ",".join(str(n) for n in config["TRUSTED_PROXIES"]) or "127.0.0.1",
    ]
    if surface == "public":
        # Its error log dated by the day, without request lines, headers or addresses.
        cmd += ["--logger-class", "app.logging_setup.PublicServerLog"]
    else:
        # Complete logs, each field on one line (control characters escaped).
        cmd += ["--logger-class", "app.logging_setup.ServerLog"]
    access_log = config[f"{surface.upper()}_ACCESS_LOG"]
    if access_log:
        cmd += ["--access-logfile", access_log]
        if surface == "public":
            cmd += ["--access-logformat", PUBLIC_ACCESS_LOG_FORMAT]
    cmd.append(f"app:create_app({surface!r})")
    return cmd


def start_gunicorns(config: Mapping[str, Any], instance_path: str) -> list[subprocess.Popen]:
    """A gunicorn for each app, as ``config`` binds them."""
    env = dict(
        os.environ,
        PORTAL_INSTANCE_PATH=instance_path,
        PORTAL_PUBLIC_BIND=config["PUBLIC_BIND"],
        PORTAL_CONSOLE_BIND=config["CONSOLE_BIND"],
        # Every worker files an address under the same counter; the seed is never on disk.
        PORTAL_RATELIMIT_SEED=config["RATELIMIT_SEED"] or new_seed(),
    )
    return [
        subprocess.Popen(gunicorn_command(s, config), env=env)  # noqa: S603 (our own argv)
        for s in ("public", "console")
    ]


def wait_for_gunicorns(procs: list[subprocess.Popen]) -> int:
    """Wait until one gunicorn ends, or SIGTERM or Ctrl-C; stop them all; the exit status."""

    def stop(*_args) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while all(proc.poll() is None for proc in procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                procs[0].wait(timeout=0.5)
    finally:
        stop()
        for proc in procs:
            proc.wait()
    codes = [proc.returncode for proc in procs]
    return 0 if all(code in (0, -signal.SIGTERM) for code in codes) else 1
