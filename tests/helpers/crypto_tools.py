"""Helpers for the crypto tests: skip rules, vector paths, driving the age CLI.

Tests that need the age CLI or the shared vectors skip when those are missing, except
under CI=true, where a missing tool or vector set is a failure.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers.environment import skip_or_fail

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"


def require_tool(name: str) -> str:
    """Path to a command line tool, or skip/fail when it is missing."""
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"{name} command not installed")
    assert path is not None
    return path


def vector_dir(name: str) -> Path:
    """A vector folder under ../shared/vectors, or skip/fail when missing."""
    path = VECTORS / name
    if not path.is_dir():
        skip_or_fail(f"vectors not found at {path}")
    return path


_PROMPT = re.compile(rb"passphrase[^\r\n]*: ", re.IGNORECASE)


def age(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ``age`` with arguments; stdout and stderr are captured."""
    return subprocess.run(
        [require_tool("age"), *args], input=input, capture_output=True, timeout=60, check=False
    )


def age_keygen(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``age-keygen`` with arguments."""
    return subprocess.run(
        [require_tool("age-keygen"), *args], capture_output=True, timeout=60, check=False
    )


def age_with_passphrase(args: list[str], passphrase: str, timeout: float = 60) -> tuple[int, str]:
    """Run ``age`` on a pseudo-terminal, typing ``passphrase`` at every prompt.

    age reads passphrases only from a terminal (no environment variable, no stdin), so
    the child gets a pty as its controlling terminal. Returns (exit status, transcript).
    """
    path = require_tool("age")
    pid, fd = pty.fork()
    if pid == 0:  # child
        try:
            os.execv(path, [path, *args])
        finally:
            os._exit(127)
    transcript = b""
    answered = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            transcript += data
            prompts = len(_PROMPT.findall(transcript))
            while answered < prompts:
                os.write(fd, passphrase.encode() + b"\r")
                answered += 1
        else:
            os.kill(pid, 9)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), transcript.decode(errors="replace")


def ours(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """``python -m crypto ARGS`` run from the repository, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "crypto", *args],
        input=input,
        capture_output=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=60,
        check=False,
    )
