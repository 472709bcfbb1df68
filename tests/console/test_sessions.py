"""Console sessions on the server: what ends them (everywhere at once), idle and absolute
expiry, the last-seen writes, and a staff member's own list of sessions."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from app.db import utcnow
from app.models import ConsoleSession
from app.security import auth
from app.services import jobs, sessions
from app.services.demo import DEMO_LOGINS
from tests.helpers.console import signed_in
from tests.helpers.forms import csrf_token

LOGINS = {login.username: login for login in DEMO_LOGINS}
COOKIES = ("portal_console", "portal_console_key")


def copy_of(app, client):
    """Another browser holding copies of every cookie of ``client`` (a stolen cookie jar)."""
    thief = app.test_client()
    for name in COOKIES:
        cookie = client.get_cookie(name)
        if cookie is not None:
            thief.set_cookie(name, cookie.value)
    return thief


def opens_console(client) -> bool:
    response = client.get("/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def sign_out(client) -> None:
    page = client.get("/").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_token(page)}).status_code == 302


class Clock:
    """Moves the console's idea of now (sign-in and every check use ``auth.utcnow``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = timedelta()
        monkeypatch.setattr(auth, "utcnow", lambda: utcnow() + self.offset)

    def forward(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def session_rows(app) -> int:
    with app.extensions["portal.db"].session() as db:
        return db.scalar(select(func.count()).select_from(ConsoleSession))


# --- what ends a session ----------------------------------------------------------------------


def test_a_copied_cookie_stops_working_at_sign_out(console_app, demo):
    client = signed_in(console_app, "publisher")
    thief = copy_of(console_app, client)
    assert opens_console(thief)  # the copy works while the session lives...
    sign_out(client)
    assert not opens_console(client)
    assert not opens_console(thief)  # ...and not a moment after it ended
    assert session_rows(console_app) == 0


def test_the_cookie_holds_no_signed_account_and_a_forged_one_opens_nothing(console_app, demo):
    client = signed_in(console_app, "admin")
    with client.session_transaction() as flask_session:
        assert "staff_id" not in flask_session
    forged = console_app.test_client()
    forged.set_cookie("portal_console_key", client.get_cookie("portal_console_key").value[:-2])
    assert not opens_console(forged)
    forged.set_cookie("portal_console_key", "管理员")
    assert not opens_console(forged)


@pytest.mark.parametrize(
    "ending",
    [
        ("user", "reset", "mch.inspector"),
        ("user", "roles", "mch.inspector", "--role", "inspector", "--role", "publisher"),
        ("user", "disable", "mch.inspector"),
        ("user", "signout", "mch.inspector"),
    ],
    ids=["reset", "role-change", "disable", "admin-signout"],
)
def test_an_administrators_change_ends_the_sessions_at_once_on_every_instance(
    instance, console_app, demo, ending
):
    """Two app instances (two processes or machines) on one database: the change made through
    one ends the session that the other serves, at its very next request."""
    other_machine = instance.app("console")
    client = signed_in(other_machine, "mch.inspector")
    thief = copy_of(other_machine, client)
    bystander = signed_in(other_machine, "inspector")
    assert opens_console(client) and opens_console(thief)
    result = console_app.test_cli_runner().invoke(args=list(ending))
    assert result.exit_code == 0, result.output
    assert not opens_console(client)
    assert not opens_console(thief)
    assert opens_console(bystander)


def test_sign_out_on_one_instance_ends_the_session_on_the_other(instance, console_app, demo):
    other_machine = instance.app("console")
    client = signed_in(console_app, "head")
    there = copy_of(other_machine, client)
    assert opens_console(there)
    sign_out(client)
    assert not opens_console(there)


def test_a_copied_cookie_stops_working_after_the_owner_changes_the_password(console_app, demo):
    client = signed_in(console_app, "mch.head")
    elsewhere = signed_in(console_app, "mch.head", at=time.time() + 30)
    thief = copy_of(console_app, elsewhere)
    page = client.get("/account/password").get_data(as_text=True)
    response = client.post(
        "/account/password",
        data={
            "csrf_token": csrf_token(page),
            "current": LOGINS["mch.head"].password,
            "password": "吴刚自己的新密码 changed",
            "repeat": "吴刚自己的新密码 changed",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/sessions?done=password")
    assert opens_console(client)  # this one stays
    assert not opens_console(elsewhere) and not opens_console(thief)


# --- expiry -----------------------------------------------------------------------------------


def test_an_idle_session_ends_after_30_minutes_even_if_it_was_used_a_minute_ago(
    console_app, demo, clock
):
    client = signed_in(console_app, "approver")
    clock.forward(minutes=29)
    assert opens_console(client)  # used: it lives 30 minutes from now
    clock.forward(minutes=29)
    assert opens_console(client)
    clock.forward(minutes=31)
    assert not opens_console(client)
    # Coming back does not revive it.
    clock.forward(minutes=-31)
    assert not opens_console(client)


def test_a_busy_session_ends_after_8_hours_all_the_same(console_app, demo, clock):
    client = signed_in(console_app, "approver")
    for _ in range(8 * 3 - 1):
        clock.forward(minutes=20)
        assert opens_console(client)
    clock.forward(minutes=20)  # 8 hours after the sign-in
    assert not opens_console(client)


def test_expiry_follows_the_configuration(instance, demo, clock):
    app = instance.app("console", CONSOLE_IDLE_MINUTES=5, CONSOLE_MAX_HOURS=1)
    client = signed_in(app, "approver")
    clock.forward(minutes=4)
    assert opens_console(client)
    clock.forward(minutes=6)
    assert not opens_console(client)
    client = signed_in(app, "publisher")
    for _ in range(14):
        clock.forward(minutes=4)
        assert opens_console(client)
    clock.forward(minutes=4)
    assert not opens_console(client)


def test_last_seen_is_written_at_most_once_a_minute(console_app, demo, clock):
    client = signed_in(console_app, "publisher")
    writes = []
    engine = console_app.extensions["portal.db"].engine

    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("UPDATE CONSOLE_SESSIONS"):
            writes.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(10):
            clock.forward(seconds=5)
            assert opens_console(client)
        assert len(writes) == 0  # 50 seconds: nothing written
        clock.forward(seconds=15)
        for _ in range(5):
            assert opens_console(client)
        assert len(writes) == 1
    finally:
        event.remove(engine, "before_cursor_execute", count)
    with console_app.extensions["portal.db"].session() as db:
        row = db.scalars(select(ConsoleSession)).one()
        assert row.idle_until - row.last_seen_at == timedelta(minutes=30)


def test_the_job_removes_the_rows_of_ended_sessions(console_app, demo, db):
    signed_in(console_app, "publisher")
    signed_in(console_app, "approver")
    with db() as session:
        row = session.scalars(select(ConsoleSession).order_by(ConsoleSession.created_at)).first()
        row.expires_at = utcnow() - timedelta(seconds=1)
    with db() as session:
        context = jobs.JobContext(session, None, None, utcnow().date())
        said = jobs.remove_ended_sessions(context)
    assert said.startswith("removed 1 ended console session(s)")
    assert session_rows(console_app) == 1


# --- a staff member's own sessions ------------------------------------------------------------


def test_a_staff_member_sees_their_sessions_and_ends_another(console_app, demo, clock):
    office_pc = signed_in(console_app, "auditor")
    clock.forward(minutes=2)
    laptop = signed_in(console_app, "auditor", at=time.time() + 30)
    someone_else = signed_in(console_app, "publisher")
    page = laptop.get("/account/sessions?lang=en")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert body.count("End this session</button>") == 1
    assert body.count("<strong>This session</strong>") == 1
    assert 'aria-current="true"' in body
    # The other row's id is the hash the database keeps, never a cookie.
    other = re.search(r'name="session_id" value="([0-9a-f]{64})"', body).group(1)
    assert other not in office_pc.get_cookie("portal_console_key").value
    response = laptop.post(
        "/account/sessions/end", data={"csrf_token": csrf_token(body), "session_id": other}
    )
    assert response.status_code == 302
    assert "The session was ended" in laptop.get(response.headers["Location"] + "&lang=en").text
    assert not opens_console(office_pc)
    assert opens_console(laptop) and opens_console(someone_else)


def test_ending_someone_elses_session_or_this_one_by_its_id_does_nothing(console_app, demo):
    mine = signed_in(console_app, "auditor")
    theirs = signed_in(console_app, "publisher")
    with console_app.extensions["portal.db"].session() as db:
        rows = {row.staff.username: row.id_hash for row in db.scalars(select(ConsoleSession))}
    page = mine.get("/account/sessions").get_data(as_text=True)
    for target in (rows["publisher"], rows["auditor"]):
        response = mine.post(
            "/account/sessions/end", data={"csrf_token": csrf_token(page), "session_id": target}
        )
        assert response.status_code == 302
    assert opens_console(mine) and opens_console(theirs)


def test_end_all_other_sessions(console_app, demo):
    now = time.time()
    clients = [signed_in(console_app, "approver", at=now + 30 * n - 30) for n in range(3)]
    page = clients[0].get("/account/sessions?lang=en").get_data(as_text=True)
    assert page.count("End this session</button>") == 2
    response = clients[0].post(
        "/account/sessions/end-others", data={"csrf_token": csrf_token(page)}
    )
    assert response.status_code == 302
    assert [opens_console(client) for client in clients] == [True, False, False]


def test_session_pages_are_translated(console_app, demo):
    client = signed_in(console_app, "approver")
    zh = client.get("/account/sessions?lang=zh").get_data(as_text=True)
    assert "本会话" in zh and "Your open sessions" not in zh
    en = client.get("/account/sessions?lang=en").get_data(as_text=True)
    assert "Your open sessions" in en


def test_every_new_session_post_needs_a_csrf_token(console_app, demo):
    client = signed_in(console_app, "approver")
    for path in ("/account/sessions/end", "/account/sessions/end-others", "/account/password"):
        assert client.post(path, data={}).status_code == 400, path
    assert opens_console(client)


def test_a_session_row_names_its_session_only_by_a_hash(console_app, demo):
    client = signed_in(console_app, "approver")
    ticket = sessions.Ticket.from_cookie(client.get_cookie("portal_console_key").value)
    with console_app.extensions["portal.db"].session() as db:
        row = db.scalars(select(ConsoleSession)).one()
        assert row.id_hash == ticket.id_hash
        assert ticket.session_id.hex() not in row.id_hash
        assert row.expires_at - row.created_at == timedelta(hours=8)
