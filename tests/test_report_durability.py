"""A receipt shown is a report kept: ``portal serve`` killed in the middle of a burst of reports.

Reporters send reports from several threads (some with a file with a Chinese name, one stuck
half-way through its upload) until the whole server, its gunicorn masters and workers, gets
SIGKILL. Restarted on the same instance, every receipt code a reporter received opens its
report; no report is half stored; ``portal reports fsck`` finds every file whole and sweeps the
blobs of the uploads the crash cut off.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from app.models import DisciplineOffice, EnvelopeRole, Report, ReportEnvelope, Unit
from app.services.blobs import BlobError, FilesystemBlobStore
from app.services.recovery import recover_office_identity
from app.services.reports.contents import attachments_of, decode
from app.services.reports.envelopes import read_bytes
from app.services.reports.fsck import referenced_blob_keys
from crypto.receipts import derive_receipt
from tests.helpers.recovery_shares import share_lines
from tests.helpers.report_client import REPORT_FIELDS, Attachment, Browser, Multipart
from tests.helpers.servers import (
    CLIENT_ADDRESS,
    SERVER_HOST,
    Server,
    make_demo_instance,
    portal,
    portal_env,
)

pytestmark = pytest.mark.slow

REPORTERS = 6
RECEIPTS_BEFORE_THE_CRASH = 8
BURST_DEADLINE_S = 20.0
NO_LIMITS = {
    "PORTAL_RATELIMIT_DEFAULT": "1000000 per minute",
    "PORTAL_RATELIMIT_REPORTS": "100000 per hour",
    "PORTAL_REPORT_NOSCRIPT_WAIT_MINUTES": "0",  # the clients send forms without script
    "PORTAL_RATELIMIT_RECEIPTS": "100000 per hour",
    "PORTAL_RATELIMIT_RECEIPTS_ALL": "100000 per hour",
}
OFFICES = ("GRP", "MCH", "CHM")


@dataclass
class Sent:
    """One report of the burst: what it said, its file, and its code if the reporter got one."""

    marker: str
    file: Attachment | None
    code: str | None = None


class Burst:
    """Reporters sending report after report until they are told to stop or the server dies."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.sent: list[Sent] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.received = threading.Semaphore(0)
        self.threads = [
            threading.Thread(target=self._reporter, args=(n,), daemon=True)
            for n in range(REPORTERS)
        ]

    def _reporter(self, number: int) -> None:
        count = 0
        while not self.stop.is_set():
            count += 1
            marker = f"标记-{number}-{count}-{secrets.token_hex(4)}"
            file = None
            if count % 2:
                content = f"证据：{marker}\n废钢每吨回扣两百元。\n".encode() * 40
                name = f"现场记录（第{count}份）.txt"
                file = Attachment(name, content, content_type="text/plain")
            report = Sent(marker, file)
            with self.lock:
                self.sent.append(report)
            browser = Browser(SERVER_HOST, self.server.public_port, CLIENT_ADDRESS, timeout=30)
            try:
                report.code = browser.send_report(
                    f"铸造车间采购员收受回扣。{marker}", [file] if file else []
                )
            except Exception:  # the crash, or the stall this test is there to catch
                return
            self.received.release()

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def wait_for_receipts(self, count: int, deadline: float) -> int:
        got = 0
        while got < count and time.monotonic() < deadline:
            got += self.received.acquire(timeout=max(0.0, deadline - time.monotonic()))
        return got

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=35)

    @property
    def receipts(self) -> list[Sent]:
        return [report for report in self.sent if report.code]


def _stuck_upload(server: Server) -> socket.socket:
    """A report whose file is half sent when the server dies: its blob is on disk, unfinished."""
    browser = Browser(SERVER_HOST, server.public_port, CLIENT_ADDRESS, timeout=10)
    token = browser.csrf_token("/report/new")
    # The page's pass comes before the file, as a browser sends it: else the file is not read.
    form = {"csrf_token": token, "noscript_pass": browser.noscript_pass, **REPORT_FIELDS}
    form["what"] = "上传中断"
    body = Multipart(form, [Attachment("没传完的录音.bin", size=4 * 1024 * 1024)])
    cookies = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    sock = socket.create_connection(
        (SERVER_HOST, server.public_port), timeout=10, source_address=(CLIENT_ADDRESS, 0)
    )
    sock.sendall(
        (
            f"POST /report/new HTTP/1.1\r\nHost: {SERVER_HOST}:{server.public_port}\r\n"
            f"Content-Type: {body.content_type}\r\nContent-Length: {len(body)}\r\n"
            f"Cookie: {cookies}\r\n\r\n"
        ).encode()
        + body.head()
        + os.urandom(256 * 1024)
    )
    return sock


def _start(env: dict[str, str], log: Path) -> Server:
    # A session of its own: the whole server (portal serve, gunicorn masters and workers) is
    # one process group, killed at once.
    return Server.start("serve", env, log, preexec_fn=os.setsid)


def _crash(server: Server) -> None:
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _group_alive(server.process.pid):
        assert time.monotonic() < deadline, "a process of the killed server is still running"
        time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _recovery_identities(instance: Path, session: Session):
    """Each demo office's recovery identity, from two of its share sheets."""
    sheets = (instance / "demo-recovery-shares.txt").read_text("utf-8")
    lines = share_lines(sheets)
    identities = {}
    for index, code in enumerate(OFFICES):
        office = session.scalar(select(DisciplineOffice).join(Unit).where(Unit.code == code))
        identities[code] = recover_office_identity(office, lines[3 * index : 3 * index + 2])
    return identities


