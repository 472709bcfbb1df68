"""K-of-N recovery shares (SLIP-39): round trips, user mistakes, published vectors."""

from __future__ import annotations

import itertools
import json

import pytest

from crypto.errors import ShareError
from crypto.keys import X25519Identity
from crypto.shares import combine_shares, recover_secret, split_identity
from tests.helpers.crypto_tools import VECTORS, vector_dir


@pytest.fixture(scope="module")
def office() -> X25519Identity:
    return X25519Identity.generate()


@pytest.fixture(scope="module")
def shares(office: X25519Identity) -> list[str]:
    return split_identity(office, 3, 5)


def test_any_k_of_n_recover_the_key(office: X25519Identity, shares: list[str]) -> None:
    assert len(shares) == 5 and all(len(s.split()) == 33 for s in shares)
    for combo in itertools.combinations(shares, 3):
        assert combine_shares(combo, office.recipient).recipient == office.recipient
    assert combine_shares(shares, office.recipient).recipient == office.recipient


def test_extra_spaces_and_capitals_are_tolerated(office: X25519Identity, shares: list[str]) -> None:
    typed = ["  " + s.upper().replace(" ", "   ") + "\n" for s in shares[:3]]
    assert combine_shares(typed, office.recipient).recipient == office.recipient


def test_fewer_than_k_says_how_many_more(office: X25519Identity, shares: list[str]) -> None:
    with pytest.raises(ShareError, match=r"3 shares are needed and 2 were entered\. Enter 1 more"):
        combine_shares(shares[:2], office.recipient)
    with pytest.raises(ShareError, match="at least one"):
        combine_shares([], office.recipient)


def test_mistyped_word_names_share_and_position(office: X25519Identity, shares: list[str]) -> None:
    words = shares[1].split()
    words[6] = words[6][:-1] + ("x" if words[6][-1] != "x" else "y")
    with pytest.raises(ShareError, match=r"^Share 2, word 7 is not a recovery word") as refused:
        combine_shares([shares[0], " ".join(words), shares[2]], office.recipient)
    assert words[6] not in str(refused.value)  # one letter from the real word: never shown


def test_swapped_valid_word_fails_checksum(office: X25519Identity, shares: list[str]) -> None:
    words = shares[2].split()
    words[10] = "academic" if words[10] != "academic" else "acid"
    with pytest.raises(ShareError, match="Share 3 fails its checksum"):
        combine_shares([shares[0], shares[1], " ".join(words)], office.recipient)


def test_shares_from_different_sets_are_refused(office: X25519Identity) -> None:
    first = split_identity(office, 2, 3)
    second = split_identity(office, 2, 3)
    with pytest.raises(ShareError, match="different recovery set"):
        combine_shares([first[0], second[1]], office.recipient)


def test_same_share_twice_is_refused(office: X25519Identity, shares: list[str]) -> None:
    with pytest.raises(ShareError, match="same share as share 1"):
        combine_shares([shares[0], shares[1], shares[0]], office.recipient)


def _refusal(shares: list[str], expected: X25519Identity) -> ShareError:
    with pytest.raises(ShareError) as refused:
        combine_shares(shares, expected.recipient)
    return refused.value


def test_each_refusal_names_its_reason_and_numbers_for_a_page_to_phrase(
    office: X25519Identity, shares: list[str]
) -> None:
    def fields(error: ShareError) -> tuple:
        return (error.reason, error.share, error.position, error.other, error.needed, error.entered)

    words = shares[1].split()
    mistyped = " ".join([*words[:4], "zzzz", *words[5:]])
    assert fields(_refusal([shares[0], mistyped], office)) == ("not_a_word", 2, 5, None, None, None)
    short = " ".join(shares[2].split()[:-1])
    assert fields(_refusal([shares[0], shares[1], short], office))[:2] == ("word_count", 3)
    assert _refusal([shares[0], shares[1], short], office).entered == 32
    swapped = shares[2].split()
    swapped[10] = "academic" if swapped[10] != "academic" else "acid"
    refused = _refusal([" ".join(swapped), shares[0], shares[1]], office)
    assert fields(refused)[:2] == ("checksum", 1)
    assert fields(_refusal(shares[:2], office)) == ("too_few", None, None, None, 3, 2)
    assert fields(_refusal([], office))[0] == "none"
    assert fields(_refusal([shares[0], shares[1], shares[0]], office))[:4] == (
        "duplicate",
        3,
        None,
        1,
    )
    other_set = split_identity(office, 3, 5)
    assert fields(_refusal([shares[0], other_set[1], shares[2]], office))[:2] == ("other_set", 2)
    assert _refusal(shares[:3], X25519Identity.generate()).reason == "wrong_key"


def test_key_not_matching_expected_public_key(office: X25519Identity) -> None:
    with_passphrase = split_identity(office, 2, 3, passphrase="office pass")
    other = X25519Identity.generate()
    with pytest.raises(ShareError, match="does not match the office key"):
        combine_shares(with_passphrase[:2], office.recipient)  # passphrase forgotten
    with pytest.raises(ShareError, match="does not match the office key"):
        combine_shares(with_passphrase[:2], other.recipient, passphrase="office pass")
    recovered = combine_shares(with_passphrase[:2], office.recipient, passphrase="office pass")
    assert recovered.recipient == office.recipient


def test_invalid_split_parameters(office: X25519Identity) -> None:
    for threshold, count in [(0, 3), (4, 3), (1, 3), (2, 17)]:
        with pytest.raises(ValueError):
            split_identity(office, threshold, count)


def _slip39_vectors() -> list[tuple[str, list[str], str]]:
    path = VECTORS / "slip39" / "vectors.json"
    if not path.is_file():
        return [("<missing>", [], "")]
    return [(d, m, s) for d, m, s, _xprv in json.loads(path.read_text("utf-8"))]


@pytest.mark.parametrize(
    ("description", "mnemonics", "secret"), _slip39_vectors(), ids=lambda v: str(v)[:40]
)
def test_slip39_vectors(description: str, mnemonics: list[str], secret: str) -> None:
    vector_dir("slip39")
    if secret:
        assert recover_secret(mnemonics, b"TREZOR") == bytes.fromhex(secret), description
    else:
        with pytest.raises(ShareError):
            recover_secret(mnemonics, b"TREZOR")


def test_slip39_vector_count() -> None:
    vector_dir("slip39")
    vectors = _slip39_vectors()
    assert len(vectors) == 45
    assert sum(1 for _, _, s in vectors if s) == 15
