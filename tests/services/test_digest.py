"""The daily digest, sent to a real SMTP server in the test process (aiosmtpd, STARTTLS
required, a self-signed certificate the digest is told to trust): what it received, once a
day, at the hour, and what waits in the outbox when the server refuses or hangs."""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.models import DigestMessage, DigestState, StaffUser
from app.services import digest, jobs
from app.services import staff as staff_service
from app.services.jobs import JobContext
from app.services.reports.submission import submit
from tests.helpers.cases import make_case
from tests.helpers.reports import PARAMS, PEPPER, TODAY, form, upload_files
from tests.helpers.smtp import MailServer, SilentServer, self_signed

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 12, 4)  # a Friday: three working days on is Wednesday the 9th
CONSOLE = "https://console.jiwei.example.cn"
ADDRESSES = {
    "mch.insp1": "liu.yang@jiwei.example.cn",
    "mch.insp2": "he.li@jiwei.example.cn",
    "mch.head": "wu.gang@jiwei.example.cn",
}
# Every other inspector and head of an office: a digest in the outbox only.
WITHOUT_ADDRESS = {"grp.insp1", "grp.insp2", "grp.head", "f1.insp", "chm.insp", "log.insp"}
NEVER = {"mch.gone", "mch.publisher"}  # inactive; a publisher
# What the reports and the reporter's reply say, and where they are about: never in a digest.
SECRET_WORDS = ["李四", "分机", "6021", "王某", "供应商", "回扣", "采购", "MCH-PUR", "机械"]
SECRET_WORDS += ["procurement", "misconduct", "采购与招投标", "刘洋", "吴刚"]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed(tmp_path_factory.mktemp("smtp"))


@pytest.fixture
def mail_server(certificate):
    with MailServer(*certificate) as server:
        yield server


@pytest.fixture
def cases(db, org, blobs) -> dict[str, str]:
    """A report with a reply from its reporter (acknowledged by the head), and a new one that
    nobody opened, both to MCH; the staff of MCH given addresses."""
    replied = make_case(db, blobs).report_id
    with db() as session:
        new = submit(
            session,
            blobs,
            PEPPER,
            form(category="misuse_of_funds", what="车间主任私分加班费。"),
            upload_files(blobs, []),
            TODAY,
            PARAMS,
        ).report_id
    with db() as session:
        for username, address in ADDRESSES.items():
            user = session.scalar(select(StaffUser).where(StaffUser.username == username))
            staff_service.set_email(session, user, address)
    return {"replied": replied, "new": new}


def settings_for(server, certificate, **mail) -> digest.DigestSettings:
    cert, _key = certificate
    return digest.DigestSettings(
        hour=7,
        zone=SHANGHAI,
        language="zh",
        console_url=CONSOLE,
        mail=digest.MailSettings(
            host="localhost",
            port=server.port,
            sender="jiwei-digest@jiwei.example.cn",
            starttls=True,
            timeout=5,
            ca_file=str(cert),
            **mail,
        ),
    )


def run_job(db, settings, now: datetime) -> str:
    """The job as the runner calls it, on a session of its own, with the test's clock."""
    database = db.app.extensions["portal.db"]
    with database.sessions() as session:
        context = JobContext(session, None, None, now.date(), digest=settings, now=now)  # type: ignore[arg-type]
        return jobs.send_daily_digest(context)


def outbox(db) -> dict[str, DigestMessage]:
    with db() as session:
        rows = session.execute(
            select(StaffUser.username, DigestMessage).join(
                StaffUser, StaffUser.id == DigestMessage.staff_id
            )
        )
        return {f"{username} {message.day}": message for username, message in rows}


