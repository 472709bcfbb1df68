"""Transparency log: RFC 6962 / RFC 9162 Merkle trees, proofs and signed checkpoints.

Leaves are hashed as SHA-256(0x00 || data) and nodes as SHA-256(0x01 || left || right).
Proof generation takes the leaf hashes either as a sequence or as a callable
``leaves(start, end)`` returning the hashes of leaves [start, end), so the caller can
fetch them from storage; each proof touches every leaf at most once (O(n)). A
``HashTree`` keeps every complete subtree as leaves are appended, so its proofs and roots
cost O(log² n) hashes: for a server that answers many proofs of one growing log.
Checkpoints use the C2SP tlog-checkpoint format in a C2SP signed note with Ed25519.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crypto.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_ED25519 = b"\x01"
_SIGNATURE_PREFIX = "\u2014 "  # em dash and a space


def leaf_hash(data: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _hashes_root(hashes: Sequence[bytes]) -> bytes:
    """Root over leaf hashes, level by level (same tree as the RFC's recursive split)."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def root(leaves: Sequence[bytes]) -> bytes:
    """Merkle tree hash of raw leaf data (entries, not hashes)."""
    return _hashes_root([leaf_hash(d) for d in leaves])


def root_from_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Merkle tree hash from already hashed leaves."""
    return _hashes_root(leaf_hashes)


class HashTree:
    """Leaf hashes of an append-only log with the hash of every complete subtree.

    ``levels[j][i]`` is the hash of leaves [i * 2**j, (i + 1) * 2**j); such a subtree never
    changes once complete, so appending a leaf adds at most log2(n) hashes.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        self.extend(leaf_hashes)

    def __len__(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: bytes) -> None:
        """Add the next leaf hash."""
        if len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash has 32 bytes")
        levels = self._levels
        levels[0].append(leaf)
        level = 0
        while len(levels[level]) % 2 == 0:
            if level + 1 == len(levels):
                levels.append([])
            levels[level + 1].append(node_hash(levels[level][-2], levels[level][-1]))
            level += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Add the next leaf hashes in order."""
        for leaf in leaf_hashes:
            self.append(leaf)

    def subtree(self, start: int, end: int) -> bytes:
        """Merkle tree hash of leaves [start, end) (RFC 9162 2.1.1)."""
        if not 0 <= start < end <= len(self):
            raise ValueError("range outside the tree")
        count = end - start
        if count & (count - 1) == 0 and start % count == 0:
            return self._levels[count.bit_length() - 1][start // count]
        k = _split(count)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """Merkle tree hash of the first ``size`` leaves (default: all)."""
        size = len(self) if size is None else size
        return self.subtree(0, size) if size else EMPTY_ROOT


LeafSource = Sequence[bytes] | Callable[[int, int], Sequence[bytes]] | HashTree


def _fetch(leaves: LeafSource) -> Callable[[int, int], bytes]:
    if isinstance(leaves, HashTree):
        return leaves.subtree
    if callable(leaves):
        return lambda start, end: _hashes_root(leaves(start, end))  # type: ignore[call-arg]
    return lambda start, end: _hashes_root(leaves[start:end])


def _split(n: int) -> int:
    """Largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(index: int, size: int, leaves: LeafSource) -> list[bytes]:
    """Audit path for leaf ``index`` in the tree of the first ``size`` leaves (RFC 9162 2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")
    subtree = _fetch(leaves)
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()  # deepest sibling first
    return path


def consistency_proof(old_size: int, new_size: int, leaves: LeafSource) -> list[bytes]:
    """Proof that the tree of ``old_size`` leaves is a prefix of ``new_size`` (RFC 9162 2.1.4.1)."""
    if not 0 <= old_size <= new_size:
        raise ValueError("sizes out of order")
    if old_size == 0 or old_size == new_size:
        return []
    subtree = _fetch(leaves)
    proof: list[bytes] = []
    start, end, complete = 0, new_size, True
    while old_size != end:
        k = _split(end - start)
        if old_size - start <= k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            start += k
            complete = False
    if not complete:
        proof.append(subtree(start, end))
    proof.reverse()
    return proof


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """Check an inclusion proof for a leaf hash (RFC 9162 2.1.3.2); raise ProofError if bad."""
    if not 0 <= index < size:
        raise ProofError("leaf index outside the tree")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root_hash:
        raise ProofError("inclusion proof does not match the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check a consistency proof (RFC 9162 2.1.4.2); raise ProofError if bad."""
    if not 0 <= old_size <= new_size:
        raise ProofError("sizes out of order")
    if old_size == new_size:
        if proof or old_root != new_root:
            raise ProofError("equal sizes need equal roots and an empty proof")
        return
    if old_size == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise ProofError("consistency proof does not match the roots")


# --- checkpoints (C2SP tlog-checkpoint in a C2SP signed note) ---

_KEY_NAME = re.compile(r"[^\s+]+")
# A tree size is a uint64 in ASCII decimal without leading zeros: at most 20 digits, so
# int() never sees the thousands of digits it is slow on (and refuses past 4,300).
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
_MAX_TREE_SIZE = 2**64 - 1
_SIGNATURE_SIZE = 4 + 64  # key hash, then the Ed25519 signature


def _key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + _ED25519 + public_key).digest()[:4]


