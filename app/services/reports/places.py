"""Where each encrypted file of a report belongs, sealed into the file itself.

A row of ``report_envelopes`` says where its file is: which report, what the file is (its
role), which message of the thread and which position among that text's attachments. The
database can be rewritten by those who run the servers, so the file says it too: its header
starts with a label stanza that no identity unwraps,

    -> soe-portal/place 1 <report id> <role> <message> <position>

- ``1``: the version of this label, for changes to come (anything else does not open);
- the report's id (32 hex digits);
- the role: ``text`` (the report's text, or a message's), ``attachment`` or ``identity``;
- the message's number in the thread (its ``seq``), ``0`` for the report's own files;
- the position among the attachments of its text, ``0`` for a text or an identity block.

The header MAC, keyed by the file key, covers the label: nobody without the file key (the
server does not keep it) can change it without the file failing to open, and age ignores a
stanza of a type it does not know, so an exported file still opens with ``age -d``. Rewrapping
(grant, recusal, transfer, recovery) carries the label into the new header.

A file is opened only where it says it belongs (``check``): a header moved onto another
report's row, two messages' files swapped, an attachment moved to another message or
position, or a file without a label (written before labels, or stripped of its own), is
refused with ``Misplaced`` before any key is tried. The label is read before the header is
authenticated, so ``check`` alone tells a file that was moved (no key needed: ``fsck``
does this for every file); a label rewritten to fit a new place is caught when the file is
opened, by the MAC.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from app.models import EnvelopeRole, ReportEnvelope
from app.services.reports.errors import FileProblem, ReportError
from crypto.format import Stanza, parse_header

PLACE_TYPE = "soe-portal/place"
PLACE_VERSION = "1"
_REPORT_ID = re.compile(r"[0-9a-f]{32}")
_ROLES = frozenset(role.value for role in EnvelopeRole)
_NUMBER = re.compile(r"0|[1-9][0-9]{0,8}")  # canonical, and below 10**9: a place, not a size


@dataclass(frozen=True)
class Place:
    """Where a file of a report belongs."""

    report_id: str
    role: EnvelopeRole
    message: int = 0  # the message's seq; 0: a file of the report itself
    position: int = 0  # among the attachments of its text

    def __str__(self) -> str:
        where = f"report {self.report_id}"
        if self.message:
            where += f", message {self.message}"
        where += f", {self.role.value}"
        if self.role == EnvelopeRole.attachment:
            where += f" {self.position}"
        return where

    def label(self) -> Stanza:
        """The header stanza that names this place."""
        if not _REPORT_ID.fullmatch(self.report_id or ""):
            raise ValueError("a place needs the report's id (set it before the header is made)")
        args = [PLACE_VERSION, self.report_id, self.role.value, str(self.message)]
        return Stanza(PLACE_TYPE, [*args, str(self.position)])


class Misplaced(ReportError):
    """A file of a report is not where it says it belongs: moved onto another report's row,
    swapped with another message's, moved to another message or position, or naming no
    place at all. It is refused before any key is tried.

    ``at`` is where its row puts it, ``names`` the place its header names (None: none that
    this version knows). The message names places only, never anything of the file's content.
    """

    message_key = FileProblem.misplaced.value

    def __init__(
        self, envelope_id: str, at: Place, names: Place | None, other_report: str | None = None
    ) -> None:
        if other_report is not None:
            why = f"its message belongs to report {other_report}"
        else:
            why = f"its file names {names if names is not None else 'no place'}"
        super().__init__(f"envelope {envelope_id} at {at}: {why}")
        self.envelope_id = envelope_id
        self.at = at
        self.names = names


def of_row(envelope: ReportEnvelope) -> Place:
    """The place a row says its file is at."""
    message = envelope.message
    return Place(
        envelope.report_id,
        EnvelopeRole(envelope.role),
        message.seq if message is not None else 0,
        envelope.position,
    )


def _from_label(stanza: Stanza) -> Place | None:
    args = stanza.args
    if len(args) != 5 or args[0] != PLACE_VERSION or stanza.body:
        return None
    _version, report_id, role, message, position = args
    if not (_REPORT_ID.fullmatch(report_id) and _NUMBER.fullmatch(message)):
        return None
    if not _NUMBER.fullmatch(position) or role not in _ROLES:
        return None
    return Place(report_id, EnvelopeRole(role), int(message), int(position))


def named_in(header: bytes) -> Place | None:
    """The place a header names; None when it names none, several, or one of a version or
    form this code does not know. Not authenticated: opening the file does that.

    Raises HeaderError when the header is not one.
    """
    labels = [s for s in parse_header(io.BytesIO(header)).stanzas if s.type == PLACE_TYPE]
    return _from_label(labels[0]) if len(labels) == 1 else None


def check(envelope: ReportEnvelope) -> Place:
    """The place of ``envelope``'s file, if it is the place of its row; else Misplaced.

    Raises HeaderError when the row's header is not one.
    """
    expected = of_row(envelope)
    found = named_in(envelope.header)
    message = envelope.message
    if message is not None and message.report_id not in (None, expected.report_id):
        # The row disagrees with itself: its message is of another report.
        raise Misplaced(envelope.id, expected, found, other_report=message.report_id)
    if found is None or found != expected:
        raise Misplaced(envelope.id, expected, found)
    return found
