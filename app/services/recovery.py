"""Office recovery keys: made at a ceremony as K-of-N SLIP-39 shares, recovered from K of them.

The private key of an office's recovery identity is never stored: the ceremony splits it into
share sheets for N officers and keeps only its public key, the threshold, the number of
shares, the identifier of the share set and the date. Recovery combines shares and proves the
result against the stored public key before anything uses it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from shamir_mnemonic import MnemonicError, Share
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import DisciplineOffice
from crypto import ShareError, X25519Identity, X25519Recipient, combine_shares, split_identity
from crypto.shares import MAX_SHARES

# One holder alone must never be able to open an office's reports.
MIN_THRESHOLD = 2
MAX_HOLDER_NAME = 100
# Names may be separated by ASCII or Chinese commas, enumeration commas or new lines.
_NAME_SEPARATORS = re.compile(r"[,，、\n]")
# A share copied from its sheet may keep the sheet's word numbers ("1." or "1)"): no
# recovery word has a digit, so such tokens are dropped.
_WORD_NUMBER = re.compile(r"^\d+[.):]?$")


class RecoveryError(Exception):
    """A ceremony or a recovery was refused; the message says what to do, for the operator.

    A refused ceremony says why in ``reason`` too (``too_many_shares``, ``threshold_low``,
    ``threshold_high``, ``holder_count``, ``holder_empty``, ``holder_name``, ``has_key``,
    ``raced``). A refused recovery also says why in ``reason`` (``no_recovery_key``, ``too_many``,
    ``foreign`` or a ``crypto.ShareError`` reason) with the numbers of ``details`` (``share``,
    ``position``, ``other``, ``needed``, ``entered``), so that a page can phrase it in its own
    language. Neither ever holds a word typed.
    """

    def __init__(self, message: str, reason: str = "", **details: int | None) -> None:
        super().__init__(message)
        self.reason = reason
        self.details = {key: value for key, value in details.items() if value is not None}


@dataclass(frozen=True)
class ShareSheet:
    """One officer's share of an office's recovery key, as printed for them."""

    office_code: str
    office_zh: str
    office_en: str
    holder: str
    number: int
    count: int
    threshold: int
    made_on: date
    set_id: int
    recipient: str
    words: tuple[str, ...] = field(repr=False)  # the secret: kept out of repr() and logs

    def text(self) -> str:
        """The sheet as plain text: who holds it, what it is for, the numbered words."""
        holder = self.holder or "________________ (write the holder's name)"
        lines = [
            f"=== Recovery share {self.number} of {self.count} ===",
            f"Office:     {self.office_zh}",
            f"            {self.office_en} ({self.office_code})",
            f"Holder:     {holder}",
            f"Threshold:  {self.threshold} of {self.count} shares recover the office key",
            f"Made on:    {self.made_on.isoformat()}",
            f"Share set:  {self.set_id}",
            f"Office key: {self.recipient}",
            f"Words ({len(self.words)}, type them in this order on one line):",
        ]
        numbered = [f"{n:>2}. {word:<9}" for n, word in enumerate(self.words, start=1)]
        for start in range(0, len(numbered), 6):
            lines.append("  " + " ".join(numbered[start : start + 6]).rstrip())
        lines.append("Keep this sheet secret and apart from the other shares. Type it into")
        lines.append(
            f"a computer only to recover it: portal keys recover --office {self.office_code}"
        )
        return "\n".join(lines) + "\n"


def share_sheets_text(sheets: Iterable[ShareSheet]) -> str:
    """Several sheets as one text, one after the other (to print, or to hand to a file)."""
    return "\n".join(sheet.text() for sheet in sheets)


def parse_holders(text: str) -> list[str]:
    """Holder names from ``"张伟,李娜"`` (ASCII or Chinese commas, 、 or new lines)."""
    names = [unicodedata.normalize("NFC", name).strip() for name in _NAME_SEPARATORS.split(text)]
    for name in names:
        if not name:
            raise RecoveryError(
                "a holder name is empty: separate the names with single commas", "holder_empty"
            )
        if len(name) > MAX_HOLDER_NAME or not name.isprintable():
            raise RecoveryError(
                f"a holder name must be printable and at most {MAX_HOLDER_NAME} characters",
                "holder_name",
            )
    return names


def check_ceremony(
    office: DisciplineOffice,
    threshold: int,
    count: int,
    holders: Sequence[str] | None,
    replace: bool = False,
) -> None:
    """Raise RecoveryError if a ceremony with these numbers must not go ahead."""
    code = office.unit.code
    if count > MAX_SHARES:
        raise RecoveryError(
            f"at most {MAX_SHARES} shares can be made (SLIP-39 allows no more)", "too_many_shares"
        )
    if threshold < MIN_THRESHOLD:
        raise RecoveryError(
            f"the threshold must be at least {MIN_THRESHOLD}: one holder alone must not be "
            "able to open the office's reports",
            "threshold_low",
        )
    if threshold > count:
        raise RecoveryError(
            f"the threshold ({threshold}) cannot be more than the number of shares ({count})",
            "threshold_high",
        )
    if holders is not None and len(holders) != count:
        raise RecoveryError(
            f"{count} shares need {count} holder names; {len(holders)} given",
            "holder_count",
            needed=count,
            entered=len(holders),
        )
    if office.recovery_recipient and not replace:
        raise RecoveryError(
            f"the office {code} has a recovery key already (made on "
            f"{_made_on(office)}, {office.recovery_threshold} of {office.recovery_shares}); "
            "to make a new one give --replace",
            "has_key",
        )


def _made_on(office: DisciplineOffice) -> str:
    return office.recovery_made_on.isoformat() if office.recovery_made_on else "an unknown date"


def recovery_ceremony(
    session: Session,
    office: DisciplineOffice,
    threshold: int,
    count: int,
    holders: Sequence[str] | None,
    made_on: date,
    *,
    replace: bool = False,
) -> list[ShareSheet]:
    """Make the office's recovery identity and split it ``threshold``-of-``count``.

    Stores the public key and the facts of the split on ``office`` and returns the share
    sheets, the only copies of the private key. ``holders`` names the officers (or None
    to leave the names to be written by hand); their names are kept with the key. Of two
    ceremonies for one office at the same time, one stores its key and the other is refused:
    its sheets would open nothing.
    """
    check_ceremony(office, threshold, count, holders, replace)
    identity = X25519Identity.generate()
    mnemonics = split_identity(identity, threshold, count)
    # The shares are checked before anything is stored: the last ones combine to the key.
    combine_shares(mnemonics[-threshold:], identity.recipient)
    set_id = _set_id(mnemonics[0])
    if set_id is None:  # cannot happen: the library has just made and combined them
        raise RecoveryError("the shares made do not parse; nothing was stored")
    column = DisciplineOffice.recovery_recipient
    before = office.recovery_recipient
    stored = session.execute(
        update(DisciplineOffice)
        .where(
            DisciplineOffice.id == office.id,
            column.is_(None) if before is None else column == before,
        )
        .values(
            recovery_recipient=str(identity.recipient),
            recovery_threshold=threshold,
            recovery_shares=count,
            recovery_set_id=set_id,
            recovery_made_on=made_on,
            recovery_holders="\n".join(holders) if holders else None,
        )
    )
    session.expire(office)  # the update went past the loaded object: read it anew when used
    if stored.rowcount != 1:
        raise RecoveryError(
            f"another ceremony for {office.unit.code} stored its key first: destroy the "
            "sheets of this one, check with: portal keys list, and start again if needed",
            "raced",
        )
    names = list(holders) if holders is not None else [""] * count
    return [
        ShareSheet(
            office_code=office.unit.code,
            office_zh=office.name_zh,
            office_en=office.name_en,
            holder=names[number - 1],
            number=number,
            count=count,
            threshold=threshold,
            made_on=made_on,
            set_id=set_id,
            recipient=str(identity.recipient),
            words=tuple(mnemonic.split()),
        )
        for number, mnemonic in enumerate(mnemonics, start=1)
    ]


def clean_share(text: str) -> str:
    """A share as typed: full-width letters and spaces made plain, sheet numbers dropped."""
    words = unicodedata.normalize("NFKC", text).lower().split()
    return " ".join(word for word in words if not _WORD_NUMBER.match(word))


def _set_id(mnemonic: str) -> int | None:
    """The identifier of the share set ``mnemonic`` belongs to; None if it does not parse."""
    try:
        return Share.from_mnemonic(mnemonic).identifier
    except MnemonicError:
        return None


def _foreign_share(office: DisciplineOffice, shares: list[str]) -> RecoveryError | None:
    """The refusal of the first share from another set, if one comes before any bad share."""
    for number, share in enumerate(shares, start=1):
        set_id = _set_id(share)
        if set_id is None:
            return None  # crypto's own message names this share and the word's position
        if office.recovery_set_id is not None and set_id != office.recovery_set_id:
            return RecoveryError(
                f"Share {number} is not a share of the recovery key of {office.unit.code}: it "
                f"belongs to another set (set {set_id}; this office's is set "
                f"{office.recovery_set_id}, made on {_made_on(office)}). It may be another "
                "office's share or one of a set replaced since. Use this office's shares.",
                "foreign",
                share=number,
            )
    return None


def recover_office_identity(office: DisciplineOffice, typed: Iterable[str]) -> X25519Identity:
    """Combine typed shares into the office's recovery identity, proved against its public key.

    RecoveryError names the share that is wrong (and the word's position, where it can tell;
    never a word typed).
    """
    code = office.unit.code
    if not office.recovery_recipient or not office.recovery_threshold:
        raise RecoveryError(
            f"the office {code} has no recovery key; make one with: "
            f"portal keys ceremony --office {code}",
            "no_recovery_key",
        )
    shares = [clean_share(text) for text in typed if text.strip()]
    if len(shares) > MAX_SHARES:
        raise RecoveryError(
            f"{len(shares)} shares were entered; a set has at most {MAX_SHARES}.",
            "too_many",
            entered=len(shares),
            needed=MAX_SHARES,
        )
    needed = office.recovery_threshold
    if len(shares) < needed:
        raise RecoveryError(
            f"The recovery key of {code} needs {needed} shares and {len(shares)} "
            f"{'was' if len(shares) == 1 else 'were'} entered. Enter {needed - len(shares)} more.",
            "too_few",
            needed=needed,
            entered=len(shares),
        )
    expected = X25519Recipient.parse(office.recovery_recipient)
    try:
        return combine_shares(shares, expected)
    except ShareError as exc:
        foreign = _foreign_share(office, shares)
        if foreign is not None:
            raise foreign from None
        raise RecoveryError(
            str(exc),
            exc.reason,
            share=exc.share,
            position=exc.position,
            other=exc.other,
            needed=exc.needed,
            entered=exc.entered,
        ) from None
