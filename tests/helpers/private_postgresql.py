"""A PostgreSQL server of the test's own, for settings the shared one must not get.

Some behaviour depends on server settings that need a restart (``max_prepared_transactions``)
or change every session of the server (``vacuum_defer_cleanup_age``): tests of it start a
throwaway cluster with Debian's server binaries (``initdb``, ``pg_ctl``), on a free port, its
socket in its own folder, and remove it afterwards. As root (CI) the cluster runs as the
``postgres`` user, since the server refuses to run as root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.helpers.environment import skip_or_fail


def _server_binaries() -> Path | None:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateServer:
    """A running cluster: ``url(database)`` to reach it, ``set(name, value)`` to change a
    setting that a reload applies, ``create_database()`` for a new empty database."""

    def __init__(self, binaries: Path, folder: Path, port: int, as_user: list[str]) -> None:
        self.binaries = binaries
        self.folder = folder
        self.port = port
        self.as_user = as_user
        self._databases = 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = subprocess.run(
            [
                str(self.binaries / "psql"),
                "-X",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.url(database),
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def create_database(self) -> str:
        self._databases += 1
        name = f"t{self._databases}"
        self.psql(f"CREATE DATABASE {name}")
        return name

    def set(self, name: str, value: str) -> None:
        """Change a reloadable setting for every session, and wait until new ones see it."""
        self.psql(f"ALTER SYSTEM SET {name} = '{value}'")
        self.psql("SELECT pg_reload_conf()")
        for _ in range(100):
            if self.psql(f"SHOW {name}") == value:
                return
            time.sleep(0.05)
        raise AssertionError(f"{name} is not {value} after a reload")


@contextmanager
def private_postgresql(**settings: str) -> Iterator[PrivateServer]:
    """A new cluster started with ``settings`` (``-c name=value``), stopped and removed after."""
    binaries = _server_binaries()
    if binaries is None:
        skip_or_fail("PostgreSQL's server binaries (initdb) are not installed")
    folder = Path(tempfile.mkdtemp(prefix="portal-test-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data = folder / "data"
    port = _free_port()
    try:
        initdb = [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        made = subprocess.run(
            [*as_user, *initdb, "-E", "UTF8", "--no-sync", "--no-instructions"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert made.returncode == 0, made.stderr
        options = [
            f"-p {port}",
            f"-k {folder}",
            "-c listen_addresses=127.0.0.1",
            "-c fsync=off",
            *(f"-c {name}={value}" for name, value in settings.items()),
        ]
        pg_ctl = [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "log")]
        started = subprocess.run(
            [*as_user, *pg_ctl, "-o", " ".join(options), "-w", "-t", "60", "start"],
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert started.returncode == 0, started.stderr + _log(folder)
        server = PrivateServer(binaries, folder, port, as_user)
        try:
            yield server
        finally:
            subprocess.run(
                [*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _log(folder: Path) -> str:
    try:
        return (folder / "log").read_text(errors="replace")[-2000:]
    except OSError:
        return ""
