"""The record of a collective decision ("three importants and one large") and the quorum.

Major decisions, important appointments and dismissals, major projects and the use of large
sums are decided collectively at a meeting. A disclosure of them carries the meeting's record:
its kind and date, the members present and absent, the decision, and the dissenting opinions
as recorded. The record is kept as canonical JSON on the working copy and on each revision that
publishes it, so the disclosure log's leaf commits to it and an amendment corrects it visibly.
"""

from __future__ import annotations

import enum
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import lazy_gettext as _l

from app.services.disclosures.errors import DisclosureError
from app.services.names import clean_name

# The categories whose disclosures carry the record of their collective decision.
DECISION_CATEGORIES = frozenset({"major-decisions"})

NAME_MAX = 50
MEMBERS_MAX = 200
TEXT_MAX = 20_000
# A meeting older than this is not a record anyone is still publishing.
OLDEST_MEETING_YEARS = 30

# Names are written one a line, or separated by the list marks people type: 、，, ；; and spaces
# between names written in Latin letters are kept (a name like "Li Na").
_NAME_SEPARATORS = re.compile(r"[\n\r\v\f\x85\u2028\u2029、，,；;]+")
_QUORUM_RE = re.compile(r"\s*(>=|>)\s*([0-9]{1,3})\s*/\s*([0-9]{1,3})\s*")


class MeetingKind(enum.StrEnum):
    party_committee = "party_committee"
    board = "board"
    general_manager = "general_manager"
    workers_congress = "workers_congress"


MEETING_NAMES = {
    MeetingKind.party_committee: _l("party committee meeting"),
    MeetingKind.board: _l("board meeting"),
    MeetingKind.general_manager: _l("general manager's office meeting"),
    MeetingKind.workers_congress: _l("workers' congress"),
}


