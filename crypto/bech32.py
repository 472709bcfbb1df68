"""Bech32 (BIP-173) encoding as used by age keys.

age uses the original Bech32 checksum (not Bech32m) and lifts the 90-character limit,
so this module has no length limit.
"""

from __future__ import annotations

from collections.abc import Iterable

from crypto.errors import KeyFormatError

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {c: i for i, c in enumerate(CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: Iterable[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_GENERATOR):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: Iterable[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    out: list[int] = []
    max_value = (1 << to_bits) - 1
    for value in data:
        if value >> from_bits:
            raise KeyFormatError("bech32: invalid data value")
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & max_value)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & max_value)
    elif bits >= from_bits or (acc << (to_bits - bits)) & max_value:
        raise KeyFormatError("bech32: invalid padding")
    return out


def encode(hrp: str, data: bytes) -> str:
    """Encode ``data`` under human-readable part ``hrp``.

    The case of ``hrp`` decides the case of the result (age writes secret keys in
    upper case and recipients in lower case); mixed case is refused.
    """
    if not hrp or any(ord(c) < 33 or ord(c) > 126 for c in hrp):
        raise KeyFormatError("bech32: invalid human-readable part")
    if hrp.lower() != hrp and hrp.upper() != hrp:
        raise KeyFormatError("bech32: mixed-case human-readable part")
    upper = hrp.upper() == hrp and hrp.lower() != hrp
    lower_hrp = hrp.lower()
    values = _convert_bits(data, 8, 5, pad=True)
    polymod = _polymod([*_hrp_expand(lower_hrp), *values, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    text = lower_hrp + "1" + "".join(CHARSET[v] for v in values + checksum)
    return text.upper() if upper else text


def decode(text: str) -> tuple[str, bytes]:
    """Decode a Bech32 string into (human-readable part in lower case, data bytes).

    Raises KeyFormatError on mixed case, bad characters or a bad checksum.
    """
    if text.lower() != text and text.upper() != text:
        raise KeyFormatError("bech32: mixed case")
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise KeyFormatError("bech32: invalid character")
    lowered = text.lower()
    pos = lowered.rfind("1")
    if pos < 1 or pos + 7 > len(lowered):
        raise KeyFormatError("bech32: separator misplaced")
    hrp = lowered[:pos]
    try:
        values = [_CHARSET_INDEX[c] for c in lowered[pos + 1 :]]
    except KeyError:
        raise KeyFormatError("bech32: invalid data character") from None
    if _polymod(_hrp_expand(hrp) + values) != 1:
        raise KeyFormatError("bech32: invalid checksum")
    return hrp, bytes(_convert_bits(values[:-6], 5, 8, pad=False))
