"""The daily digest in the console: one's own e-mail address, one's own digests (the outbox
when no mail server is configured), and the administrators' view of the outbox."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.models import DigestMessage, StaffUser
from app.services import jobs
from app.services.jobs import JobContext
from tests.helpers.console import signed_in
from tests.helpers.forms import csrf_token
from tests.helpers.smtp import SilentServer, self_signed

DAY = date(2026, 12, 7)
MORNING = datetime(2026, 12, 7, 7, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


def save_email(client, address: str, lang: str = "zh"):
    page = client.get(f"/account/email?lang={lang}").get_data(as_text=True)
    return client.post(
        f"/account/email?lang={lang}", data={"csrf_token": csrf_token(page), "email": address}
    )


def run_digest(app, now: datetime = MORNING) -> str:
    with app.app_context():
        database = app.extensions["portal.db"]
        with database.sessions() as session:
            context = JobContext(
                session, None, None, now.date(), digest=app.extensions["portal.digest"], now=now
            )  # type: ignore[arg-type]
            return jobs.send_daily_digest(context)


def email_of(db, username: str) -> str | None:
    with db() as session:
        return session.scalar(select(StaffUser.email).where(StaffUser.username == username))


@pytest.mark.parametrize(
    ("typed", "lang", "message"),
    [
        ("陈静@纪委", "zh", "请输入电子邮件地址，如 name@example.com，或留空。"),
        ("chen jing@jiwei.example.cn", "en", "Enter an e-mail address such as name@example.com"),
        ("a@jiwei.example.cn\r\nBcc: all@jiwei.example.cn", "en", "Enter an e-mail address"),
        ("a@b.example.cn, c@d.example.cn", "zh", "请输入电子邮件地址"),
        ("x" * 300 + "@jiwei.example.cn", "zh", "电子邮件地址最多 254 个字符。"),
    ],
)
def test_an_invalid_address_gets_a_translated_error_and_keeps_what_was_typed(
    console_app, demo, db, audit_entries, typed, lang, message
):
    client = signed_in(console_app, "inspector")
    response = save_email(client, typed, lang)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    kept = typed.replace("\r\n", "\n").split("\n")[0].replace("&", "&amp;")
    assert kept in page
    assert email_of(db, "inspector") is None
    assert not [entry for entry in audit_entries if entry.action == "email_change"]


def test_an_address_is_saved_removed_and_audited_without_itself(
    console_app, demo, db, audit_entries
):
    client = signed_in(console_app, "inspector")
    response = save_email(client, " Chen.Jing@JiWei.Example.CN ")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/digests?done=email")
    assert email_of(db, "inspector") == "Chen.Jing@jiwei.example.cn"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "您的电子邮件地址已保存。" in page and "Chen.Jing@jiwei.example.cn" in page
    assert save_email(client, "Chen.Jing@jiwei.example.cn").status_code == 302  # unchanged
    assert save_email(client, "").status_code == 302
    assert email_of(db, "inspector") is None
    changes = [
        (entry.actor, entry.detail) for entry in audit_entries if entry.action == "email_change"
    ]
    assert changes == [("inspector", "e-mail address set"), ("inspector", "e-mail address removed")]
    assert not any("jiwei" in entry.detail.lower() for entry in audit_entries)


def test_without_a_mail_server_each_reads_their_own_digest_in_the_console(console_app, demo, db):
    said = run_digest(console_app)
    assert "no mail server: kept in the outbox" in said
    client = signed_in(console_app, "inspector")
    page = client.get("/account/digests").get_data(as_text=True)
    assert page.count('<section class="digest"') == 1
    assert "每日摘要（2026-12-07）" in page and "待处理的新举报：" in page
    assert "未配置邮件服务器：摘要只保存在此处。" in page
    # A publisher gets none, and is told why the page is empty.
    publisher = signed_in(console_app, "publisher")
    page = publisher.get("/account/digests?lang=en").get_data(as_text=True)
    assert "Only inspectors and office heads receive a daily digest." in page
    assert '<section class="digest"' not in page
    with db() as session:
        usernames = set(
            session.scalars(
                select(StaffUser.username).join(
                    DigestMessage, DigestMessage.staff_id == StaffUser.id
                )
            )
        )
    assert "inspector" in usernames and "head" in usernames
    others = {"admin", "publisher", "approver", "auditor", "mch.publisher", "congress"}
    assert not usernames & others


def test_the_outbox_page_says_why_a_digest_waits(instance, demo, db, tmp_path):
    cert, _key = self_signed(tmp_path)
    with SilentServer() as silent:
        app = instance.app(
            "console",
            SMTP_HOST="localhost",
            SMTP_PORT=silent.port,
            SMTP_FROM="jiwei-digest@jiwei.example.cn",
            SMTP_TIMEOUT=0.5,
            SMTP_CA_FILE=str(cert),
        )
        inspector = signed_in(app, "inspector")
        assert save_email(inspector, "chen.jing@jiwei.example.cn").status_code == 302
        said = run_digest(app)
    assert "waiting for the mail server" in said

    admin = signed_in(app, "admin")
    page = admin.get("/admin/outbox?lang=en").get_data(as_text=True)
    assert "The mail server did not answer in time; it is tried again." in page
    assert "no answer within 0.5 seconds" in page
    assert "No e-mail address is set for this account." in page  # the head's
    assert "chen.jing@jiwei.example.cn" in page
    assert "New reports waiting" not in page  # the outbox lists, it does not show the text
    zh = admin.get("/admin/outbox?lang=zh").get_data(as_text=True)
    assert "邮件服务器未及时应答，将重试。" in zh

    head = signed_in(app, "head")
    page = head.get("/account/digests?lang=en").get_data(as_text=True)
    assert "You have no e-mail address: your digest is kept here only." in page
    assert "No e-mail address is set for this account." in page
    assert inspector.get("/admin/outbox").status_code == 403