class DecisionError(DisclosureError):
    """A decision record that cannot be accepted; ``field`` names the form field at fault."""

    def __init__(self, message: object, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Quorum:
    """The share of the members that must be present: more than (``>``) or at least (``>=``)
    ``numerator``/``denominator`` of them."""

    strict: bool
    numerator: int
    denominator: int

    @classmethod
    def parse(cls, text: object) -> Quorum:
        """``">1/2"`` (more than half) or ``">=2/3"`` (at least two thirds); ValueError else."""
        match = _QUORUM_RE.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"write the quorum as >1/2 or >=2/3, got {text!r}")
        numerator, denominator = int(match.group(2)), int(match.group(3))
        if not 0 < numerator <= denominator:
            raise ValueError(f"the share must be above 0 and at most 1, got {text!r}")
        if match.group(1) == ">" and numerator == denominator:
            raise ValueError(f"more than all members can never be present, got {text!r}")
        return cls(match.group(1) == ">", numerator, denominator)

    def needed(self, members: int) -> int:
        """The fewest members present that reach the quorum of ``members``."""
        # present * d > members * n (strict) or present * d >= members * n
        product = members * self.numerator
        if self.strict:
            return product // self.denominator + 1
        return -(-product // self.denominator)

    def met(self, present: int, members: int) -> bool:
        return present >= self.needed(members)

    def describe(self) -> str:
        share = f"{self.numerator}/{self.denominator}"
        if self.strict:
            return str(_l("more than %(share)s of the members", share=share))
        return str(_l("at least %(share)s of the members", share=share))


@dataclass(frozen=True)
class DecisionRecord:
    meeting_kind: MeetingKind
    meeting_date: date
    present: tuple[str, ...]
    absent: tuple[str, ...]
    decision: str
    dissents: str = ""

    @property
    def members(self) -> int:
        return len(self.present) + len(self.absent)

    def as_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces, UTF-8 text): what the columns hold."""
        return json.dumps(
            {
                "absent": list(self.absent),
                "date": self.meeting_date.isoformat(),
                "decision": self.decision,
                "dissents": self.dissents,
                "kind": self.meeting_kind.value,
                "present": list(self.present),
            },
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, stored: str) -> DecisionRecord:
        """The record a column holds; ValueError for anything that does not read as written."""
        data = json.loads(stored)
        if not isinstance(data, dict):
            raise ValueError("a decision record is a JSON object")
        names = (data.get("present"), data.get("absent"))
        if not all(isinstance(n, list) and all(isinstance(x, str) for x in n) for n in names):
            raise ValueError("the members are lists of names")
        if not isinstance(data.get("decision"), str) or not isinstance(data.get("dissents"), str):
            raise ValueError("the decision and the dissents are text")
        return cls(
            meeting_kind=MeetingKind(data.get("kind")),
            meeting_date=date.fromisoformat(str(data.get("date"))),
            present=tuple(data["present"]),
            absent=tuple(data["absent"]),
            decision=data["decision"],
            dissents=data["dissents"],
        )


def read_record(stored: str | None) -> DecisionRecord | None:
    """The record of a column, or None (no record, or a row changed behind the application's
    back: ``portal log verify`` reports that one; pages show the item without a record)."""
    if not stored:
        return None
    try:
        return DecisionRecord.from_json(stored)
    except (ValueError, TypeError, KeyError):
        return None


def split_names(text: str) -> tuple[str, ...]:
    """The names written in ``text``: one a line or separated by 、，, ；; each cleaned
    (``clean_name``), so look-alike spellings of one name are one name; blanks dropped."""
    # Normalised first so that the compatibility forms of the marks (﹐ ﹑ ﹔) separate too.
    normalised = unicodedata.normalize("NFKC", text or "")
    names = (clean_name(name) for name in _NAME_SEPARATORS.split(normalised))
    return tuple(name for name in names if name)


def is_empty(
    meeting_kind: str, meeting_date: date | None, present: str, absent: str, decision: str
) -> bool:
    """Nothing of a record was given (the dissents alone make no record)."""
    return not (
        meeting_kind or meeting_date or present.strip() or absent.strip() or decision.strip()
    )


def build_record(
    *,
    meeting_kind: str,
    meeting_date: date | None,
    present: str,
    absent: str,
    decision: str,
    dissents: str,
    quorum: Quorum,
    today: date,
) -> DecisionRecord:
    """A checked record from what a publisher typed; DecisionError naming the field otherwise.

    The members present must reach ``quorum`` of all members (present and absent); the
    meeting is not in the future (``today`` where the enterprise is) nor decades old.
    """
    try:
        kind = MeetingKind(meeting_kind)
    except ValueError:
        raise DecisionError(
            _l("Choose the kind of meeting from the list."), "meeting_kind"
        ) from None
    if meeting_date is None:
        raise DecisionError(_l("Enter the date of the meeting."), "meeting_date")
    if meeting_date > today:
        raise DecisionError(_l("The meeting cannot be in the future."), "meeting_date")
    if meeting_date < today - timedelta(days=366 * OLDEST_MEETING_YEARS):
        raise DecisionError(
            _l("The meeting cannot be more than %(years)s years ago.", years=OLDEST_MEETING_YEARS),
            "meeting_date",
        )
    present_names = split_names(present)
    absent_names = split_names(absent)
    for field, names in (("members_present", present_names), ("members_absent", absent_names)):
        if any(len(name) > NAME_MAX for name in names):
            raise DecisionError(_l("A name has at most %(max)s characters.", max=NAME_MAX), field)
    if not present_names:
        raise DecisionError(_l("Enter the members present, one a line."), "members_present")
    if len(present_names) + len(absent_names) > MEMBERS_MAX:
        raise DecisionError(
            _l("A meeting has at most %(max)s members.", max=MEMBERS_MAX), "members_present"
        )
    if set(present_names) & set(absent_names):
        raise DecisionError(_l("A member cannot be both present and absent."), "members_absent")
    if len(set(present_names)) != len(present_names) or len(set(absent_names)) != len(absent_names):
        raise DecisionError(_l("A member is listed twice."), "members_present")
    if not decision.strip():
        raise DecisionError(_l("Enter the decision as recorded."), "decision_text")
    if len(decision) > TEXT_MAX or len(dissents) > TEXT_MAX:
        raise DecisionError(
            _l(
                "The decision and the dissenting opinions have at most %(max)s characters each.",
                max=TEXT_MAX,
            ),
            "decision_text" if len(decision) > TEXT_MAX else "dissents",
        )
    members = len(present_names) + len(absent_names)
    if not quorum.met(len(present_names), members):
        raise DecisionError(
            _l(
                "Only %(present)s of %(members)s members were present; the quorum is "
                "%(quorum)s (%(needed)s present). A decision below the quorum cannot be "
                "published as a collective decision.",
                present=len(present_names),
                members=members,
                quorum=quorum.describe(),
                needed=quorum.needed(members),
            ),
            "members_present",
        )
    return DecisionRecord(
        meeting_kind=kind,
        meeting_date=meeting_date,
        present=present_names,
        absent=absent_names,
        decision=decision.strip(),
        dissents=dissents.strip(),
    )


def needs_record(category_code: str) -> bool:
    return category_code in DECISION_CATEGORIES
