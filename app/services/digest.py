"""The daily digest: one message a day to each inspector and office head.

It says how many new reports and replies wait and which deadlines fall due in the next three
working days: numbers and case references only, never content, category, unit or a name, and
no time finer than the day. Every message of a day is written at once, at the hour the
installation chose (``DIGEST_HOUR`` where the enterprise is), so its timing says nothing about
when anything came. With a mail server (``SMTP_*``, STARTTLS) the waiting messages are sent;
without one they stay in the outbox the console shows. A refusal or a timeout leaves the
message waiting, with the reason, for the next run.

Nobody gets two on a day: the outbox's row (staff, day) is unique, written once by whichever
run comes first, and a message is taken for sending by one run only (``waiting`` ->
``sending`` in one statement) before it goes out.
"""

from __future__ import annotations

import functools
import smtplib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from babel.support import Translations
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app.models import DigestMessage, DigestState, Role, StaffRole, StaffUser
from app.services.cases.calendar import WorkCalendar
from app.services.cases.inbox import Waiting, waiting_for

WORKING_DAYS_AHEAD = 3
LISTED = 20  # case references per section; the counts are of all
KEEP_DAYS = 60  # the outbox keeps a message this many days, then forgets it
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
RECIPIENT_ROLES = (Role.inspector, Role.office_head)
ERROR_MAX = 500

# Why a message was not sent (yet): the words the console shows, translated there.
NO_SERVER = "no_server"  # no mail server configured: the console's outbox only
NO_ADDRESS = "no_address"  # the staff member gave no e-mail address
REFUSED = "refused"  # the mail server answered with an error
TIMEOUT = "timeout"  # the mail server did not answer in time
UNREACHABLE = "unreachable"  # no connection to the mail server
TLS = "tls"  # STARTTLS failed (not offered, or the certificate is not trusted)
LOGIN = "login"  # the mail server refused the user name or password
LATE = "late"  # not sent on its day; the next day's digest replaces it
# Reasons that are the server's, not the message's: the run stops trying after the first.
SERVER_DOWN = frozenset({TIMEOUT, UNREACHABLE, TLS, LOGIN})
REASONS = (NO_SERVER, NO_ADDRESS, REFUSED, TIMEOUT, UNREACHABLE, TLS, LOGIN, LATE)


@dataclass(frozen=True)
class MailSettings:
    """The mail server (``SMTP_*``); no host: nothing is sent, the outbox keeps everything."""

    host: str = ""
    port: int = 587
    username: str = ""
    password: str = ""
    sender: str = ""
    starttls: bool = True
    timeout: float = 30.0
    ca_file: str = ""  # a private CA's certificates; else the system's

    @property
    def configured(self) -> bool:
        return bool(self.host)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MailSettings:
        return cls(
            host=config["SMTP_HOST"],
            port=config["SMTP_PORT"],
            username=config["SMTP_USERNAME"],
            password=config["SMTP_PASSWORD"],
            sender=config["SMTP_FROM"],
            starttls=config["SMTP_STARTTLS"],
            timeout=config["SMTP_TIMEOUT"],
            ca_file=config["SMTP_CA_FILE"],
        )


@dataclass(frozen=True)
class DigestSettings:
    hour: int = 7
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    language: str = "zh"
    console_url: str = ""
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    mail: MailSettings = field(default_factory=MailSettings)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DigestSettings:
        return cls(
            hour=config["DIGEST_HOUR"],
            zone=ZoneInfo(config["BABEL_DEFAULT_TIMEZONE"]),
            language=config["BABEL_DEFAULT_LOCALE"],
            console_url=config["CONSOLE_URL"],
            calendar=WorkCalendar.from_config(config.get("WORK_CALENDAR")),
            mail=MailSettings.from_config(config),
        )


