"""Cleaning in a process of its own, within hard limits, that dies with the server.

Pillow and qpdf are C libraries fed files anyone may send. Run in the server's process, a
7 KB PDF of nested Flate filters made qpdf decode 4 GiB while holding the interpreter's lock,
and every request of that process waited. So each file is cleaned by a fresh child process:

- the file goes in through a pipe and the result comes out through another: plaintext is
  never written to disk (no temporary file; the child may not write files at all, and dumps
  no core);
- the child's address space, CPU time and open files are capped (``setrlimit``), and the
  server kills it past a wall-clock deadline or when it writes more than the output cap;
- the server's thread waits in ``select`` without the interpreter's lock, so the process
  goes on answering; at most ``SLOTS`` children run at once per server process;
- the child asks the kernel to kill it when the thread that started it ends
  (``PR_SET_PDEATHSIG``): a server killed mid-clean leaves no child behind. No
  multiprocessing machinery (and so no resource tracker) is involved;
- the child runs at a lower scheduling priority than the server (``NICENESS``): a hostile
  file's minutes of CPU time are taken from what page requests leave, not from them;
- the child imports only the cleaners, not the web application: it starts in a tenth of a
  second.

Whatever goes wrong in the child, the server gets a ``Cleaned`` back: the file as sent and
``too_large`` (a limit was hit) or ``unreadable`` (the child failed otherwise).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from app.services.reports.cleaning import (
    CLEANABLE,
    SNIFF_BYTES,
    Cleaned,
    Cleaning,
    CleanState,
    clean_here,
    not_cleaned,
    sniff,
)

MIB = 1024 * 1024


@dataclass(frozen=True)
class ChildLimits:
    memory_bytes: int = 768 * MIB  # the child's whole address space, libraries included
    cpu_seconds: int = 10
    wall_seconds: float = 20.0
    max_output_bytes: int = 64 * MIB


DEFAULT_LIMITS = ChildLimits()
# Cleaning takes out; writing a file anew may add a little (a TIFF deflated, a PDF rewritten).
# A file that grows past this is stored as sent, so no file is made larger on disk than what
# its sender's own compression hid (a JPEG TIFF of noise grows 14 times once deflated).
GROWTH_FACTOR = 4


def grown_limit(size: int) -> int:
    """The most a cleaned file of ``size`` bytes may weigh."""
    return max(GROWTH_FACTOR * size, size + MIB)


NICENESS = 10  # the child's nice value: the server's requests get the CPU first
_WRITTEN = (CleanState.cleaned, CleanState.nothing_found)  # states that come with a file
SLOTS = os.cpu_count() or 1
_slots = threading.BoundedSemaphore(SLOTS)
_APP_ROOT = str(Path(__file__).resolve().parents[3])  # the folder that holds ``app``

# The child's first lines: die with the starting thread, then import only the cleaners (empty
# parent packages, so ``app/__init__`` and the web framework are not imported).
_BOOTSTRAP = """
import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
if os.getppid() != int(sys.argv[2]):
    os._exit(3)  # the server ended before the line above ran
import types
for name in ("app", "app.services", "app.services.reports"):
    module = types.ModuleType(name)
    module.__path__ = [os.path.join(sys.argv[1], *name.split("."))]
    sys.modules[name] = module