def _check_no_half_stored_report(session: Session, blobs, identities) -> dict[str, dict]:
    """Every report and message is whole; their documents by report id."""
    documents = {}
    envelopes = session.scalars(select(ReportEnvelope)).all()
    groups: dict[tuple[str, str | None], list[ReportEnvelope]] = {}
    for envelope in envelopes:
        groups.setdefault((envelope.report_id, envelope.message_id), []).append(envelope)
        try:
            with blobs.open(envelope.blob_key) as blob:
                assert blob.seek(0, 2) == envelope.size, f"blob of envelope {envelope.id}"
        except BlobError:
            pytest.fail(f"the blob of envelope {envelope.id} is missing")
    for report in session.scalars(select(Report)):
        assert (report.id, None) in groups, f"report {report.id} has no envelope"
    for (report_id, message_id), group in groups.items():
        texts = [e for e in group if e.role == EnvelopeRole.text]
        assert len(texts) == 1, (report_id, message_id, [e.role for e in group])
        kind = "message" if message_id else "report"
        document = decode(read_bytes(blobs, texts[0], identities, 10**6), kind)
        files = sorted(e.position for e in group if e.role == EnvelopeRole.attachment)
        listed = sorted(info.position for info in attachments_of(document))
        assert files == listed, (report_id, message_id, files, listed)
        if message_id is None:
            documents[report_id] = document
    return documents


def test_every_receipt_received_before_a_crash_opens_a_whole_report(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    env = portal_env(instance, **NO_LIMITS)
    make_demo_instance(instance, monkeypatch)

    server = _start(env, tmp_path / "serve-1.log")
    try:
        burst = Burst(server)
        burst.start()
        deadline = time.monotonic() + BURST_DEADLINE_S
        got = burst.wait_for_receipts(RECEIPTS_BEFORE_THE_CRASH // 2, deadline)
        stuck = _stuck_upload(server) if got else None
        got += burst.wait_for_receipts(RECEIPTS_BEFORE_THE_CRASH - got, deadline)
        in_flight = len(burst.sent) - len(burst.receipts)
        _crash(server)
    finally:
        if server.process.poll() is None:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
    burst.join()
    if stuck is not None:
        stuck.close()
    assert got >= RECEIPTS_BEFORE_THE_CRASH, (
        f"only {got} receipts in {BURST_DEADLINE_S:.0f} s from {REPORTERS} reporters "
        f"({in_flight} reports unanswered): the server stopped taking reports under load"
    )
    received = burst.receipts
    assert in_flight > 0, "the crash should cut reports off in the middle"
    assert any(report.file for report in received)

    # Restarted on the same instance, each code opens its report.
    server = _start(env, tmp_path / "serve-2.log")
    try:
        for report in received:
            browser = Browser(SERVER_HOST, server.public_port, CLIENT_ADDRESS)
            page = browser.follow_up(report.code)
            assert browser.following_up and "您的举报" in page, (report.code, page[:2000])
            assert "已收到，等待纪检部门确认" in page
    finally:
        assert server.stop() == 0, server.output

    engine = create_engine(f"sqlite:///{instance / 'portal.sqlite3'}")
    blobs = FilesystemBlobStore(instance / "blobs")
    pepper = (instance / "secrets" / "receipt.pepper").read_text().strip().encode()
    try:
        with Session(engine) as session:
            recovery = _recovery_identities(instance, session)
            documents = _check_no_half_stored_report(session, blobs, list(recovery.values()))
            for report in received:
                lookup = derive_receipt(report.code, pepper).lookup_hex
                found = session.scalar(select(Report).where(Report.lookup_id == lookup))
                assert found is not None, report.code
                fields = documents[found.id]["fields"]
                assert report.marker in fields["what"]
                files = [e for e in found.envelopes if e.role == EnvelopeRole.attachment]
                if report.file is None:
                    assert files == []
                    continue
                (info,) = attachments_of(documents[found.id])
                assert info.name == report.file.name
                assert read_bytes(blobs, files[0], [recovery["MCH"]], 10**6) == report.file.data
            stored = session.scalars(select(Report.id)).all()
            assert len(received) <= len(stored) - 4 <= len(burst.sent)  # the demo made 4
            referenced = referenced_blob_keys(session)
    finally:
        engine.dispose()

    # The blobs of the uploads the crash cut off are orphans; fsck sweeps them, and only them.
    orphans = set(blobs.keys()) - referenced
    assert orphans, "the stuck upload's blob should be on disk"
    identity_file = tmp_path / "recovery-identities.txt"
    fd = os.open(identity_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.writelines(f"{identity.secret_key_text()}\n" for identity in recovery.values())
    checked = portal(
        env, "reports", "fsck", "--identity", str(identity_file), "--min-age-days", "0"
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Report store OK." in checked.stdout
    assert not re.search(r"MISSING|WRONG SIZE|DAMAGED", checked.stdout + checked.stderr)
    assert set(re.findall(r"orphan ([0-9a-f]{32})", checked.stdout)) == orphans
    assert "; 0 not for these keys." in checked.stdout
    assert set(blobs.keys()) == referenced
