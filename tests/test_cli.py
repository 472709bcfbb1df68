"""The `portal` command: init, demo, users, and the same commands through `flask --app`."""

import os
import subprocess
import sys
import time

from app.services.demo import DEMO_LOGINS
from app.services.staff import LoginFailed, authenticate, by_username, totp_now
from crypto import tlog
from tests.helpers.console import enrol, enrolment_code


def run(app, *args, **kwargs):
    return app.test_cli_runner().invoke(args=list(args), **kwargs)


def test_init_creates_schema_and_first_admin(empty_instance):
    app = empty_instance.app("console")
    result = run(app, "init", "--admin", "chief", "--name", "纪委书记 王强")
    assert result.exit_code == 0, result.output
    assert "Created chief" in result.output
    assert "password" not in result.output.split("enrolment code", 1)[0].lower()
    done = enrol(
        app.test_client(), "chief", enrolment_code(result.output), "首位管理员的密码 boss!"
    )
    assert done.response.status_code == 200
    with app.extensions["portal.db"].session() as session:
        signed = authenticate(
            session, "chief", "首位管理员的密码 boss!", totp_now(done.totp_secret, time.time() + 30)
        )
        assert {r.value for r in signed.user.roles} == {"admin"}
    # The log's key pair exists, and the public site knows the public half.
    assert (empty_instance.path / "keys" / "disclosure-log.vkey").exists()
    again = run(app, "init", "--admin", "other")
    assert again.exit_code == 0 and "exist already" in again.output


def test_init_without_a_terminal_needs_flags(empty_instance):
    app = empty_instance.app("console")
    result = run(app, "init")
    assert result.exit_code != 0
    assert "--admin" in result.output


def test_init_takes_no_password(empty_instance):
    """Whoever runs init does not choose the administrator's password: its owner does."""
    result = run(empty_instance.app("console"), "init", "--admin", "chief", "--password", "x" * 14)
    assert result.exit_code != 0
    assert "No such option" in result.output


def test_demo_prints_every_login_and_marks_the_instance(empty_instance):
    app = empty_instance.app("console")
    result = run(app, "demo")
    assert result.exit_code == 0, result.output
    for login in DEMO_LOGINS:
        assert login.username in result.output
        assert login.password in result.output
        assert login.totp_secret in result.output
    roles = {role for login in DEMO_LOGINS for role in login.roles}
    assert {r.value for r in roles} == {
        "admin",
        "publisher",
        "approver",
        "inspector",
        "office_head",
        "auditor",
        "congress_secretary",
    }
    assert "demo = true" in (empty_instance.path / "config.toml").read_text()
    # The banner shows from the next start on.
    page = empty_instance.app("public").test_client().get("/?lang=en")
    assert "Demo instance" in page.get_data(as_text=True)
    # The public site can serve a signed checkpoint of the demo disclosures at once.
    public = empty_instance.app("public").test_client()
    note = public.get("/log/checkpoint").get_data(as_text=True)
    verifier = tlog.Verifier.from_vkey(public.get("/log/key").get_data(as_text=True))
    assert tlog.verify_checkpoint(note, verifier).size > 0
    assert run(app, "log", "verify").exit_code == 0
    # A second run refuses instead of mixing demo data into real data.
    again = run(app, "demo")
    assert again.exit_code != 0 and "already has units" in again.output


def test_user_add_list_disable(console_app, demo):
    result = run(
        console_app,
        *("user", "add", "wang.fang", "--name", "王芳", "--role", "publisher", "--unit", "MCH"),
    )
    assert result.exit_code == 0, result.output
    code = enrolment_code(result.output)
    listing = run(console_app, "user", "list")
    assert "wang.fang" in listing.output and "publisher" in listing.output
    done = enrol(console_app.test_client(), "wang.fang", code, "王芳自己选的密码 another")
    assert done.response.status_code == 200
    assert run(console_app, "user", "disable", "wang.fang").exit_code == 0
    assert "disabled" in run(console_app, "user", "list").output
    with console_app.extensions["portal.db"].session() as session:
        try:
            authenticate(
                session,
                "wang.fang",
                "王芳自己选的密码 another",
                totp_now(done.totp_secret, time.time() + 30),
            )
        except LoginFailed:
            pass
        else:
            raise AssertionError("a disabled account signed in")


def test_user_add_refuses_bad_input(console_app, demo):
    taken = run(console_app, "user", "add", "admin", "--role", "admin")
    assert taken.exit_code != 0 and "taken" in taken.output
    unit = run(console_app, "user", "add", "li", "--role", "admin", "--unit", "NOPE")
    assert unit.exit_code != 0 and "no unit" in unit.output
    role = run(console_app, "user", "add", "li", "--role", "boss")
    assert role.exit_code != 0 and "boss" in role.output
    inspector = run(console_app, "user", "add", "li", "--role", "inspector")
    assert inspector.exit_code != 0 and "discipline office" in inspector.output
    password = run(console_app, "user", "add", "li", "--role", "admin", "--password", "x" * 14)
    assert password.exit_code != 0 and "No such option" in password.output