from app.services.reports.cleaning_process import child_main
child_main()
"""


def _child_command(limits: ChildLimits) -> list[str]:
    settings = json.dumps([limits.memory_bytes, limits.cpu_seconds, limits.max_output_bytes])
    return [sys.executable, "-I", "-c", _BOOTSTRAP, _APP_ROOT, str(os.getpid()), settings]


def child_main() -> None:
    """The child: limits on, read the file from stdin, write header and result to stdout."""
    import resource

    memory, cpu, max_output = json.loads(sys.argv[3])
    os.setpriority(os.PRIO_PROCESS, 0, max(os.getpriority(os.PRIO_PROCESS, 0), NICENESS))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a core dump would be plaintext on disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # no file written, by any library
    resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU, then SIGKILL
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    size = int.from_bytes(stdin.read(8), "big")
    data = stdin.read(size)
    if len(data) != size:
        os._exit(4)
    try:
        result = clean_here(data)
    except MemoryError:
        os.kill(os.getpid(), signal.SIGKILL)  # the same end as the kernel's for a memory limit
    del data
    if len(result.data) > min(max_output, grown_limit(size)):
        result = Cleaned(b"", Cleaning(CleanState.too_large, result.cleaning.kind))
    header = json.dumps(result.cleaning.as_dict()).encode()
    stdout.write(len(header).to_bytes(4, "big") + header)
    if result.cleaning.state in _WRITTEN:  # else the server keeps the file as it sent it
        stdout.write(result.data)
    stdout.flush()


class _LimitHit(Exception):
    pass


def _exchange(process: subprocess.Popen, payload: bytes, cap: int, deadline: float) -> bytes:
    """Send ``payload``'s size and bytes and read what comes back, at most ``cap`` bytes,
    before ``deadline``."""
    assert process.stdin is not None and process.stdout is not None
    write_fd, read_fd = process.stdin.fileno(), process.stdout.fileno()
    os.write(write_fd, len(payload).to_bytes(8, "big"))  # an empty pipe takes 8 bytes at once
    os.set_blocking(write_fd, False)
    view = memoryview(payload)
    sent = 0
    received = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(write_fd, selectors.EVENT_WRITE)
        selector.register(read_fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _LimitHit("deadline")
            for key, _events in selector.select(left):
                if key.fd == write_fd:
                    try:
                        sent += os.write(write_fd, view[sent : sent + 256 * 1024])
                    except BrokenPipeError:
                        sent = len(view)
                    if sent >= len(view):
                        selector.unregister(write_fd)
                        process.stdin.close()
                    continue
                chunk = os.read(read_fd, 256 * 1024)
                if not chunk:
                    return bytes(received)
                received += chunk
                if len(received) > cap:
                    raise _LimitHit("output")


MAX_NOTES = 50
_NOT_CLEANED = ("embedded_removed", "embedded_kept", "images_kept")


def _shown_notes(notes: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """At most MAX_NOTES notes, names made safe to show. What was kept (authors' names, once)
    and what could not be cleaned come first and are never dropped unsaid: past the limit, the
    rest is counted in one note."""
    from app.services.disclosures.attachments import safe_filename

    kept = [("authors_kept", "")] if any(code == "authors_kept" for code, _ in notes) else []
    others = [note for note in notes if note[0] != "authors_kept"]
    ordered = sorted(others, key=lambda note: note[0] not in _NOT_CLEANED)
    room = MAX_NOTES - len(kept)
    shown = kept + [(code[:40], safe_filename(name)) for code, name in ordered[:room]]
    hidden = sum(1 for code, _name in ordered[room:] if code in _NOT_CLEANED)
    if hidden:
        shown.append(("more_kept", str(hidden)))
    return tuple(shown)


def _parse(output: bytes, data: bytes) -> Cleaned | None:
    """The child's answer, checked: a child that a file took over may say anything."""
    if len(output) < 4:
        return None
    size = int.from_bytes(output[:4], "big")
    try:
        header = json.loads(output[4 : 4 + size])
        cleaning = Cleaning.from_dict(header)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if cleaning.kind not in (*CLEANABLE, None) or len(cleaning.removed) > 50:
        return None
    removed = tuple(code[:40] for code in cleaning.removed)
    cleaning = Cleaning(cleaning.state, cleaning.kind, removed, _shown_notes(cleaning.notes))
    if cleaning.state not in _WRITTEN:
        return Cleaned(data, cleaning)
    return Cleaned(output[4 + size :], cleaning)


def clean(data: bytes, limits: ChildLimits = DEFAULT_LIMITS) -> Cleaned:
    """``data`` without its metadata when it is a kind we clean and it parses, else as sent.

    The parsers run in a child process within ``limits`` (see the module); a file past them
    is stored as sent (``too_large``).
    """
    if sniff(data[:SNIFF_BYTES]) is None:  # no parser needed to say so
        return Cleaned(data, Cleaning(CleanState.unsupported))
    with _slots:
        deadline = time.monotonic() + limits.wall_seconds
        try:
            process = subprocess.Popen(  # noqa: S603  our interpreter and code; file by pipe
                _child_command(limits),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd="/",
                env={"LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"},
            )
        except OSError:  # no process to be had (a limit of the machine): kept as sent, said so
            kind = not_cleaned(data[:SNIFF_BYTES]).kind
            return Cleaned(data, Cleaning(CleanState.unreadable, kind))
        output = None
        limit_hit = False
        try:
            output = _exchange(process, data, limits.max_output_bytes + MIB, deadline)
            process.wait(max(0.0, deadline - time.monotonic()))
        except (_LimitHit, subprocess.TimeoutExpired):
            output, limit_hit = None, True
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None and not stream.closed:
                    stream.close()
    result = _parse(output, data) if output is not None and process.returncode == 0 else None
    if result is not None:
        return result
    fallback = not_cleaned(data[:SNIFF_BYTES])
    if fallback.state == CleanState.unsupported:
        return Cleaned(data, fallback)
    # Past the deadline, the output cap, the CPU time or the memory: too large to clean.
    limit_hit = limit_hit or process.returncode in (-signal.SIGKILL, -signal.SIGXCPU)
    state = CleanState.too_large if limit_hit else CleanState.unreadable
    return Cleaned(data, Cleaning(state, fallback.kind))