def test_each_inspector_and_head_gets_one_mail_of_numbers_and_references(
    db, cases, mail_server, certificate
):
    said = run_job(db, settings_for(mail_server, certificate), at(DAY, 7))
    assert "sent 3" in said, said

    received = {r.recipients[0]: r for r in mail_server.received}
    assert sorted(received) == sorted(ADDRESSES.values())
    assert all(len(r.recipients) == 1 and r.over_tls for r in mail_server.received)
    assert {r.sender for r in mail_server.received} == {"jiwei-digest@jiwei.example.cn"}

    mail = received[ADDRESSES["mch.insp1"]]
    assert mail.subject == "每日摘要（2026-12-04）"
    body = mail.body
    new, replied = cases["new"], cases["replied"]
    assert "待处理的新举报：1 件" in body
    assert f"  {new[:8]}  {CONSOLE}/cases/{new}" in body
    assert "有新回复的案件：1 件" in body
    assert f"  {replied[:8]}  {CONSOLE}/cases/{replied}" in body
    # Both are owed an acknowledgement by 7 December (received 30 November): within three
    # working days of Friday the 4th.
    assert "今后 3 个工作日内到期（含已逾期）：2 件" in body
    assert f"  2026-12-07  {new[:8]}" in body and f"  2026-12-07  {replied[:8]}" in body
    for word in SECRET_WORDS:
        assert word not in body and word not in mail.subject, word
    for mail in mail_server.received:
        text = mail.body + str(mail.message)
        assert not re.search(r"\b\d{1,2}:\d{2}\b", mail.body), "a time of day"
        assert not any(word in text for word in SECRET_WORDS)
        # No Date header of the sending moment either: the server adds its own if it wants.
        assert mail.message["Date"] is None

    rows = outbox(db)
    assert {key.split()[0] for key in rows} == set(ADDRESSES) | WITHOUT_ADDRESS
    for username in ADDRESSES:
        assert rows[f"{username} {DAY}"].state == DigestState.sent
    for username in WITHOUT_ADDRESS:
        row = rows[f"{username} {DAY}"]
        assert (row.state, row.reason) == (DigestState.held, digest.NO_ADDRESS)
    assert not NEVER & {key.split()[0] for key in rows}

    # Who gives an address later that day gets the day's digest at the next run.
    with db() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == "f1.insp"))
        staff_service.set_email(session, user, "sun.tao@jiwei.example.cn")
    said = run_job(db, settings_for(mail_server, certificate), at(DAY, 9))
    assert said.startswith("wrote 0 digest(s)") and "sent 1" in said
    assert [r.recipients for r in mail_server.received[3:]] == [["sun.tao@jiwei.example.cn"]]


def test_a_second_run_the_same_day_sends_nothing(db, cases, mail_server, certificate):
    settings = settings_for(mail_server, certificate)
    run_job(db, settings, at(DAY, 7))
    said = run_job(db, settings, at(DAY, 18, 30))
    assert said.startswith("wrote 0 digest(s)") and "sent 0" in said
    assert len(mail_server.received) == 3
    # The next day: one each again.
    run_job(db, settings, at(date(2026, 12, 5), 7))
    assert len(mail_server.received) == 6


