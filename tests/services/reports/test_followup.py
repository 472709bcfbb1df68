"""Follow-up with a receipt code: opening, sessions that keep no code, the thread, replies."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
import redis

from app.models import MessageAuthor, Report, ReportStatus, StaffUser
from app.services.ephemeral import MemoryStore, RedisStore, Stores
from app.services.reports.errors import NotAllowed, ReportInvalid
from app.services.reports.followup import (
    FollowupSessions,
    open_by_code,
    progress,
    reply,
    thread,
)
from app.services.reports.messages import post_office_message, read_thread
from crypto.keys import X25519Identity
from tests.helpers.environment import REDIS_URL, skip_or_fail
from tests.helpers.reports import PARAMS, PEPPER, TODAY, form, upload_files


@pytest.fixture
def submitted(db, org, blobs):
    from app.services.reports.submission import submit

    with db() as session:
        return submit(session, blobs, PEPPER, form(), [], TODAY, PARAMS)


def _to_full_width(code: str) -> str:
    return "".join(chr(0xFF10 + int(c)) if c.isdigit() else "－" for c in code)


def test_the_code_opens_its_report_in_any_way_it_is_typed(db, submitted):
    with db() as session:
        for typed in (
            submitted.code,
            submitted.code.replace(" ", ""),
            submitted.code.replace(" ", "-"),
            _to_full_width(submitted.code),
        ):
            opened = open_by_code(session, PEPPER, typed, PARAMS)
            assert opened is not None and opened.report.id == submitted.report_id
            assert str(opened.identity.recipient) == opened.report.reporter_recipient


def test_a_wrong_code_opens_nothing(db, submitted):
    digits = submitted.code.replace(" ", "")
    wrong = digits[:-1] + str((int(digits[-1]) + 1) % 10)
    with db() as session:
        assert open_by_code(session, PEPPER, wrong, PARAMS) is None
        # The right code with another installation's pepper opens nothing either.
        assert open_by_code(session, b"another-installation-pepper!", digits, PARAMS) is None
        for malformed in ("", "1234", "一二三四", digits + "0", "9" * 10_000, "１２３４ ５６７８"):
            assert open_by_code(session, PEPPER, malformed, PARAMS) is None
    # What each costs: tests/services/reports/test_receipt_versions.py.


def test_the_thread_between_office_and_reporter(db, org, blobs, submitted):
    with db() as session:
        report = session.get(Report, submitted.report_id)
        inspector = session.get(StaffUser, org.staff["mch.insp1"])
        files = [("补充材料说明.txt", "text/plain", "请提供发票复印件。".encode())]
        post_office_message(
            session,
            blobs,
            report,
            inspector,
            "已收到，请补充发票。",
            upload_files(blobs, files),
            TODAY,
        )
        assert report.status == ReportStatus.acknowledged
    with db() as session:
        opened = open_by_code(session, PEPPER, submitted.code, PARAMS)
        uploads = upload_files(blobs, [("发票.txt", "text/plain", "发票号 0001".encode())])
        reply(session, blobs, opened.report, opened.identity, "发票见附件。", uploads, TODAY)
    with db() as session:
        opened = open_by_code(session, PEPPER, submitted.code, PARAMS)
        messages = thread(session, blobs, opened.report, opened.identity)
        assert [(m.seq, m.author, m.text) for m in messages] == [
            (1, MessageAuthor.office, "已收到，请补充发票。"),
            (2, MessageAuthor.reporter, "发票见附件。"),
        ]
        assert [a.info.name for a in messages[0].attachments] == ["补充材料说明.txt"]
        assert [a.info.name for a in messages[1].attachments] == ["发票.txt"]
        # The office reads the reply; the recovery key does too; another office does not.
        for holder in (org.keys["mch.insp2"], org.keys["mch.head"], org.recovery["MCH"]):
            assert read_thread(blobs, opened.report, [holder])[1].text == "发票见附件。"
        assert read_thread(blobs, opened.report, [org.keys["grp.insp1"]])[1].text is None


def test_only_the_reporter_key_replies_or_reads_as_the_reporter(db, org, blobs, submitted):
    with db() as session:
        report = session.get(Report, submitted.report_id)
        stranger = X25519Identity.generate()
        with pytest.raises(NotAllowed):
            thread(session, blobs, report, stranger)
        uploads = upload_files(blobs, [("x.txt", "text/plain", b"x")])
        with pytest.raises(NotAllowed):
            reply(session, blobs, report, stranger, "冒充举报人", uploads, TODAY)
    assert len(list(blobs.keys())) == 1  # only the report's own text


def test_an_empty_or_huge_reply_is_refused_and_leaves_nothing(db, blobs, submitted):
    for text, key in (("  ", "required"), ("长" * 20_001, "too_long"), ("\x00", "invalid")):
        with db() as session:  # a refused reply rolls its transaction back
            opened = open_by_code(session, PEPPER, submitted.code, PARAMS)
            with pytest.raises(ReportInvalid) as caught:
                reply(session, blobs, opened.report, opened.identity, text, [], TODAY)
        assert caught.value.errors == {"text": key}
    assert len(list(blobs.keys())) == 1


def test_progress_gives_dates_and_what_is_overdue(db, submitted):
    with db() as session:
        report = session.get(Report, submitted.report_id)
        now = progress(report, TODAY)
        assert now.status == ReportStatus.received
        assert (now.received_on, now.acknowledge_by) == (TODAY, TODAY + timedelta(days=7))
        assert not now.acknowledgement_overdue and not now.feedback_overdue
        # Three months end on Sunday 28 February 2027: the date moves to the Monday after.
        assert now.feedback_by == date(2027, 3, 1)
        assert not progress(report, date(2027, 3, 1)).feedback_overdue
        later = progress(report, date(2027, 3, 2))
        assert later.acknowledgement_overdue and later.feedback_overdue


# --- sessions ---------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_memory_session_lives_while_used_and_dies_when_idle():
    clock = FakeClock()
    sessions = FollowupSessions(MemoryStore(clock=clock), idle_seconds=900)
    identity = X25519Identity.generate()
    token = sessions.start("ab" * 16, identity)
    assert len(token) == 43
    for _ in range(5):  # each use starts the idle time again
        clock.now += 800
        resumed = sessions.resume(token)
        assert resumed is not None and resumed.report_id == "ab" * 16
        assert resumed.identity.secret_bytes == identity.secret_bytes
    # Idle past the end of the 15-minute bucket after the one of its last use: gone.
    clock.now += 2 * 900 + 1
    assert sessions.resume(token) is None
    token = sessions.start("cd" * 16, identity)
    sessions.end(token)
    assert sessions.resume(token) is None


def test_a_session_store_holds_neither_the_token_nor_the_key_nor_the_report_in_the_clear():
    store = MemoryStore()
    sessions = FollowupSessions(store)
    identity = X25519Identity.generate()
    token = sessions.start("ef" * 16, identity)
    # The session, and its report's generation (a random value under a name that opens nothing).
    assert sorted(len(value) for _expiry, value in store._entries.values()) == [16, 12 + 16 + 96]
    for key, (_expiry, value) in store._entries.items():
        assert token not in key and identity.secret_bytes not in value
        assert b"ef" * 16 not in value and "ef" * 16 not in key
        assert identity.secret_bytes.hex() not in key


@pytest.mark.parametrize("forged", ["", "x" * 43, "A" * 42, "A" * 44, "é" * 43, "A" * 42 + "B"])
def test_forged_tokens_resume_nothing(forged):
    sessions = FollowupSessions()
    sessions.start("ab" * 16, X25519Identity.generate())
    assert sessions.resume(forged) is None
    sessions.end(forged)  # no error


def test_a_full_memory_store_drops_the_oldest_session():
    clock = FakeClock()
    # Four sessions of one report, and the report's generation: one entry too many.
    sessions = FollowupSessions(MemoryStore(max_entries=4, clock=clock))
    identity = X25519Identity.generate()
    tokens = []
    for _ in range(4):
        clock.now += 1
        tokens.append(sessions.start("ab" * 16, identity))
    assert sessions.resume(tokens[0]) is None
    assert all(sessions.resume(t) for t in tokens[1:])
    assert len(sessions.store) == 4


def test_sessions_start_only_for_report_ids():
    with pytest.raises(ValueError):
        FollowupSessions().start("../../etc", X25519Identity.generate())


def test_a_redis_session_expires_and_holds_no_clear_key():
    if not REDIS_URL:
        skip_or_fail("Redis not configured: set PORTAL_TEST_REDIS_URL")
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"test:followup:{X25519Identity.generate().recipient}:"
    try:
        sessions = FollowupSessions(RedisStore(client, prefix), idle_seconds=60)
        identity = X25519Identity.generate()
        token = sessions.start("12" * 16, identity)
        keys = client.keys(prefix + "*")
        for key in keys:
            assert token.encode() not in key and b"12" * 16 not in key
            assert identity.secret_bytes not in client.get(key)
            assert b"12" * 16 not in client.get(key)
        (key,) = [key for key in keys if len(client.get(key)) > 16]  # the session
        assert 60 < client.ttl(key) <= 120 and client.expiretime(key) % 60 == 0
        client.expire(key, 5)
        assert sessions.resume(token).identity.secret_bytes == identity.secret_bytes
        assert client.ttl(key) > 5  # resuming started the idle time again
        sessions.end(token)
        assert client.keys(prefix + "*") == []
        assert sessions.resume(token) is None
        shared = Stores.from_uri(REDIS_URL, "portal-t").store("followup")
        assert isinstance(FollowupSessions(shared).store, RedisStore)
    finally:
        for key in client.keys(prefix + "*"):
            client.delete(key)
        client.close()


def _sessions_on(kind: str, idle_seconds: int = 900, lifetime_seconds: int = 7200):
    """Sessions in memory or in Redis, on one clock a test moves (the store's too)."""
    clock = FakeClock()
    wall = lambda: 1_800_000_000.0 + clock.now  # noqa: E731 - a real time: Redis expires keys
    if kind == "memory":
        store = MemoryStore(clock=clock, now=wall)
        return FollowupSessions(store, idle_seconds, lifetime_seconds, now=wall), clock, None
    if not REDIS_URL:
        skip_or_fail("Redis not configured: set PORTAL_TEST_REDIS_URL")
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"test:followup:{X25519Identity.generate().recipient}:"
    sessions = FollowupSessions(
        RedisStore(client, prefix, now=time.time), idle_seconds, lifetime_seconds
    )
    return sessions, clock, (client, prefix)


def test_a_session_ends_after_its_lifetime_however_busy():
    clock = FakeClock()
    wall = lambda: 1_800_000_000.0 + clock.now  # noqa: E731
    store = MemoryStore(clock=clock, now=wall)
    sessions = FollowupSessions(store, idle_seconds=900, lifetime_seconds=7200, now=wall)
    identity = X25519Identity.generate()
    token = sessions.start("ab" * 16, identity)
    for _ in range(9):  # used every 13 minutes: never idle, 117 minutes in all
        clock.now += 780
        assert sessions.resume(token) is not None
    clock.now += 780  # two hours and ten minutes after the code was entered
    assert sessions.resume(token) is None
    assert len(store) == 1  # the session is gone; its report's generation expires by itself
    # The same code opens a new session, for two hours again.
    again = sessions.start("ab" * 16, identity)
    assert sessions.resume(again).report_id == "ab" * 16


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_leaving_ends_every_session_of_the_report_and_no_other(kind):
    sessions, clock, redis_parts = _sessions_on(kind)
    try:
        reporter = X25519Identity.generate()
        phone = sessions.start("ab" * 16, reporter)
        clock.now += 1500  # begun in another bucket of the idle time: the same generation
        workshop_pc = sessions.start("ab" * 16, reporter)
        someone_else = sessions.start("cd" * 16, X25519Identity.generate())
        assert sessions.resume(phone) and sessions.resume(workshop_pc)
        sessions.end(phone)  # the reporter leaves on the phone
        assert sessions.resume(phone) is None
        assert sessions.resume(workshop_pc) is None  # and the PC's session is over too
        assert sessions.resume(someone_else).report_id == "cd" * 16
        # The code still opens a new session, which the old ones do not come back with.
        fresh = sessions.start("ab" * 16, reporter)
        assert sessions.resume(fresh).report_id == "ab" * 16
        assert sessions.resume(workshop_pc) is None
        if redis_parts is not None:
            client, prefix = redis_parts
            # No name or value in Redis holds the report or the reporter's key.
            for key in client.keys(prefix + "*"):
                value = client.get(key)
                assert b"ab" * 16 not in key and b"ab" * 16 not in value
                assert reporter.secret_bytes not in value
                assert reporter.secret_bytes.hex().encode() not in key
                assert client.expiretime(key) % 900 == 0  # at a bucket's end, never a moment
    finally:
        if redis_parts is not None:
            client, prefix = redis_parts
            for key in client.keys(prefix + "*"):
                client.delete(key)
            client.close()


def test_leaving_ends_a_session_begun_in_the_last_bucket_of_the_lifetime():
    clock = FakeClock()
    wall = lambda: 7200 * 250_000 - 60 + clock.now - 1000  # noqa: E731 - a minute before a bucket ends
    sessions = FollowupSessions(
        MemoryStore(clock=clock, now=wall), idle_seconds=900, lifetime_seconds=7200, now=wall
    )
    reporter = X25519Identity.generate()
    before = sessions.start("ab" * 16, reporter)
    clock.now += 120  # the next bucket of the lifetime: a new generation name
    after = sessions.start("ab" * 16, reporter)
    names = [k for k, (_e, v) in sessions.store._entries.items() if len(v) == 16]
    assert len(names) == 2  # the name changes from one lifetime to the next
    sessions.end(after)
    assert sessions.resume(before) is None and sessions.resume(after) is None