def _commands(help_text: str) -> set[str]:
    listing = help_text.split("Commands:", 1)[1]
    return {line.split()[0] for line in listing.splitlines() if line.startswith("  ")}


def test_flask_cli_reaches_the_same_commands(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env["PORTAL_INSTANCE_PATH"] = str(tmp_path)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    flask = [sys.executable, "-m", "flask", "--app", "wsgi:console"]
    portal = os.path.join(os.path.dirname(sys.executable), "portal")

    def output(*argv: str) -> str:
        done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    ours = _commands(output(portal, "--help"))
    assert {"db", "user", "keys", "disclosures", "jobs", "run", "serve"} <= ours
    assert ours <= _commands(output(*flask, "--help"))
    # A command runs there too: the rate limits of the console, by route (portal limiter).
    limits = output(*flask, "limiter", "limits")
    assert "session.login: /login" in limits and "10 per 1 hour" in limits


def test_portal_reports_configuration_errors_without_a_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(PORTAL_INSTANCE_PATH=str(tmp_path), PORTAL_DATABASE_URL="mysql://x/y")
    portal = os.path.join(os.path.dirname(sys.executable), "portal")
    result = subprocess.run([portal, "user", "list"], env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert "PORTAL_DATABASE_URL: unknown scheme 'mysql'" in result.stderr
    assert "Traceback" not in result.stderr


def test_export_into_a_missing_folder_says_so(console_app, demo, tmp_path):
    target = tmp_path / "不存在的目录" / "公开事项.jsonl"
    result = run(console_app, "disclosures", "export", str(target))
    assert result.exit_code == 1
    assert "不存在的目录" in result.output and "Traceback" not in result.output
    assert not result.exception or isinstance(result.exception, SystemExit)


def test_user_email_sets_checks_and_removes_the_digest_address(console_app, demo, db):
    from sqlalchemy import select

    from app.models import StaffUser

    def address() -> str | None:
        with db() as session:
            return session.scalar(select(StaffUser.email).where(StaffUser.username == "head"))

    done = run(console_app, "user", "email", "head", "Zhou.Qiang@JiWei.Example.CN")
    assert done.exit_code == 0, done.output
    assert "goes to Zhou.Qiang@jiwei.example.cn" in done.output
    assert address() == "Zhou.Qiang@jiwei.example.cn"
    refused = run(console_app, "user", "email", "head", "周强@纪委")
    assert refused.exit_code == 1 and "is not an e-mail address" in refused.output
    assert "Traceback" not in refused.output and address() == "Zhou.Qiang@jiwei.example.cn"
    removed = run(console_app, "user", "email", "head")
    assert removed.exit_code == 0 and "has no e-mail address" in removed.output
    assert address() is None
    assert run(console_app, "user", "email", "nobody.here", "a@b.cn").exit_code == 1


def test_user_add_cleans_the_name_and_refuses_an_invisible_one(console_app, demo):
    add = ("user", "add", "--role", "publisher", "--unit", "MCH")
    refused = run(console_app, *add, "wang.fang", "--name", "\u200b\u2060\u202e")
    assert refused.exit_code != 0 and "display name" in refused.output
    assert "Traceback" not in refused.output
    added = run(console_app, *add, "wang.fang", "--name", "王\u200b芳\u3000\u3000Ｗａｎｇ\u202e")
    assert added.exit_code == 0, added.output
    with console_app.extensions["portal.db"].session() as session:
        assert by_username(session, "wang.fang").display_name == "王芳 Wang"


def test_the_last_enrolled_administrator_is_not_disabled_or_demoted(console_app, demo):
    from sqlalchemy import select

    from app.models import Role, StaffRole, StaffUser

    with console_app.extensions["portal.db"].session() as session:
        admins = session.scalars(
            select(StaffUser.username).join(StaffRole).where(StaffRole.role == Role.admin)
        )
        assert list(admins) == ["admin"]  # the demo's only administrator
    for args in (("disable", "admin"), ("roles", "admin", "--role", "auditor")):
        result = run(console_app, "user", *args)
        assert result.exit_code != 0
        assert "last active, enrolled administrator" in result.output
    with console_app.extensions["portal.db"].session() as session:
        admin = session.scalar(select(StaffUser).where(StaffUser.username == "admin"))
        assert admin.active and admin.roles == {Role.admin}
