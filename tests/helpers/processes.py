"""Processes started by a test's own child: what is left of them once that child is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie has ended: it only waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def nice_of(pid: int) -> int:
    """The scheduling priority (nice value) of ``pid``: field 19 of /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


def survivors(pids: list[int], timeout: float = 10.0) -> list[int]:
    """Those of ``pids`` still running after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if alive(pid)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def start_script(code: str, tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    """Run ``code`` (which prints a line of process ids when ready) in a Python of its own."""
    script = tmp_path / "parent.py"
    script.write_text(code)
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    pids = [int(pid) for pid in line.split()]
    assert pids, "the script printed no process ids"
    return process, pids


def kill_hard(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


def process_group(pgid: int) -> dict[int, dict]:
    """The live processes of a process group: pid -> {"parent", "command", "rss"} (bytes)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        folder = stat.parent
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            command = (folder / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            status = (folder / "status").read_text()
        except (OSError, ValueError):
            continue
        rss = next(
            (
                int(line.split()[1]) * 1024
                for line in status.splitlines()
                if line.startswith("VmRSS:")
            ),
            0,
        )
        found[int(folder.name)] = {"parent": int(fields[1]), "command": command, "rss": rss}
    return found
