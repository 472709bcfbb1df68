"""Typed errors of the crypto package.

Each stage of opening an age file has its own class, so callers (and the CLI) can say
which stage failed without parsing messages.
"""


class CryptoError(Exception):
    """Base class of every error raised on purpose by this package."""


class KeyFormatError(CryptoError, ValueError):
    """A key string (recipient or identity) is not well formed."""


class ArmorError(CryptoError):
    """The ASCII armor around an age file is malformed."""


class HeaderError(CryptoError):
    """The age header cannot be parsed or is invalid."""


class WorkFactorError(HeaderError, ValueError):
    """An scrypt work factor is out of range: in a stanza, a recipient or the settings.

    A HeaderError because a stanza asking for too much work is a bad header; a
    ValueError because out-of-range settings raised ValueError before this class existed.
    """


class NoIdentityMatch(CryptoError):
    """The header is valid but none of the identities opens any stanza."""


class HmacError(CryptoError):
    """A file key was unwrapped but the header MAC does not verify."""


class PayloadError(CryptoError):
    """The encrypted payload is damaged, truncated or has trailing data."""


class BadPassphrase(CryptoError):
    """The passphrase does not open the sealed identity."""


class ShareError(CryptoError):
    """Recovery shares cannot be combined; the message says what to do.

    ``reason`` names the problem for a program that phrases it itself (a translated page):
    ``none``, ``not_a_word``, ``word_count``, ``checksum``, ``other_set``, ``duplicate``,
    ``too_few``, ``do_not_fit``, ``not_a_key`` or ``wrong_key``; ``share`` is the number of
    the share concerned (from 1), ``position`` the word's, ``other`` the share it repeats,
    ``needed`` and ``entered`` the counts. None of them holds a word typed.
    """

    def __init__(
        self,
        message: str,
        reason: str = "",
        *,
        share: int | None = None,
        position: int | None = None,
        other: int | None = None,
        needed: int | None = None,
        entered: int | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.share = share
        self.position = position
        self.other = other
        self.needed = needed
        self.entered = entered


class ProofError(CryptoError):
    """A Merkle proof or a signed checkpoint does not verify."""


class ReceiptCodeError(CryptoError, ValueError):
    """Text entered as a receipt code is not a valid code."""
