"""`portal keys ...` and the keys side of `portal user` and `portal demo`, as admins see it."""

from __future__ import annotations

import itertools
import re
import stat

import pytest
from sqlalchemy import select, text

from app.db import Base
from app.models import DisciplineOffice, StaffUser, Unit
from app.services import keys, recovery, staff
from app.services.demo import DEMO_LOGINS
from tests.helpers.console import enrol, enrolment_code, sign_in
from tests.helpers.recovery_shares import share_lines
from tests.helpers.servers import PORTAL, portal, portal_env
from tests.helpers.weak_kdf import TEST_SEAL_PARAMS

PASSWORDS = {login.username: login.password for login in DEMO_LOGINS}
SECRET_MARK = "AGE-SECRET-KEY-1"


def run(app, *args, **kwargs):
    return app.test_cli_runner().invoke(args=list(args), **kwargs)


def refused(result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert SECRET_MARK not in result.output


def office(app, code: str) -> DisciplineOffice:
    with app.extensions["portal.db"].session() as session:
        found = session.scalar(select(DisciplineOffice).join(Unit).where(Unit.code == code))
        session.expunge(found)
        return found


def ceremony(app, *args):
    return run(app, "keys", "ceremony", *args)


# --- keys list ------------------------------------------------------------------------------


def test_list_shows_readers_recovery_keys_and_accounts_without_a_key(console_app, demo):
    listing = run(console_app, "keys", "list")
    assert listing.exit_code == 0, listing.output
    out = listing.output
    assert "华夏重型机械有限公司纪委 / Discipline Committee, Huaxia Heavy Machinery" in out
    assert re.search(
        r"reads\s+mch\.head\s+office_head\s+report, messages, name\s+机械公司纪委书记 吴刚", out
    )
    assert re.search(
        r"reads\s+chm\.inspector\s+inspector\s+report, messages\s+化工公司纪检员 郑洁", out
    )
    assert out.count("recovery key: yes, 2 of 3 shares, made ") == 3
    assert "no key yet" not in out

    moved = run(
        console_app, "user", "roles", "mch.publisher", "--role", "inspector", "--office", "MCH"
    )
    assert moved.exit_code == 0, moved.output
    assert "mch.publisher reads reports but has no key yet" in moved.output
    out = run(console_app, "keys", "list").output
    mch = out[out.index("MCH ") :]
    assert re.search(r"NO KEY\s+mch\.publisher\s+no key yet", mch)
    assert "next sign-in" in mch


def test_list_says_when_an_office_has_no_recovery_key(console_app, demo):
    with console_app.extensions["portal.db"].session() as session:
        found = session.scalar(select(DisciplineOffice).join(Unit).where(Unit.code == "CHM"))
        found.recovery_recipient = None
    out = run(console_app, "keys", "list").output
    chm = out[out.index("CHM ") : out.index("GRP ")]
    assert "recovery key: NO (make one: portal keys ceremony --office CHM" in chm


def _readers_listed(out: str, code: str) -> dict[str, str]:
    """Username -> what it reads, for the office of the unit ``code`` in ``keys list``."""
    lines = out[out.index(f"\n{code}  ") + 1 :].splitlines()[1:]
    found = {}
    for line in lines:
        if not line.startswith("  "):
            break
        listed = re.match(r"  reads\s+(\S+)\s+\S+\s+(report, messages(?:, name)?)\s", line)
        if listed:
            found[listed.group(1)] = listed.group(2)
    return found


def test_list_says_who_reads_what_as_reports_are_encrypted(console_app, public_app, demo):
    from app.models import EnvelopeRole, ReaderRole, Report
    from app.services.reports.envelopes import read_bytes
    from crypto.errors import NoIdentityMatch
    from tests.helpers.report_pages import report_form_data

    out = run(console_app, "keys", "list").output
    said = " ".join(out.split())
    assert "The report, its files and its messages go to all of them" in said
    assert "name and contact, if given, to the heads and the recovery key only" in said
    assert "keeping out a head (or every inspector) sends it to the office above" in said
    listed = _readers_listed(out, "MCH")
    assert listed == {"mch.head": "report, messages, name", "mch.inspector": "report, messages"}

    client = public_app.test_client()
    data = report_form_data(client, unit="MCH-W1", level="staff", real_name="举报人 张三")
    assert client.post("/report/new", data=data, follow_redirects=True).status_code == 200
    with console_app.extensions["portal.db"].session() as session:
        report = session.scalars(select(Report)).one()
        roles = {r.staff.username: r.role for r in report.readers}
        assert set(roles) == set(listed)
        heads = {name for name, role in roles.items() if role is ReaderRole.office_head}
        assert heads == {name for name, reads in listed.items() if reads.endswith("name")}
        blobs = console_app.extensions["portal.blobs"]
        for username, reads in listed.items():
            account = staff.by_username(session, username)
            identity = keys.unseal(account, PASSWORDS[username], TEST_SEAL_PARAMS)
            for envelope in report.envelopes:
                opened = True
                try:
                    read_bytes(blobs, envelope, [identity], 10**6)
                except NoIdentityMatch:
                    opened = False
                assert opened == (envelope.role != EnvelopeRole.identity or "name" in reads)


def test_list_says_which_offices_take_no_reports_and_where_names_go(console_app, demo):
    assert run(console_app, "user", "disable", "chm.inspector").exit_code == 0
    assert run(console_app, "user", "disable", "mch.head").exit_code == 0
    out = run(console_app, "keys", "list").output
    chm = out[out.index("CHM ") : out.index("GRP ")]
    assert "TAKES NO REPORTS: it needs a recovery key and an inspector with a key" in chm
    mch = out[out.index("MCH ") :]
    assert "no head with a key: a reporter's name opens with the recovery key alone" in mch
    assert "TAKES NO REPORTS" not in mch


# --- users ----------------------------------------------------------------------------------


def test_user_add_gives_a_code_and_the_inspector_makes_the_key_by_enrolling(console_app, demo):
    result = run(
        console_app,
        *("user", "add", "zhang.wei", "--name", "纪检员 张伟", "--role", "inspector"),
        *("--office", "CHM"),
    )
    assert result.exit_code == 0, result.output
    assert "made when they enrol" in result.output
    listing = run(console_app, "keys", "list").output
    assert re.search(r"NO KEY\s+zhang\.wei\s+no key yet", listing)
    done = enrol(
        console_app.test_client(), "zhang.wei", enrolment_code(result.output), "张伟自己的密码 mine"
    )
    assert done.response.status_code == 200 and len(done.recovery_codes) == 10
    listing = run(console_app, "keys", "list").output
    assert re.search(r"reads\s+zhang\.wei\s+inspector\s+report, messages\s+纪检员 张伟", listing)
    with console_app.extensions["portal.db"].session() as session:
        account = staff.by_username(session, "zhang.wei")
        assert keys.unseal(account, "张伟自己的密码 mine", TEST_SEAL_PARAMS)


def test_admin_reset_says_a_new_key_will_be_made(console_app, demo):
    before = office(console_app, "GRP")
    result = run(console_app, "user", "reset", "inspector")
    assert result.exit_code == 0, result.output
    assert "Reset inspector" in result.output
    assert "a NEW key is made when they enrol" in result.output
    assert "until a colleague of the office grants them again" in result.output
    assert "recovery key re-opens them" in result.output
    assert SECRET_MARK not in result.output
    done = enrol(
        console_app.test_client(), "inspector", enrolment_code(result.output), "重置后的密码 reset!"
    )
    assert done.response.status_code == 200
    page = done.response.get_data(as_text=True)
    assert "cannot be opened with the new one" in page or "无法用新密钥打开" in page
    with console_app.extensions["portal.db"].session() as session:
        account = staff.by_username(session, "inspector")
        assert keys.unseal(account, "重置后的密码 reset!", TEST_SEAL_PARAMS)
    assert office(console_app, "GRP").recovery_recipient == before.recovery_recipient
    plain = run(console_app, "user", "reset", "publisher")
    assert plain.exit_code == 0 and "key" not in plain.output.lower()
    missing = run(console_app, "user", "reset", "nobody")
    assert missing.exit_code == 1 and "no user 'nobody'" in missing.output
    gone = run(console_app, "user", "password", "publisher", "--password", "x" * 14)
    assert gone.exit_code != 0


def test_user_roles_leaves_the_key_to_the_next_sign_in(console_app, demo):
    result = run(
        console_app,
        *("user", "roles", "approver", "--role", "approver", "--role", "office_head"),
        *("--office", "GRP"),
    )
    assert result.exit_code == 0, result.output
    assert "Roles of approver: approver, office_head." in result.output
    assert "made from their own password at their next sign-in" in result.output
    client = console_app.test_client()
    login = next(login for login in DEMO_LOGINS if login.username == "approver")
    signed = sign_in(client, "approver", login.password, staff.totp_now(login.totp_secret))
    assert signed.status_code == 302
    listing = run(console_app, "keys", "list").output
    assert re.search(r"reads\s+approver\s+", listing)
    no_office = run(console_app, "user", "roles", "auditor", "--role", "office_head")
    assert no_office.exit_code == 1 and "office head belongs to a discipline office" in (
        no_office.output
    )


# --- ceremony and recovery ------------------------------------------------------------------


def test_ceremony_refusals_exit_2_without_a_traceback(console_app, demo):
    base = ("--threshold", "2", "--shares", "3", "--replace")
    refused(ceremony(console_app, "--office", "NOPE", *base), "no discipline office at unit")
    refused(ceremony(console_app, "--office", "MCH-W1", *base), "no discipline office at unit")
    refused(
        ceremony(console_app, "--office", "MCH", "--threshold", "4", "--shares", "3"),
        "threshold (4) cannot be more than the number of shares (3)",
    )
    refused(
        ceremony(console_app, "--office", "MCH", "--threshold", "0", "--shares", "3"),
        "threshold must be at least 2",
    )
    refused(
        ceremony(console_app, "--office", "MCH", "--threshold", "2", "--shares", "17"),
        "at most 16 shares",
    )
    refused(
        ceremony(console_app, "--office", "MCH", *base, "--names", "张伟，李娜"),
        "3 shares need 3 holder names; 2 given",
    )
    refused(
        ceremony(console_app, "--office", "MCH", "--threshold", "2", "--shares", "3"),
        "has a recovery key already",
    )


def test_ceremony_prints_named_sheets_and_stores_only_the_public_key(console_app, demo):
    old = office(console_app, "MCH")
    result = ceremony(
        console_app,
        *("--office", "MCH", "--threshold", "2", "--shares", "3", "--replace"),
        *("--names", "张伟，李娜、王芳"),
    )
    assert result.exit_code == 0, result.output
    assert "Reports already received stay readable with the OLD shares only" in result.stderr
    out = result.stdout
    for number, holder in enumerate(["张伟", "李娜", "王芳"], start=1):
        assert f"=== Recovery share {number} of 3 ===" in out
        assert f"Holder:     {holder}" in out
    assert out.count("华夏重型机械有限公司纪委") >= 3
    assert out.count("Discipline Committee, Huaxia Heavy Machinery Co., Ltd. (MCH)") >= 3
    assert out.count("Threshold:  2 of 3 shares") == 3
    lines = share_lines(out)
    assert [len(line.split()) for line in lines] == [33, 33, 33]
    new = office(console_app, "MCH")
    assert new.recovery_recipient != old.recovery_recipient
    assert new.recovery_recipient in out and new.recovery_set_id != old.recovery_set_id
    assert (new.recovery_threshold, new.recovery_shares) == (2, 3)
    assert SECRET_MARK not in result.output


@pytest.fixture
def mch_shares(console_app, demo) -> list[str]:
    result = ceremony(
        console_app, "--office", "MCH", "--threshold", "2", "--shares", "3", "--replace"
    )
    assert result.exit_code == 0, result.output
    return share_lines(result.stdout)


def recover(app, code: str, *lines: str):
    return run(app, "keys", "recover", "--office", code, input="".join(f"{x}\n" for x in lines))


def test_recover_from_piped_shares_proves_the_key(console_app, mch_shares):
    result = recover(console_app, "MCH", mch_shares[2], "", mch_shares[0])
    assert result.exit_code == 0, result.output
    assert "Recovered the recovery key of MCH (华夏重型机械有限公司纪委" in result.output
    stored = office(console_app, "MCH").recovery_recipient
    assert f"It matches the stored public key {stored}." in result.output
    assert SECRET_MARK not in result.output


def test_recover_names_what_is_wrong(console_app, mch_shares):
    refused(recover(console_app, "MCH", mch_shares[1]), "needs 2 shares and 1 was entered")
    refused(recover(console_app, "MCH"), "needs 2 shares and 0 were entered")
    words = mch_shares[1].split()
    words[3] = "zzzz"
    refused(
        recover(console_app, "MCH", mch_shares[0], " ".join(words)),
        "Share 2, word 4 is not a recovery word. Check its spelling.",
    )
    words = mch_shares[1].split()
    words[10] = "academic" if words[10] != "academic" else "acid"
    refused(
        recover(console_app, "MCH", mch_shares[0], " ".join(words)), "Share 2 fails its checksum"
    )
    refused(recover(console_app, "MCH", mch_shares[0], mch_shares[0]), "same share as share 1")
    # A share of another office: the GRP set, made just now.
    grp = ceremony(console_app, "--office", "GRP", "--threshold", "3", "--shares", "5", "--replace")
    grp_shares = share_lines(grp.stdout)
    refused(
        recover(console_app, "MCH", mch_shares[0], grp_shares[0]),
        "Share 2 is not a share of the recovery key of MCH",
    )
    refused(recover(console_app, "NOPE", mch_shares[0]), "no discipline office at unit 'NOPE'")


def test_recover_refuses_the_shares_of_a_replaced_set(console_app, mch_shares):
    again = ceremony(
        console_app, "--office", "MCH", "--threshold", "3", "--shares", "4", "--replace"
    )
    result = recover(console_app, "MCH", *mch_shares)
    refused(result, "Share 1 is not a share of the recovery key of MCH")
    assert "one of a set replaced since" in result.stderr
    new_lines = share_lines(again.stdout)
    assert recover(console_app, "MCH", *new_lines[1:]).exit_code == 0


# --- the demo, and no unsealed key anywhere -------------------------------------------------


def test_demo_writes_share_sheets_that_recover_every_office(empty_instance):
    app = empty_instance.app("console")
    result = run(app, "demo")
    assert result.exit_code == 0, result.output
    shares_file = empty_instance.path / "demo-recovery-shares.txt"
    assert (
        f"Recovery share sheets of the demo offices (2 of 3 recover each key): {shares_file}"
        in (result.output)
    )
    assert stat.S_IMODE(shares_file.stat().st_mode) == 0o600
    sheets = shares_file.read_text("utf-8")
    assert "Holder:     周强" in sheets and "华夏精细化工有限公司纪委" in sheets
    lines = share_lines(sheets)
    assert len(lines) == 9
    for index, code in enumerate(["GRP", "MCH", "CHM"]):
        assert code in sheets.split("=== Recovery share ")[3 * index + 1]
        proof = recover(app, code, lines[3 * index + 1], lines[3 * index + 2])
        assert proof.exit_code == 0, proof.output
    listing = run(app, "keys", "list").output
    assert listing.count("recovery key: yes, 2 of 3") == 3


def _instance_files(path):
    return [file for file in path.rglob("*") if file.is_file()]


def test_no_unsealed_key_is_written_anywhere(empty_instance, capfd):
    app = empty_instance.app("console")
    outputs = [run(app, "demo")]
    lines = share_lines((empty_instance.path / "demo-recovery-shares.txt").read_text("utf-8"))
    outputs.append(recover(app, "CHM", lines[6], lines[8]))
    outputs.append(
        ceremony(app, "--office", "MCH", "--threshold", "2", "--shares", "2", "--replace")
    )
    outputs.append(recover(app, "MCH", *share_lines(outputs[-1].stdout)))
    outputs.append(run(app, "user", "reset", "chm.head"))
    with app.extensions["portal.db"].session() as session:
        owner = session.scalar(select(StaffUser).where(StaffUser.username == "mch.inspector"))
        staff.change_password(
            session,
            owner,
            PASSWORDS["mch.inspector"],
            "刘洋自己改的密码 changed",
            seal_params=TEST_SEAL_PARAMS,
        )
    assert all(result.exit_code == 0 for result in outputs), [r.output for r in outputs]

    # The secrets to look for: the marker of any key's text, and two keys in every form.
    with app.extensions["portal.db"].session() as session:
        owner = staff.by_username(session, "mch.inspector")
        inspector = keys.unseal(owner, "刘洋自己改的密码 changed", TEST_SEAL_PARAMS)
        chm = session.scalar(select(DisciplineOffice).join(Unit).where(Unit.code == "CHM"))
        chm_recovery = recovery.recover_office_identity(chm, [lines[6], lines[7]])
        rows = [
            str(row)
            for table in Base.metadata.sorted_tables
            for row in session.execute(text(f'SELECT * FROM "{table.name}"'))
        ]
    texts = [SECRET_MARK]
    raw = []
    for identity in (inspector, chm_recovery):
        texts += [identity.secret_key_text(), identity.secret_bytes.hex()]
        raw.append(identity.secret_bytes)

    def check_files() -> set[str]:
        files = _instance_files(empty_instance.path)
        for file in files:
            data = file.read_bytes()
            for needle in raw:
                assert needle not in data, file
            for needle in texts:
                assert needle.encode() not in data.upper(), file
                assert needle.encode() not in data, file
        return {file.name for file in files}

    names = check_files()  # with the database open: the SQLite -wal file too
    assert "demo-recovery-shares.txt" in names
    if empty_instance.backend == "sqlite":
        assert {"portal.sqlite3", "portal.sqlite3-wal"} <= names
    empty_instance.close()
    check_files()  # and once the log is checkpointed into the database file
    captured = capfd.readouterr()
    printed = "".join(r.output for r in outputs) + captured.out + captured.err + "".join(rows)
    for needle in texts:
        assert needle not in printed and needle not in printed.upper()
    assert "matches the stored public key" in outputs[1].output


@pytest.mark.parametrize(
    ("position", "typed"),
    [
        (7, None),  # the share's own word with one letter changed
        (3, "qzxvbnk"),
        (12, "恢复密钥"),
    ],
    ids=["misspelt", "nonsense", "chinese"],
)
def test_recover_from_piped_stdin_never_shows_a_word_typed(instance, mch_shares, position, typed):
    words = mch_shares[1].split()
    if typed is None:
        real = words[position - 1]
        typed = real[:-1] + ("x" if real[-1] != "x" else "y")
    words[position - 1] = typed
    env = portal_env(instance.path, PORTAL_DATABASE_URL=instance.database_url)
    done = portal(
        env, "keys", "recover", "--office", "MCH", input=f"{mch_shares[0]}\n{' '.join(words)}\n"
    )
    assert done.returncode == 2, done.stdout + done.stderr
    for shown in (done.stdout, done.stderr):
        assert typed not in shown and typed.upper() not in shown
        for word in set(mch_shares[0].split() + words):
            assert f"({word})" not in shown and f'"{word}"' not in shown
    assert f"Share 2, word {position} is not a recovery word" in done.stderr  # still says where


def _on_a_terminal(env: dict[str, str], args: list[str], lines: list[str]) -> tuple[int, str]:
    """Run ``portal`` with a terminal of its own (as an officer at a console does), type
    ``lines`` at its prompts; its exit status and everything the terminal showed."""
    import os
    import pty
    import select as polling
    import signal

    pid, terminal = pty.fork()
    if pid == 0:  # the child: a new session whose controlling terminal is the pty
        try:
            os.execve(str(PORTAL), [str(PORTAL), *args], env)
        finally:
            os._exit(127)
    shown = b""
    typed = 0
    while True:
        ready, _, _ = polling.select([terminal], [], [], 60)
        if not ready:  # waiting for what never comes: stop it, the test fails below
            os.kill(pid, signal.SIGKILL)
            break
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        asked = shown.count(b"Share ")
        if typed < min(asked, len(lines)) and shown.rstrip().endswith(b"):"):
            os.write(terminal, lines[typed].encode() + b"\n")
            typed += 1
    _, status = os.waitpid(pid, 0)
    os.close(terminal)
    return os.waitstatus_to_exitcode(status), shown.decode("utf-8", "replace")


def test_recover_on_a_terminal_does_not_show_the_words_typed(instance, mch_shares):
    env = portal_env(instance.path, PORTAL_DATABASE_URL=instance.database_url)
    status, shown = _on_a_terminal(
        env, ["keys", "recover", "--office", "MCH"], [mch_shares[0], mch_shares[2]]
    )
    assert status == 0, shown
    assert "Share 1 of 2" in shown and "Share 2 of 2" in shown
    assert "Recovered the recovery key of MCH" in shown
    for share in (mch_shares[0], mch_shares[2]):
        words = share.split()
        for pair in itertools.pairwise(words):  # no two words of it, one after the other
            assert " ".join(pair) not in shown, shown