def _valid_name(name: str) -> bool:
    """Non-empty, valid UTF-8 (no lone surrogates), no whitespace and no '+'."""
    return bool(_KEY_NAME.fullmatch(name)) and _encodes_as_utf8(name)


def _check_name(name: str) -> None:
    if not _valid_name(name):
        raise ValueError("key name must be non-empty UTF-8 without spaces or '+'")


def _encodes_as_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800"
        return False
    return True


def _utf8_text(text: str | bytes, what: str) -> str:
    """``text`` as a str that is valid UTF-8 (bytes must decode strictly as UTF-8)."""
    if isinstance(text, bytes):
        try:
            return text.decode("utf-8")
        except UnicodeDecodeError:
            raise ProofError(f"malformed {what}") from None
    if not isinstance(text, str) or not _encodes_as_utf8(text):
        raise ProofError(f"malformed {what}")
    return text


def _base64(text: str, what: str) -> bytes:
    """Canonical standard base64 of ASCII text; anything else is a ProofError naming ``what``.

    Canonical because b64decode alone lets through padding after a complete group and
    nonzero unused bits, so one value would have several spellings.
    """
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except ValueError:  # non-ASCII text (UnicodeEncodeError) or bad base64 (binascii.Error)
        raise ProofError(f"malformed {what}") from None
    if base64.b64encode(raw) != text.encode("ascii"):
        raise ProofError(f"malformed {what}")
    return raw


