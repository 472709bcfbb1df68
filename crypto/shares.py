"""K-of-N recovery shares of an identity (SLIP-39, one group).

Every failure raises ShareError with an English sentence saying what to do; the app
translates it. A message names a share by its number and a word by its position, never the
words typed: they are most of a secret, and an error stays on screen and in logs. A wrong
passphrase cannot be detected by SLIP-39 itself (it yields a different secret), so combining
checks the result against the expected public key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import shamir_mnemonic
from shamir_mnemonic import MnemonicError, Share
from shamir_mnemonic.wordlist import WORD_INDEX_MAP

from crypto.errors import KeyFormatError, ShareError
from crypto.keys import X25519Identity, X25519Recipient

MAX_SHARES = 16


def split_identity(
    identity: X25519Identity,
    threshold: int,
    count: int,
    passphrase: str = "",
    *,
    iteration_exponent: int = 1,
) -> list[str]:
    """Split ``identity`` into ``count`` mnemonics, any ``threshold`` of which recover it."""
    if not 1 <= threshold <= count <= MAX_SHARES:
        raise ValueError(f"need 1 <= threshold <= count <= {MAX_SHARES}")
    if threshold == 1 and count > 1:
        raise ValueError("a 1-of-N split gives every holder the key; use threshold >= 2")
    groups = shamir_mnemonic.generate_mnemonics(
        1,
        [(threshold, count)],
        identity.secret_bytes,
        passphrase.encode("utf-8"),
        iteration_exponent=iteration_exponent,
    )
    return groups[0]


def _normalise(mnemonic: str) -> list[str]:
    return mnemonic.strip().lower().split()


def _decode(mnemonics: Sequence[str]) -> list[Share]:
    if not mnemonics:
        raise ShareError("Enter at least one share.", "none", entered=0)
    shares = []
    for number, mnemonic in enumerate(mnemonics, start=1):
        words = _normalise(mnemonic)
        for position, word in enumerate(words, start=1):
            if word not in WORD_INDEX_MAP:
                # Never the word itself: a mistyped word is most of a real one, and the
                # message stays on the screen and in terminal logs.
                raise ShareError(
                    f"Share {number}, word {position} is not a recovery word. Check its spelling.",
                    "not_a_word",
                    share=number,
                    position=position,
                )
        if len(words) not in (20, 33):
            raise ShareError(
                f"Share {number} has {len(words)} words but a share has 20 or 33. "
                "Check that no word is missing or repeated.",
                "word_count",
                share=number,
                entered=len(words),
            )
        try:
            shares.append(Share.from_mnemonic(" ".join(words)))
        except MnemonicError:
            raise ShareError(
                f"Share {number} fails its checksum: a word is mistyped or in the wrong "
                "place. Compare it with the paper copy.",
                "checksum",
                share=number,
            ) from None
    return shares


def _check_set(shares: list[Share]) -> None:
    first = shares[0]
    for number, share in enumerate(shares[1:], start=2):
        if share.common_parameters() != first.common_parameters():
            raise ShareError(
                f"Share {number} belongs to a different recovery set than share 1. "
                "Use shares of one set only.",
                "other_set",
                share=number,
                other=1,
            )
    thresholds: dict[int, int] = {}
    for number, share in enumerate(shares, start=1):
        if thresholds.setdefault(share.group_index, share.member_threshold) != (
            share.member_threshold
        ):
            raise ShareError(
                f"Share {number} belongs to a different recovery set than the shares "
                "before it. Use shares of one set only.",
                "other_set",
                share=number,
            )
    seen: dict[tuple[int, int], int] = {}
    for number, share in enumerate(shares, start=1):
        key = (share.group_index, share.index)
        if key in seen:
            raise ShareError(
                f"Share {number} is the same share as share {seen[key]}. Enter a different share.",
                "duplicate",
                share=number,
                other=seen[key],
            )
        seen[key] = number
    if first.group_count == 1:
        needed = first.member_threshold
        if len(shares) < needed:
            raise ShareError(
                f"{needed} shares are needed and {len(shares)} were entered. "
                f"Enter {needed - len(shares)} more.",
                "too_few",
                needed=needed,
                entered=len(shares),
            )


def recover_secret(mnemonics: Iterable[str], passphrase: str | bytes = b"") -> bytes:
    """Combine SLIP-39 mnemonics into the master secret (any group layout)."""
    items = list(mnemonics)
    _check_set(_decode(items))
    secret_passphrase = passphrase.encode("utf-8") if isinstance(passphrase, str) else passphrase
    try:
        return shamir_mnemonic.combine_mnemonics(
            [" ".join(_normalise(m)) for m in items], secret_passphrase
        )
    except MnemonicError:
        raise ShareError(
            "These shares do not fit together. One of them may be damaged or come "
            "from another set; try a different combination.",
            "do_not_fit",
        ) from None


def combine_shares(
    mnemonics: Iterable[str], expected: X25519Recipient, passphrase: str = ""
) -> X25519Identity:
    """Recover an identity from shares and check it against the expected public key.

    More shares than the threshold may be entered; the first ones that suffice are used.
    """
    items = list(mnemonics)
    shares = _decode(items)
    _check_set(shares)
    if shares[0].group_count == 1:
        # SLIP-39 combines exactly the threshold number of shares.
        items = items[: shares[0].member_threshold]
    secret = recover_secret(items, passphrase)
    try:
        identity = X25519Identity(secret)
    except KeyFormatError:
        raise ShareError(
            "These shares hold a secret that is not an office key.", "not_a_key"
        ) from None
    if identity.recipient != expected:
        raise ShareError(
            "The recovered key does not match the office key. Check the passphrase and "
            "that all shares belong to this office.",
            "wrong_key",
        )
    return identity