def test_two_runs_at_once_send_one_each(db, cases, mail_server, certificate):
    settings = settings_for(mail_server, certificate)
    start = threading.Barrier(2)
    said: list[str] = []

    def run() -> None:
        start.wait()
        said.append(run_job(db, settings, at(DAY, 7, 0)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(said) == 2, said
    written = sorted(line.split(" digest(s)")[0] for line in said)
    assert written == ["wrote 0", f"wrote {len(ADDRESSES) + len(WITHOUT_ADDRESS)}"], said
    recipients = sorted(r.recipients[0] for r in mail_server.received)
    assert recipients == sorted(ADDRESSES.values())
    assert len(outbox(db)) == len(ADDRESSES) + len(WITHOUT_ADDRESS)


def test_nothing_goes_out_before_the_hour(db, cases, mail_server, certificate):
    settings = settings_for(mail_server, certificate)
    said = run_job(db, settings, at(DAY, 6, 59))
    assert said == "not yet: the digest goes out at 7:00"
    assert outbox(db) == {} and mail_server.received == []
    # 23:30 UTC the day before is 7:30 in Shanghai: the digest of Shanghai's day.
    run_job(db, settings, at(DAY, 7, 30).astimezone(ZoneInfo("UTC")))
    assert {key.split()[1] for key in outbox(db)} == {str(DAY)}
    assert len(mail_server.received) == 3


def test_a_refusal_leaves_the_mail_waiting_with_the_reason_until_the_next_run(
    db, cases, mail_server, certificate
):
    settings = settings_for(mail_server, certificate)
    mail_server.handler.refuse = "550 5.1.1 Mailbox unavailable"
    said = run_job(db, settings, at(DAY, 7))
    assert "3 waiting for the mail server" in said
    assert mail_server.received == []
    row = outbox(db)[f"mch.insp1 {DAY}"]
    assert (row.state, row.reason, row.attempts) == (DigestState.waiting, digest.REFUSED, 1)
    assert row.error == "550 5.1.1 Mailbox unavailable"

    mail_server.handler.refuse = None
    said = run_job(db, settings, at(DAY, 7, 1))
    assert "sent 3" in said
    assert sorted(r.recipients[0] for r in mail_server.received) == sorted(ADDRESSES.values())
    row = outbox(db)[f"mch.insp1 {DAY}"]
    assert (row.state, row.reason, row.error, row.attempts) == (DigestState.sent, None, None, 2)


def test_a_server_that_never_answers_leaves_the_mail_waiting(db, cases, mail_server, certificate):
    with SilentServer() as silent:
        hanging = settings_for(mail_server, certificate)
        hanging = replace(hanging, mail=replace(hanging.mail, port=silent.port, timeout=0.5))
        said = run_job(db, hanging, at(DAY, 7))
    assert "3 waiting for the mail server" in said
    rows = [outbox(db)[f"{username} {DAY}"] for username in ADDRESSES]
    assert {(row.state, row.reason) for row in rows} == {(DigestState.waiting, digest.TIMEOUT)}
    assert {row.error for row in rows} == {"no answer within 0.5 seconds"}
    # One wait for the silent server, not one per message: the others wait for the next run.
    assert sorted(row.attempts for row in rows) == [0, 0, 1]

    said = run_job(db, settings_for(mail_server, certificate), at(DAY, 7, 1))
    assert "sent 3" in said and len(mail_server.received) == 3
    # A message still waiting when its day is over is not sent late.
    mail_server.handler.refuse = "451 4.3.0 Try again later"
    run_job(db, settings_for(mail_server, certificate), at(date(2026, 12, 5), 8))
    said = run_job(db, settings_for(mail_server, certificate), at(date(2026, 12, 6), 8))
    assert "3 of earlier days not sent" in said
    late = outbox(db)["mch.head 2026-12-05"]
    assert (late.state, late.reason) == (DigestState.failed, digest.LATE)
    # Sixty days on, the outbox has forgotten them.
    run_job(db, settings_for(mail_server, certificate), at(date(2027, 2, 4), 8))
    assert {key.split()[1] for key in outbox(db)} == {"2026-12-06", "2027-02-04"}


def test_an_untrusted_certificate_is_not_a_reason_to_send_in_clear(
    db, cases, mail_server, certificate, tmp_path
):
    other_cert, _ = self_signed(tmp_path)
    settings = settings_for(mail_server, certificate)
    settings = replace(settings, mail=replace(settings.mail, ca_file=str(other_cert)))
    run_job(db, settings, at(DAY, 7))
    assert mail_server.received == []
    row = outbox(db)[f"mch.insp2 {DAY}"]
    assert (row.state, row.reason) == (DigestState.waiting, digest.TLS)


def test_without_a_mail_server_every_digest_stays_in_the_outbox(db, cases):
    settings = digest.DigestSettings(hour=7, zone=SHANGHAI, language="en")
    said = run_job(db, settings, at(DAY, 9))
    assert said.endswith("no mail server: kept in the outbox")
    rows = outbox(db)
    assert {key.split()[0] for key in rows} == set(ADDRESSES) | WITHOUT_ADDRESS
    assert {(row.state, row.reason) for row in rows.values()} == {
        (DigestState.held, digest.NO_SERVER)
    }
    row = rows[f"mch.insp1 {DAY}"]
    assert row.subject == "Daily digest of 2026-12-04"
    assert "New reports waiting: 1" in row.body and cases["new"][:8] in row.body
    assert "/cases/" not in row.body  # no console address configured: references only


def test_the_digest_lists_at_most_twenty_references_per_section():
    waiting = digest.Waiting(
        new_reports=[f"{i:032x}" for i in range(20)],
        new_report_count=57,
        replies=[],
        reply_count=0,
        due=[],
        due_count=0,
    )
    _subject, body = digest.compose(waiting, DAY, "zh")
    assert "待处理的新举报：57 件" in body and "另有 37 件" in body
