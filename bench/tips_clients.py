"""The clients of the tip benchmark: one large upload watched from /proc, and reporters in a
loop sending a report with a file each."""

from __future__ import annotations

import argparse
import os
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.servers import (
    HOST,
    Serve,
    contains,
    cpu_seconds,
    descendants,
    open_files_under,
    rss_bytes,
    thread_states,
)
from tests.helpers.report_client import (
    RECEIPT_RE,
    REPORT_FIELDS,
    Attachment,
    Browser,
    Multipart,
    ReportRefused,
)

SAMPLE_SECONDS = 0.02
ATTACHMENT_BYTES = 100 * 1024
WHAT = (
    "第{n}号举报：铸造车间采购员王某在废钢采购招标中收受供应商回扣，每吨约两百元，"
    "已持续半年。评标记录与中标价格不符，详见附件。"
)


# --- one 100 MiB file ---------------------------------------------------------------------------


@dataclass
class UploadResult:
    seconds: float
    baseline: int
    peak: int
    peak_while_sent: int  # while the body was still arriving (the rest: storing the report)
    code_shown: bool
    status: int
    temp_fds: set[str] = field(default_factory=set)
    temp_fds_with_plaintext: set[str] = field(default_factory=set)
    temp_files: list[str] = field(default_factory=list)
    temp_files_with_plaintext: list[str] = field(default_factory=list)
    instance_files_with_plaintext: list[str] = field(default_factory=list)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def _plaintext(size: int, marker: bytes, sent: threading.Event) -> Iterator[bytes]:
    """``size`` bytes in 1 MiB blocks, each starting with ``marker`` and its number."""
    block = 1 << 20
    for number, start in enumerate(range(0, size, block)):
        head = marker + b"-%08d\n" % number
        length = min(block, size - start)
        yield (head + os.urandom(max(0, length - len(head))))[:length]
    sent.set()


def big_upload(serve: Serve, size: int, tmpdir: Path, instance: Path) -> UploadResult:
    marker = b"TIPS-BENCH-PLAINTEXT-" + secrets.token_hex(8).encode()
    workers = serve.workers()
    browser = Browser(HOST, serve.port, timeout=600)
    token = browser.csrf_token("/report/new")
    done, sent = threading.Event(), threading.Event()
    baseline = rss_bytes(workers)
    peak = peak_while_sent = baseline
    temp_fds: set[str] = set()
    with_plaintext: set[str] = set()

    def sample() -> None:
        nonlocal peak, peak_while_sent
        while not done.is_set():
            rss = rss_bytes(workers)
            peak = max(peak, rss)
            if not sent.is_set():
                peak_while_sent = max(peak_while_sent, rss)
            for pid in workers:
                for fd, target in open_files_under(pid, str(tmpdir)):
                    temp_fds.add(target)
                    if target not in with_plaintext and contains(fd, marker):
                        with_plaintext.add(target)
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    form = {"csrf_token": token, "noscript_pass": browser.noscript_pass, **REPORT_FIELDS}
    form["what"] = WHAT.format(n="大文件")
    chunks = _plaintext(size, marker, sent)
    file = Attachment("监控录像导出（完整版）.bin", chunks=chunks, size=size)
    start = time.perf_counter()
    sampler.start()
    try:
        status, page, _headers = browser.request("POST", "/report/new", Multipart(form, [file]))
    finally:
        done.set()
        sampler.join()
    seconds = time.perf_counter() - start
    result = UploadResult(
        seconds,
        baseline,
        peak,
        peak_while_sent,
        RECEIPT_RE.search(page.decode(errors="replace")) is not None,
        status,
        temp_fds,
        with_plaintext,
    )
    for path in sorted(tmpdir.rglob("*")):
        if path.is_file():
            result.temp_files.append(str(path))
            if contains(path, marker):
                result.temp_files_with_plaintext.append(str(path))
    for path in sorted(instance.rglob("*")):
        if path.is_file() and contains(path, marker):
            result.instance_files_with_plaintext.append(str(path))
    return result


# --- 64 reporters ------------------------------------------------------------------------------


@dataclass
class Load:
    done: list[tuple[float, float]] = field(default_factory=list)  # (finished at, latency)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    started: float = 0.0
    server_cpu: float = 0.0  # CPU seconds the server's processes used during the load


def _reporter(serve: Serve, load: Load, number: int, timeout: float, count: int | None) -> None:
    data = os.urandom(ATTACHMENT_BYTES)
    tip = 0
    while not load.stop.is_set():
        tip += 1
        browser = Browser(HOST, serve.port, timeout=timeout)
        name = f"采购合同扫描件（第{number}-{tip}份）.pdf.bin"
        try:
            token = browser.csrf_token("/report/new")
            start = time.perf_counter()
            browser.send_report(
                WHAT.format(n=f"{number}-{tip}"), [Attachment(name, data)], token=token
            )
            finished = time.perf_counter()
        except (OSError, ReportRefused) as exc:
            kind = f"HTTP {exc.status}" if isinstance(exc, ReportRefused) else type(exc).__name__
            with load.lock:
                load.errors.append(kind)
            if load.stop.is_set():
                return
            continue
        with load.lock:
            load.done.append((finished, finished - start))
            if count and len(load.done) >= count:
                load.stop.set()


def _stalled(serve: Serve, load: Load, seconds: float) -> bool:
    """No receipt and no CPU used by the public workers for ``seconds``: they are stuck."""
    with load.lock:
        last = load.done[-1][0] if load.done else load.started
    if time.perf_counter() - last < seconds:
        return False
    workers = serve.workers()
    before = cpu_seconds(workers)
    time.sleep(2)
    return cpu_seconds(workers) - before < 0.05


def run_load(serve: Serve, args: argparse.Namespace) -> tuple[Load, float, float, str]:
    """The load; (load, window start, window end, stall report or "")."""
    load = Load(started=time.perf_counter())
    threads = [
        threading.Thread(
            target=_reporter,
            args=(serve, load, n, args.timeout, args.count),
            daemon=True,
        )
        for n in range(args.clients)
    ]
    server = descendants(serve.process.pid)
    cpu_before = cpu_seconds(server)
    for thread in threads:
        thread.start()
    window_start = load.started + (0 if args.count else args.warm_up)
    window_end = window_start + args.duration
    stall = ""
    while not load.stop.is_set():
        if time.perf_counter() >= window_end and not args.count:
            break
        if _stalled(serve, load, args.stall_seconds):
            states = {pid: thread_states(pid) for pid in serve.workers()}
            stall = "; ".join(
                f"worker {pid}: " + ", ".join(f"{n} in {w}" for w, n in sorted(s.items()))
                for pid, s in states.items()
            )
            load.server_cpu = cpu_seconds(server) - cpu_before
            load.stop.set()
            serve.kill()  # the requests in flight end at once, as errors
            window_end = min(window_end, time.perf_counter())
            if window_end <= window_start:  # stalled in the warm-up: count from the start
                window_start = load.started
            break
        time.sleep(0.5)
    if args.count:
        with load.lock:
            window_end = load.done[-1][0] if load.done else time.perf_counter()
    load.stop.set()
    for thread in threads:
        thread.join(timeout=args.timeout + 5)
    if not stall:
        load.server_cpu = cpu_seconds(server) - cpu_before
    return load, window_start, window_end, stall