class MailNotSent(Exception):
    """The mail server did not take a message; ``reason`` is one of REASONS."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail[:ERROR_MAX]


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


class SmtpMailer:
    """Sends one plain-text message per connection, over STARTTLS unless told otherwise."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file or None)

    def send(self, to: str, subject: str, body: str) -> None:
        s = self.settings
        message = EmailMessage()
        message["From"] = s.sender
        message["To"] = formataddr(("", to))
        message["Subject"] = subject
        message.set_content(body)
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout) as smtp:
                smtp.ehlo()
                if s.starttls:
                    if not smtp.has_extn("starttls"):
                        raise MailNotSent(TLS, "the server does not offer STARTTLS")
                    smtp.starttls(context=self._tls_context())
                    smtp.ehlo()
                if s.username:
                    smtp.login(s.username, s.password)
                smtp.send_message(message)
        except MailNotSent:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise MailNotSent(LOGIN, _answer(exc.smtp_code, exc.smtp_error)) from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, said = next(iter(exc.recipients.values()))
            raise MailNotSent(REFUSED, _answer(code, said)) from None
        except smtplib.SMTPResponseException as exc:
            raise MailNotSent(REFUSED, _answer(exc.smtp_code, exc.smtp_error)) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise MailNotSent(TLS, str(exc)) from None
        except TimeoutError:
            raise MailNotSent(TIMEOUT, f"no answer within {s.timeout:g} seconds") from None
        except ssl.SSLError as exc:
            raise MailNotSent(TLS, exc.reason or str(exc)) from None
        except smtplib.SMTPServerDisconnected as exc:
            if isinstance(exc.__context__, TimeoutError):  # smtplib's word for a silent server
                raise MailNotSent(TIMEOUT, f"no answer within {s.timeout:g} seconds") from None
            raise MailNotSent(UNREACHABLE, "the server closed the connection") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailNotSent(UNREACHABLE, str(exc) or type(exc).__name__) from None


def _answer(code: int, said: bytes | str) -> str:
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    return f"{code} {text}".strip()


def due_now(now: datetime, settings: DigestSettings) -> bool:
    """Whether today's digest may go out: at or after the hour where the enterprise is."""
    return now.astimezone(settings.zone).hour >= settings.hour


def recipients(session: Session) -> list[StaffUser]:
    """Active inspectors and office heads of an office, in id order."""
    with_role = select(StaffRole.user_id).where(StaffRole.role.in_(RECIPIENT_ROLES))
    query = (
        select(StaffUser)
        .where(
            StaffUser.active.is_(True),
            StaffUser.office_id.is_not(None),
            StaffUser.id.in_(with_role),
        )
        .order_by(StaffUser.id)
    )
    return list(session.scalars(query))


@functools.cache
def _translations(language: str) -> Translations:
    return Translations.load(str(TRANSLATIONS), [language])


def reference(report_id: str) -> str:
    """A case as the console names it (the first characters of its id)."""
    return report_id[:8]


def compose(waiting: Waiting, day: date, language: str, console_url: str = "") -> tuple[str, str]:
    """The subject and plain-text body of one digest: numbers, case references and dates."""
    _ = _translations(language).gettext

    def line(report_id: str, due: date | None = None) -> str:
        parts = [due.isoformat()] if due is not None else []
        parts.append(reference(report_id))
        if console_url:
            parts.append(f"{console_url}/cases/{report_id}")
        return "  " + "  ".join(parts)

    def more(listed: int, count: int) -> list[str]:
        if count <= listed:
            return []
        return ["  " + _("and %(n)d more") % {"n": count - listed}]

    subject = _("Daily digest of %(day)s") % {"day": day.isoformat()}
    lines = [subject, ""]
    lines.append(_("New reports waiting: %(n)d") % {"n": waiting.new_report_count})
    lines += [line(r) for r in waiting.new_reports]
    lines += more(len(waiting.new_reports), waiting.new_report_count)
    lines.append("")
    lines.append(_("Cases with new replies: %(n)d") % {"n": waiting.reply_count})
    lines += [line(r) for r in waiting.replies]
    lines += more(len(waiting.replies), waiting.reply_count)
    lines.append("")
    lines.append(
        _("Deadlines in the next %(days)d working days (or past): %(n)d")
        % {"days": WORKING_DAYS_AHEAD, "n": waiting.due_count}
    )
    lines += [line(r, due) for due, r in waiting.due]
    lines += more(len(waiting.due), waiting.due_count)
    lines.append("")
    lines.append(
        _("This message gives numbers and case references only: open the console to read more.")
    )
    if console_url:
        lines.append(console_url + "/cases/")
    return subject, "\n".join(lines) + "\n"


def write_day(session: Session, settings: DigestSettings, today: date) -> int:
    """Write today's message of each recipient who has none yet, all in one transaction;
    the number written (0 when another run wrote them first)."""
    have = set(session.scalars(select(DigestMessage.staff_id).where(DigestMessage.day == today)))
    due_until = settings.calendar.add_working_days(today, WORKING_DAYS_AHEAD)
    messages = []
    for staff in recipients(session):
        if staff.id in have:
            continue
        waiting = waiting_for(session, staff, today, due_until, LISTED)
        subject, body = compose(waiting, today, settings.language, settings.console_url)
        if not settings.mail.configured:
            state, reason = DigestState.held, NO_SERVER
        elif not staff.email:
            state, reason = DigestState.held, NO_ADDRESS
        else:
            state, reason = DigestState.waiting, None
        messages.append(
            DigestMessage(
                staff_id=staff.id,
                day=today,
                language=settings.language,
                subject=subject,
                body=body,
                state=state,
                reason=reason,
                attempts=0,
            )
        )
    try:
        session.add_all(messages)
        session.commit()
    except (IntegrityError, OperationalError):
        # Another run wrote today's messages at the same moment (PostgreSQL: its rows held
        # ours until it committed; SQLite: its write came first). Theirs stand.
        session.rollback()
        return 0
    return len(messages)


