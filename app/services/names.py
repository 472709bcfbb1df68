"""The one cleaning of a name that a person typed: a person's, a unit's, an office's, a category's.

Names are counted (a quorum), compared (listed twice, present and absent) and shown on public
pages, so two spellings a reader cannot tell apart must become one, and nothing invisible may
stay in a name: a zero-width space would make one person two, a name of format characters only
would pass for a name, and an unclosed right-to-left override would reverse what follows it.
"""

from __future__ import annotations

import re
import unicodedata

# Categories removed outright: Cc (control characters, except the whitespace ones, which the
# collapsing below turns into a space) and Cf (zero-width, word joiner, BOM, bidi controls).
_REMOVED = frozenset({"Cc", "Cf"})
_WHITESPACE = re.compile(r"\s+")


def clean_name(text: object) -> str:
    """``text`` as a name: Unicode NFKC (full-width letters and digits become the usual ones),
    without control or format characters, every run of whitespace (U+3000 too) one space, and
    no space at either end. Anything but a string gives ``""``; the caller refuses an empty
    result as "enter a name"."""
    if not isinstance(text, str):
        return ""
    # Removed before normalising too, so that a mark split from its letter by a zero-width
    # character is composed with it like the same name typed plainly.
    text = unicodedata.normalize("NFKC", _visible(text))
    return _WHITESPACE.sub(" ", _visible(text)).strip()


def _visible(text: str) -> str:
    return "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) not in _REMOVED)
