"""The words the console shows for the daily digest's outbox (app/services/digest.py)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.models import DigestState
from app.services import digest

STATES = {
    DigestState.waiting: _l("waiting to be sent"),
    DigestState.sending: _l("being sent"),
    DigestState.sent: _l("sent"),
    DigestState.held: _l("in the console only"),
    DigestState.failed: _l("not sent"),
}

REASONS = {
    digest.NO_SERVER: _l("No mail server is configured: digests are kept here only."),
    digest.NO_ADDRESS: _l("No e-mail address is set for this account."),
    digest.REFUSED: _l("The mail server refused the message; it is tried again."),
    digest.TIMEOUT: _l("The mail server did not answer in time; it is tried again."),
    digest.UNREACHABLE: _l("The mail server could not be reached; it is tried again."),
    digest.TLS: _l("No encrypted connection (STARTTLS) to the mail server; it is tried again."),
    digest.LOGIN: _l("The mail server refused the user name or password; it is tried again."),
    digest.LATE: _l("Not sent on its day; the next day's digest replaces it."),
}


def state_text(state: DigestState | str) -> str:
    return str(STATES.get(DigestState(state), state))


def reason_text(reason: str | None) -> str:
    if not reason:
        return ""
    return str(REASONS.get(reason, reason))
