"""Merkle log: RFC 6962 test data, exhaustive small trees, and signed checkpoints."""

from __future__ import annotations

import base64
import hashlib

import pytest

from crypto.errors import ProofError
from crypto.tlog import (
    EMPTY_ROOT,
    Checkpoint,
    HashTree,
    Signer,
    Verifier,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_hashes,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)

# The classic RFC 6962 test data (certificate-transparency, Go merkle, Trillian).
RFC_LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f"]
]  # fmt: skip
RFC_ROOTS = [
    bytes.fromhex(h)
    for h in [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
H96A2 = "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
H5F08 = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
H6B47 = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
HBC1A = "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
HCA85 = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
HD37E = "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"
H6E34 = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
HFAC5 = "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
H0EBC = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
# (leaf index, tree size, path)
RFC_INCLUSION = [
    (0, 8, [H96A2, H5F08, H6B47]),
    (5, 8, [HBC1A, HCA85, HD37E]),
    (2, 3, [HFAC5]),
    (1, 5, [H6E34, H5F08, HBC1A]),
    (0, 1, []),
]
# (old size, new size, proof)
RFC_CONSISTENCY = [
    (1, 1, []),
    (1, 8, [H96A2, H5F08, H6B47]),
    (6, 8, [H0EBC, HCA85, HD37E]),
    (2, 5, [H5F08, HBC1A]),
]
RFC_HASHES = [leaf_hash(d) for d in RFC_LEAVES]


def reference_root(hashes: list[bytes]) -> bytes:
    """MTH exactly as RFC 6962 section 2.1 defines it (recursive split)."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(reference_root(hashes[:k]), reference_root(hashes[k:]))


def test_rfc6962_roots() -> None:
    assert root([]) == EMPTY_ROOT == RFC_ROOTS[0]
    for size in range(1, 9):
        assert root(RFC_LEAVES[:size]) == RFC_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), RFC_INCLUSION)
def test_rfc6962_inclusion(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(index, size, RFC_HASHES)
    assert [p.hex() for p in proof] == path
    verify_inclusion(RFC_HASHES[index], index, size, proof, RFC_ROOTS[size])


@pytest.mark.parametrize(("old", "new", "path"), RFC_CONSISTENCY)
def test_rfc6962_consistency(old: int, new: int, path: list[str]) -> None:
    proof = consistency_proof(old, new, RFC_HASHES)
    assert [p.hex() for p in proof] == path
    verify_consistency(old, new, RFC_ROOTS[old], RFC_ROOTS[new], proof)


def _tampered(proof: list[bytes]) -> list[list[bytes]]:
    variants = []
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 1]) + flipped[i][1:]
        variants.append(flipped)
    if proof:
        variants += [proof[:-1], proof[1:]]
    variants.append([*proof, proof[-1] if proof else bytes(32)])
    return variants


SMALL = [leaf_hash(i.to_bytes(2, "big")) for i in range(64)]
SMALL_ROOTS = [reference_root(SMALL[:n]) for n in range(65)]


def test_roots_of_all_small_trees() -> None:
    for size in range(65):
        assert root_from_hashes(SMALL[:size]) == SMALL_ROOTS[size]


def test_every_inclusion_proof_of_small_trees() -> None:
    for size in range(1, 65):
        for index in range(size):
            proof = inclusion_proof(index, size, SMALL)
            verify_inclusion(SMALL[index], index, size, proof, SMALL_ROOTS[size])
            for bad in _tampered(proof):
                with pytest.raises(ProofError):
                    verify_inclusion(SMALL[index], index, size, bad, SMALL_ROOTS[size])
            with pytest.raises(ProofError):
                verify_inclusion(
                    SMALL[index],
                    index,
                    size + 1,
                    proof,
                    SMALL_ROOTS[size + 1 if size < 64 else size],
                )
            wrong = SMALL[(index + 1) % 64]
            with pytest.raises(ProofError):
                verify_inclusion(wrong, index, size, proof, SMALL_ROOTS[size])


def test_every_consistency_proof_of_small_trees() -> None:
    def fetch(start: int, end: int) -> list[bytes]:
        return SMALL[start:end]

    for new in range(65):
        for old in range(new + 1):
            proof = consistency_proof(old, new, fetch)
            verify_consistency(old, new, SMALL_ROOTS[old], SMALL_ROOTS[new], proof)
            if old in (0, new):
                assert proof == []
                continue
            for bad in _tampered(proof):
                with pytest.raises(ProofError):
                    verify_consistency(old, new, SMALL_ROOTS[old], SMALL_ROOTS[new], bad)
            # A proof for another tree (different old size) must not verify.
            if old + 1 < new:
                with pytest.raises(ProofError):
                    verify_consistency(old + 1, new, SMALL_ROOTS[old + 1], SMALL_ROOTS[new], proof)
            with pytest.raises(ProofError):
                verify_consistency(old, new, SMALL_ROOTS[old - 1], SMALL_ROOTS[new], proof)


def test_consistency_edge_cases() -> None:
    with pytest.raises(ProofError):
        verify_consistency(3, 3, SMALL_ROOTS[3], SMALL_ROOTS[4], [])
    with pytest.raises(ProofError):
        verify_consistency(5, 3, SMALL_ROOTS[5], SMALL_ROOTS[3], [])
    with pytest.raises(ProofError):
        verify_consistency(0, 3, EMPTY_ROOT, SMALL_ROOTS[3], [SMALL[0]])
    with pytest.raises(ProofError):
        verify_inclusion(SMALL[0], 3, 3, [], SMALL_ROOTS[3])


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate("portal.example/disclosures")


def test_checkpoint_round_trip_and_format(signer: Signer) -> None:
    checkpoint = Checkpoint("portal.example/disclosures", 8, RFC_ROOTS[8])
    note = checkpoint.sign(signer)
    lines = note.split("\n")
    assert lines[:4] == [
        "portal.example/disclosures",
        "8",
        base64.b64encode(RFC_ROOTS[8]).decode(),
        "",
    ]
    assert lines[4].startswith("\u2014 portal.example/disclosures ")
    sig = base64.b64decode(lines[4].rsplit(" ", 1)[1])
    assert len(sig) == 68 and sig[:4] == signer.verifier.key_hash
    assert verify_checkpoint(note, signer.verifier) == checkpoint
    assert verify_checkpoint(note, Verifier.from_vkey(signer.verifier.vkey)) == checkpoint


def test_key_hash_and_vkey_form(signer: Signer) -> None:
    verifier = signer.verifier
    expected = hashlib.sha256(verifier.name.encode() + b"\n\x01" + verifier.public_key).digest()[:4]
    assert verifier.key_hash == expected
    name, hash_hex, key = verifier.vkey.split("+", 2)
    assert (name, hash_hex) == (verifier.name, expected.hex())
    assert base64.b64decode(key) == b"\x01" + verifier.public_key
    with pytest.raises(ProofError):
        Verifier.from_vkey(f"{name}+00000000+{key}")
    with pytest.raises(ProofError):
        Verifier.from_vkey("not a key")


def test_checkpoint_rejects_tampering(signer: Signer) -> None:
    note = Checkpoint("portal.example/disclosures", 8, RFC_ROOTS[8]).sign(signer)
    other = Signer.generate("portal.example/disclosures")
    with pytest.raises(ProofError):
        verify_checkpoint(note, other.verifier)
    changed_size = note.replace("\n8\n", "\n9\n", 1)
    with pytest.raises(ProofError):
        verify_checkpoint(changed_size, signer.verifier)
    old_root = base64.b64encode(RFC_ROOTS[8]).decode()
    changed_root = note.replace(old_root, base64.b64encode(RFC_ROOTS[7]).decode())
    with pytest.raises(ProofError):
        verify_checkpoint(changed_root, signer.verifier)
    with pytest.raises(ProofError):
        verify_checkpoint(note, signer.verifier, origin="another.example/log")
    with pytest.raises(ProofError):
        verify_checkpoint(note.split("\n\n")[0] + "\n", signer.verifier)


def test_checkpoint_with_several_signatures_and_extensions(signer: Signer) -> None:
    witness = Signer.generate("witness.example")
    checkpoint = Checkpoint("portal.example/disclosures", 3, RFC_ROOTS[3], ("ext line",))
    note = checkpoint.sign(witness, signer)
    assert verify_checkpoint(note, signer.verifier) == checkpoint
    assert verify_checkpoint(note, witness.verifier) == checkpoint


def test_proof_against_a_checkpoint_from_another_tree(signer: Signer) -> None:
    note = Checkpoint("log", 7, RFC_ROOTS[7]).sign(signer)
    checkpoint = verify_checkpoint(note, signer.verifier)
    proof = inclusion_proof(2, 8, RFC_HASHES)
    with pytest.raises(ProofError):
        verify_inclusion(RFC_HASHES[2], 2, checkpoint.size, proof, checkpoint.root_hash)
    good = inclusion_proof(2, 7, RFC_HASHES)
    verify_inclusion(RFC_HASHES[2], 2, checkpoint.size, good, checkpoint.root_hash)


# A checkpoint published by the Go checksum database (sum.golang.org/latest) and its
# verifier key from the Go toolchain: a signature and key hash made by another
# implementation of the same formats.
GO_SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
GO_SUMDB_NOTE = base64.b64decode(
    "Z28uc3VtIGRhdGFiYXNlIHRyZWUKNjU2NjQyNTgKV1ZWTlZEMnF4K2ZUcTMxemtqNlVBcXhUNVg2SHZHcGhH"
    "TStvOFRobmJzZz0KCuKAlCBzdW0uZ29sYW5nLm9yZyBBejNncmxpZ0ptZ1g3S0d5R1BLeWJ5a05UaDNWZ3Ni"
    "THZVdXZPd3JNNXpMVmx1bG1GcDJ3ZHZieE93NzQvZ2NOeFVSU2hYRXBiN1JYY3MzK0JZZmxZTit3MGdRPQo="
).decode("utf-8")


def test_published_go_checksum_database_checkpoint_verifies() -> None:
    verifier = Verifier.from_vkey(GO_SUMDB_VKEY)
    assert verifier.name == "sum.golang.org"
    assert verifier.key_hash.hex() == "033de0ae"
    assert verifier.vkey == GO_SUMDB_VKEY
    checkpoint = verify_checkpoint(GO_SUMDB_NOTE, verifier, origin="go.sum database tree")
    assert checkpoint.size == 65664258
    assert checkpoint.root_hash.hex() == (
        "59554d543daac7e7d3ab7d73923e9402ac53e57e87bc6a6118cfa8f138676ec8"
    )
    for bent in (
        GO_SUMDB_NOTE.replace("65664258", "65664259"),
        GO_SUMDB_NOTE.replace("WVVN", "WVVM"),
    ):
        with pytest.raises(ProofError):
            verify_checkpoint(bent, verifier)
    with pytest.raises(ProofError):
        verify_checkpoint(GO_SUMDB_NOTE, Signer.generate("sum.golang.org").verifier)


def test_hash_tree_gives_the_same_roots_and_proofs_as_the_leaf_list() -> None:
    hashes = [leaf_hash(str(i).encode()) for i in range(70)]
    tree = HashTree(hashes[:1])
    for size in range(1, 71):
        if len(tree) < size:
            tree.append(hashes[size - 1])
        assert tree.root(size) == root_from_hashes(hashes[:size])
        for index in range(size):
            assert inclusion_proof(index, size, tree) == inclusion_proof(index, size, hashes)
        for old in range(size + 1):
            assert consistency_proof(old, size, tree) == consistency_proof(old, size, hashes)
    # Roots and proofs of smaller trees stay available as the tree grows.
    assert tree.root(5) == root_from_hashes(hashes[:5])
    assert tree.root(0) == root_from_hashes([])
    with pytest.raises(ValueError):
        tree.subtree(3, 71)


# --- hostile notes: every malformed input is a ProofError, never another exception ---------

# Each mutation turns one line into its replacement (None: the line is removed).
LINE_MUTATIONS = {
    "Chinese in front": lambda line: "签名" + line,
    "accent in the middle": lambda line: line[: len(line) // 2] + "é" + line[len(line) // 2 :],
    "Chinese at the end": lambda line: line + " 签名",
    "lone surrogate": lambda line: line + "\ud800",
    "lone low surrogate in front": lambda line: "\udc80" + line,
    "NUL": lambda line: line[:1] + "\x00" + line[1:],
    "carriage return": lambda line: line + "\r",
    "DEL and C1 control": lambda line: line + "\x7f\x85",
    "full-width ASCII": lambda line: "".join(
        chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in line
    ),
    "very long line": lambda line: line + "A" * 200_000,
    "5000-digit number": lambda line: "1" + "0" * 5000,
    "2**64": lambda line: str(2**64),
    "negative": lambda line: "-" + line,
    "padded with spaces": lambda line: f" {line} ",
    "extra padding": lambda line: line + "==",
    "emptied": lambda line: "",
    "removed": lambda line: None,
    "doubled": lambda line: f"{line}\n{line}",
    "extra blank line after": lambda line: f"{line}\n",
    "em dash only": lambda line: "\u2014 ",
}


@pytest.fixture(scope="module")
def witness_note(signer: Signer) -> tuple[str, Checkpoint]:
    """A valid note with an extension line and two signatures (a witness's, then the log's)."""
    checkpoint = Checkpoint("portal.example/disclosures", 8, RFC_ROOTS[8], ("扩展 ext",))
    return checkpoint.sign(Signer.generate("witness.example"), signer), checkpoint


def _mutated(note: str, index: int, mutation: str) -> str:
    lines = note.split("\n")
    replacement = LINE_MUTATIONS[mutation](lines[index])
    lines[index : index + 1] = [] if replacement is None else [replacement]
    return "\n".join(lines)


# The witness's signature may go or be repeated, the log's be repeated: the note still holds.
HARMLESS = {(5, "removed"), (5, "doubled"), (6, "doubled")}


# origin, size, root hash, extension, blank separator, witness signature, log signature
@pytest.mark.parametrize("index", range(7))
@pytest.mark.parametrize("mutation", LINE_MUTATIONS)
def test_a_mutated_note_is_a_proof_error(signer, witness_note, index, mutation) -> None:
    note, checkpoint = witness_note
    forged = _mutated(note, index, mutation)
    if forged == note:  # nothing to change on the blank line
        return
    if (index, mutation) in HARMLESS:
        assert verify_checkpoint(forged, signer.verifier) == checkpoint
        return
    with pytest.raises(ProofError):
        verify_checkpoint(forged, signer.verifier)
    with pytest.raises(ProofError):
        verify_checkpoint(forged.encode("utf-8", "surrogatepass"), signer.verifier)


def test_a_tampered_signature_line_is_a_proof_error(signer: Signer) -> None:
    note = Checkpoint("portal.example/disclosures", 8, RFC_ROOTS[8]).sign(signer)
    body, _, _line = note.partition("\n\n")
    for line in (
        "\u2014 portal.example/disclosures 签名",
        "\u2014 签名 AAAA",
        "\u2014 \ud800 x",
    ):
        with pytest.raises(ProofError, match="malformed"):
            verify_checkpoint(f"{body}\n\n{line}\n", signer.verifier)


@pytest.mark.parametrize(
    "note",
    [
        None,
        42,
        ["a note"],
        b"\xff\xfe",
        "portal.example/disclosures\n".encode("utf-16"),
        "\ud800\n8\n\n\u2014 x AAAA\n".encode("utf-8", "surrogatepass"),
        b"\xed\xa0\x80",  # an encoded surrogate is not UTF-8
        b"\xc0\xae",  # an overlong "."
        "",
        "\n\n",
        "\n\n\n",
        "\u2014 \n\n\u2014 \n",
    ],
)
def test_notes_that_are_not_utf8_text_are_a_proof_error(signer: Signer, note) -> None:
    with pytest.raises(ProofError):
        verify_checkpoint(note, signer.verifier)


def test_a_note_as_utf8_bytes_verifies(signer: Signer, witness_note) -> None:
    note, checkpoint = witness_note
    assert verify_checkpoint(note.encode("utf-8"), signer.verifier) == checkpoint


def test_every_truncation_of_a_note_is_a_proof_error(signer: Signer, witness_note) -> None:
    note, _checkpoint = witness_note
    for end in range(len(note)):
        with pytest.raises(ProofError):
            verify_checkpoint(note[:end], signer.verifier)


@pytest.mark.parametrize("part", range(3))
@pytest.mark.parametrize("mutation", LINE_MUTATIONS)
def test_a_mutated_verifier_key_is_a_proof_error(signer: Signer, part: int, mutation: str) -> None:
    parts = signer.verifier.vkey.split("+")
    replacement = LINE_MUTATIONS[mutation](parts[part])
    parts[part] = replacement or ""
    vkey = "+".join(parts)
    if vkey.strip() == signer.verifier.vkey:  # spaces around the whole key are allowed
        return
    with pytest.raises(ProofError):
        Verifier.from_vkey(vkey)
    with pytest.raises(ProofError):
        Verifier.from_vkey(vkey.encode("utf-8", "surrogatepass"))


def test_a_verifier_key_as_bytes_or_not_text() -> None:
    vkey = Signer.generate("签名.example").verifier.vkey
    assert Verifier.from_vkey(vkey.encode()).vkey == vkey
    for bad in (None, 7, b"\xff", "\ud800+00000000+AQ=="):
        with pytest.raises(ProofError):
            Verifier.from_vkey(bad)
    with pytest.raises(ValueError):
        Signer.generate("\ud800")
