"""What the benchmarks read of running servers: processes, memory and CPU from /proc, and
``portal serve`` started in a process group of its own."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.helpers.report_client import Browser

PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
HOST = "127.0.0.1"


# --- /proc ---------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(p) for p in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    return total


def descendants(pid: int) -> list[int]:
    """A process and all the processes under it."""
    found = [pid]
    for child in children(pid):
        found += descendants(child)
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of processes (every thread, and children already reaped)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def thread_states(pid: int) -> dict[str, int]:
    """What the threads of a process wait in (kernel wait channel), counted."""
    states: dict[str, int] = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return states
    for task in tasks:
        try:
            wchan = (task / "wchan").read_text() or "running"
        except OSError:
            continue
        states[wchan] = states.get(wchan, 0) + 1
    return states


def open_files_under(pid: int, folder: str) -> list[tuple[str, str]]:
    """(fd path, target) of the files a process holds open under ``folder`` (deleted ones too)."""
    found = []
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return found
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(folder):
            found.append((str(fd), target))
    return found


def contains(path: str | Path, needle: bytes) -> bool:
    overlap = len(needle) - 1
    try:
        with open(path, "rb") as fh:
            tail = b""
            while chunk := fh.read(1 << 20):
                if needle in tail + chunk:
                    return True
                tail = chunk[-overlap:]
    except OSError:
        return False
    return False


# --- the server ------------------------------------------------------------------------------


class Serve:
    """``portal serve`` in a process group of its own, stopped (or killed) as a whole."""

    def __init__(self, portal: Path, env: dict[str, str], log: Path, workers: int | None) -> None:
        from tests.helpers.servers import free_port

        self.port = free_port(HOST)
        console = free_port(HOST)
        argv = [
            portal,
            "serve",
            "--public",
            f"{HOST}:{self.port}",
            "--console",
            f"{HOST}:{console}",
        ]
        if workers:
            argv += ["--workers", str(workers)]
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.expected_workers = workers or 1

    def wait_until_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"portal serve stopped:\n{self.log.read_text()[-3000:]}")
            try:
                status, _body, _headers = Browser(HOST, self.port, timeout=5).request(
                    "GET", "/healthz"
                )
                if status == 200 and len(self.workers()) >= self.expected_workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"portal serve did not come up:\n{self.log.read_text()[-3000:]}")

    def workers(self) -> list[int]:
        """The public app's gunicorn worker processes."""
        for child in children(self.process.pid):
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"create_app('public')" in cmdline:
                return children(child)
        return []

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        self.kill()