@dataclass(frozen=True)
class Verifier:
    """An Ed25519 note verifier key with its name."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise ValueError("Ed25519 public keys are 32 bytes")

    @property
    def key_hash(self) -> bytes:
        """First 4 bytes of SHA-256(name || "\\n" || 0x01 || public key)."""
        return _key_hash(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        """Text form ``<name>+<hash hex>+<base64(0x01 || public key)>``."""
        encoded = base64.b64encode(_ED25519 + self.public_key).decode()
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"

    @classmethod
    def from_vkey(cls, text: str | bytes) -> Verifier:
        """Parse a verifier key in text form (str, or UTF-8 bytes), checking its key hash."""
        text = _utf8_text(text, "verifier key")
        try:
            name, hash_hex, encoded = text.strip().split("+", 2)
        except ValueError:
            raise ProofError("malformed verifier key") from None
        raw = _base64(encoded, "verifier key")
        try:
            verifier = cls(name, raw[1:])
            expected = bytes.fromhex(hash_hex)  # ValueError on anything but hex digits
        except ValueError:
            raise ProofError("malformed verifier key") from None
        if raw[:1] != _ED25519 or len(hash_hex) != 8 or expected != verifier.key_hash:
            raise ProofError("verifier key hash or type does not match")
        return verifier


@dataclass(frozen=True)
class Signer:
    """An Ed25519 note signer (the log's private key) with its name."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        _check_name(self.name)

    @classmethod
    def generate(cls, name: str) -> Signer:
        """A new random signer."""
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def verifier(self) -> Verifier:
        """The matching verifier."""
        return Verifier(self.name, self.private_key.public_key().public_bytes_raw())

    def sign_line(self, text: bytes) -> str:
        """One signature line for note text ``text``."""
        signature = self.private_key.sign(text)
        encoded = base64.b64encode(self.verifier.key_hash + signature).decode()
        return f"{_SIGNATURE_PREFIX}{self.name} {encoded}\n"


@dataclass(frozen=True)
class Checkpoint:
    """A tree state: origin (log name), size and root hash, plus optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        """The note text that is signed."""
        if not self.origin or "\n" in self.origin or len(self.root_hash) != HASH_SIZE:
            raise ValueError("invalid checkpoint fields")
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"

    def sign(self, *signers: Signer) -> str:
        """The signed note: body, a blank line, one signature line per signer."""
        text = self.body()
        return text + "\n" + "".join(s.sign_line(text.encode("utf-8")) for s in signers)


def _parse_body(text: str) -> Checkpoint:
    lines = text.split("\n")[:-1]
    if len(lines) < 3 or not lines[0] or not _DECIMAL.fullmatch(lines[1]):
        raise ProofError("malformed checkpoint")
    size = int(lines[1])
    if size > _MAX_TREE_SIZE:
        raise ProofError("malformed checkpoint")
    root_hash = _base64(lines[2], "checkpoint root hash")
    if len(root_hash) != HASH_SIZE:
        raise ProofError("malformed checkpoint root hash")
    if any(not line for line in lines[3:]):
        raise ProofError("empty extension line in checkpoint")
    return Checkpoint(lines[0], size, root_hash, tuple(lines[3:]))


def verify_checkpoint(
    note: str | bytes, verifier: Verifier, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint note with ``verifier`` and return the checkpoint.

    ``note`` is text or its UTF-8 bytes. Raises ProofError unless the note carries a valid
    signature by ``verifier`` and, when given, the expected ``origin``; any malformed note
    (not UTF-8, control characters, bad base64 or numbers) is a ProofError too. Signatures
    by other keys are ignored, but a signature line naming ``verifier``'s key (name and key
    hash) must verify: one of the wrong length or one that fails refuses the note, as in
    the reference signed-note implementation.
    """
    note = _utf8_text(note, "signed note")
    body, sep, signatures = note.rpartition("\n\n")
    if not sep or not signatures.endswith("\n") or any(ord(c) < 0x20 and c != "\n" for c in note):
        raise ProofError("malformed signed note")
    text = body + "\n"
    checkpoint = _parse_body(text)
    if origin is not None and checkpoint.origin != origin:
        raise ProofError("checkpoint is for another log")
    public = Ed25519PublicKey.from_public_bytes(verifier.public_key)
    for line in signatures[:-1].split("\n"):
        if not line.startswith(_SIGNATURE_PREFIX):
            raise ProofError("malformed signature line")
        name, _, encoded = line.removeprefix(_SIGNATURE_PREFIX).partition(" ")
        raw = _base64(encoded, "signature line")
        if not _valid_name(name) or len(raw) < 5:
            raise ProofError("malformed signature line")
        if name != verifier.name or raw[:4] != verifier.key_hash:
            continue
        if len(raw) != _SIGNATURE_SIZE:
            raise ProofError("checkpoint signature has the wrong length")
        try:
            public.verify(raw[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise ProofError("checkpoint signature does not verify") from None
        return checkpoint
    raise ProofError("checkpoint is not signed by the expected key")