def _give_up_earlier_days(session: Session, today: date) -> int:
    """Messages of earlier days still waiting (or left sending by a run that stopped) are
    not sent late: today's digest says what waits now. Those older than KEEP_DAYS go."""
    session.execute(
        delete(DigestMessage).where(DigestMessage.day < today - timedelta(days=KEEP_DAYS))
    )
    result = session.execute(
        update(DigestMessage)
        .where(
            DigestMessage.day < today,
            DigestMessage.state.in_((DigestState.waiting, DigestState.sending)),
        )
        .values(state=DigestState.failed, reason=LATE)
    )
    session.commit()
    return result.rowcount or 0


def send_waiting(session: Session, mailer: Mailer, today: date) -> tuple[int, int]:
    """Send today's waiting messages, each taken by this run alone; (sent, still waiting).

    A message kept for want of an address goes out once its owner has given one that day."""
    with_address = select(StaffUser.id).where(StaffUser.email.is_not(None))
    session.execute(
        update(DigestMessage)
        .where(
            DigestMessage.day == today,
            DigestMessage.state == DigestState.held,
            DigestMessage.reason == NO_ADDRESS,
            DigestMessage.staff_id.in_(with_address),
        )
        .values(state=DigestState.waiting, reason=None)
    )
    ids = list(
        session.scalars(
            select(DigestMessage.id)
            .where(DigestMessage.day == today, DigestMessage.state == DigestState.waiting)
            .order_by(DigestMessage.id)
        )
    )
    session.commit()
    sent = waiting = 0
    for position, message_id in enumerate(ids):
        taken = session.execute(
            update(DigestMessage)
            .where(DigestMessage.id == message_id, DigestMessage.state == DigestState.waiting)
            .values(state=DigestState.sending, attempts=DigestMessage.attempts + 1)
        )
        session.commit()
        if taken.rowcount != 1:
            continue  # another run took it
        message = session.get(DigestMessage, message_id)
        address = message.staff.email
        try:
            if not address:
                raise MailNotSent(NO_ADDRESS)
            mailer.send(address, message.subject, message.body)
        except MailNotSent as exc:
            message.state = DigestState.held if exc.reason == NO_ADDRESS else DigestState.waiting
            message.reason, message.error = exc.reason, exc.detail or None
            waiting += message.state == DigestState.waiting
            if exc.reason in SERVER_DOWN:
                # The server itself is away: the others would wait as long each, holding up
                # the jobs after this one. They wait for the next run, with the same reason.
                rest = ids[position + 1 :]
                left = session.execute(
                    update(DigestMessage)
                    .where(DigestMessage.id.in_(rest), DigestMessage.state == DigestState.waiting)
                    .values(reason=exc.reason, error=exc.detail or None)
                )
                waiting += left.rowcount or 0
                session.commit()
                break
        else:
            message.state, message.reason, message.error = DigestState.sent, None, None
            sent += 1
        session.commit()
    return sent, waiting


def run_digest(
    session: Session,
    settings: DigestSettings,
    now: datetime,
    mailer_factory: Callable[[MailSettings], Mailer] = SmtpMailer,
) -> str:
    """The job: at or after the hour, write today's messages (once) and send what waits."""
    today = now.astimezone(settings.zone).date()
    if not due_now(now, settings):
        return f"not yet: the digest goes out at {settings.hour}:00"
    late = _give_up_earlier_days(session, today)
    written = write_day(session, settings, today)
    said = [f"wrote {written} digest(s) for {today.isoformat()}"]
    if late:
        said.append(f"{late} of earlier days not sent")
    if settings.mail.configured:
        sent, waiting = send_waiting(session, mailer_factory(settings.mail), today)
        said.append(f"sent {sent}")
        if waiting:
            said.append(f"{waiting} waiting for the mail server (see the outbox)")
    else:
        said.append("no mail server: kept in the outbox")
    return "; ".join(said)


def outbox(session: Session, staff: StaffUser | None = None, limit: int = 200):
    """The outbox, newest day first (one staff member's messages, or everyone's)."""
    query = select(DigestMessage).order_by(DigestMessage.day.desc(), DigestMessage.staff_id)
    if staff is not None:
        query = query.where(DigestMessage.staff_id == staff.id)
    return list(session.scalars(query.limit(limit)))
