"""``python -m crypto`` against the ``age`` tools, in both directions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crypto.keys import parse_identities_file
from tests.helpers.crypto_tools import age, age_keygen, ours

pytestmark = pytest.mark.agecli


@pytest.fixture
def our_key(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "ours.txt"
    result = ours("keygen", "-o", str(path))
    assert result.returncode == 0, result.stderr
    public = result.stderr.decode().strip().removeprefix("Public key: ")
    return path, public


@pytest.fixture
def age_key(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "age.txt"
    assert age_keygen("-o", str(path)).returncode == 0
    return path, age_keygen("-y", str(path)).stdout.decode().strip()


def test_keygen_file_format_matches_age_keygen(our_key: tuple[Path, str]) -> None:
    path, public = our_key
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# created: ")
    assert lines[1] == f"# public key: {public}"
    assert lines[2].startswith("AGE-SECRET-KEY-1")
    assert age_keygen("-y", str(path)).stdout.decode().strip() == public
    assert path.stat().st_mode & 0o077 == 0
    to_stdout = ours("keygen")
    assert parse_identities_file(to_stdout.stdout.decode())


@pytest.mark.parametrize("armor", [[], ["-a"]])
def test_ours_encrypts_age_decrypts(
    tmp_path: Path, our_key: tuple[Path, str], age_key: tuple[Path, str], armor: list[str]
) -> None:
    plaintext = os.urandom(300_000)
    (tmp_path / "recipients").write_text(f"# office\n{age_key[1]}\n\n")
    (tmp_path / "in").write_bytes(plaintext)
    out = tmp_path / "out.age"
    result = ours(
        "encrypt", "-r", our_key[1], "-R", str(tmp_path / "recipients"), *armor,
        "-o", str(out), str(tmp_path / "in"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert age("-d", "-i", str(age_key[0]), str(out)).stdout == plaintext
    piped = ours("encrypt", "-r", age_key[1], *armor, input=plaintext)
    assert age("-d", "-i", str(age_key[0]), input=piped.stdout).stdout == plaintext


@pytest.mark.parametrize("armor", [[], ["-a"]])
def test_age_encrypts_ours_decrypts(
    tmp_path: Path, our_key: tuple[Path, str], armor: list[str]
) -> None:
    plaintext = os.urandom(200_000)
    ciphertext = age("-r", our_key[1], *armor, input=plaintext).stdout
    result = ours("decrypt", "-i", str(our_key[0]), input=ciphertext)
    assert result.returncode == 0, result.stderr
    assert result.stdout == plaintext
    (tmp_path / "in.age").write_bytes(ciphertext)
    out = tmp_path / "out"
    assert (
        ours("decrypt", "-i", str(our_key[0]), "-o", str(out), str(tmp_path / "in.age")).returncode
        == 0
    )
    assert out.read_bytes() == plaintext


def test_wrong_identity_reports_no_match_and_writes_nothing(
    tmp_path: Path, our_key: tuple[Path, str], age_key: tuple[Path, str]
) -> None:
    ciphertext = age("-r", age_key[1], input=b"secret").stdout
    (tmp_path / "in.age").write_bytes(ciphertext)
    out = tmp_path / "out"
    result = ours("decrypt", "-i", str(our_key[0]), "-o", str(out), str(tmp_path / "in.age"))
    assert result.returncode == 1
    assert result.stderr.decode() == "error: no identity matched\n"
    assert not out.exists()


def test_bad_header_reports_header_stage(tmp_path: Path, our_key: tuple[Path, str]) -> None:
    out = tmp_path / "out"
    result = ours(
        "decrypt", "-i", str(our_key[0]), "-o", str(out), input=b"age-encryption.org/v2\n"
    )
    assert result.returncode == 1
    assert result.stderr.decode().startswith("error: header: ")
    assert result.stderr.decode().count("\n") == 1
    assert not out.exists()


def test_damaged_payload_removes_partial_output(tmp_path: Path, our_key: tuple[Path, str]) -> None:
    plaintext = os.urandom(300_000)
    ciphertext = bytearray(age("-r", our_key[1], input=plaintext).stdout)
    ciphertext[-1000] ^= 1  # in the last chunk: earlier chunks were already written
    (tmp_path / "in.age").write_bytes(bytes(ciphertext))
    out = tmp_path / "out"
    result = ours("decrypt", "-i", str(our_key[0]), "-o", str(out), str(tmp_path / "in.age"))
    assert result.returncode == 1
    assert result.stderr.decode().startswith("error: payload: ")
    assert not out.exists()


def test_missing_recipients_is_an_error() -> None:
    result = ours("encrypt", input=b"x")
    assert result.returncode == 1
    assert result.stderr.decode().startswith("error: ")
