"""``python -m crypto``: a small age-compatible command line.

    python -m crypto keygen [-o FILE]
    python -m crypto encrypt -r RECIPIENT... [-R FILE] [-a] [-o OUT] [IN]
    python -m crypto decrypt -i IDENTITY_FILE... [-o OUT] [IN]

Errors are one line naming the failed stage; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from crypto.age import decrypt, encrypt_stream
from crypto.errors import (
    ArmorError,
    CryptoError,
    HeaderError,
    HmacError,
    KeyFormatError,
    NoIdentityMatch,
    PayloadError,
)
from crypto.keys import (
    X25519Identity,
    X25519Recipient,
    parse_identities_file,
    parse_recipients_file,
)

_STAGES: list[tuple[type[Exception], str]] = [
    (ArmorError, "armor"),
    (HeaderError, "header"),
    (HmacError, "header MAC"),
    (PayloadError, "payload"),
    (KeyFormatError, "key"),
]


class CliError(Exception):
    """A usage problem reported as one line."""


def keygen_text(identity: X25519Identity) -> str:
    """The identity file format written by age-keygen."""
    created = datetime.now().astimezone().isoformat(timespec="seconds")
    created = created.replace("+00:00", "Z")
    secret = identity.secret_key_text()
    return f"# created: {created}\n# public key: {identity.recipient}\n{secret}\n"


@contextlib.contextmanager
def _input(path: str | None) -> Iterator[BinaryIO]:
    if path is None or path == "-":
        yield sys.stdin.buffer
    else:
        with open(path, "rb") as f:
            yield f


def _cmd_keygen(args: argparse.Namespace) -> None:
    identity = X25519Identity.generate()
    text = keygen_text(identity)
    if args.output:
        if Path(args.output).exists():
            raise CliError(f"output file {args.output!r} exists")
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    print(f"Public key: {identity.recipient}", file=sys.stderr)


def _recipients(args: argparse.Namespace) -> list[X25519Recipient]:
    recipients = [X25519Recipient.parse(r) for r in args.recipient or []]
    for path in args.recipients_file or []:
        recipients += parse_recipients_file(Path(path).read_text("utf-8"))
    if not recipients:
        raise CliError("missing recipients: use -r or -R")
    return recipients


def _cmd_encrypt(args: argparse.Namespace) -> None:
    recipients = _recipients(args)
    with _input(args.input) as src:
        if args.output:
            _write_out(
                args.output, lambda dst: encrypt_stream(src, dst, recipients, armor=args.armor)
            )
        else:
            encrypt_stream(src, sys.stdout.buffer, recipients, armor=args.armor)
            sys.stdout.buffer.flush()


def _write_out(path: str, produce: Callable[[BinaryIO], None]) -> None:
    """Write to ``path``, removing it again if producing its content fails."""
    with open(path, "wb") as dst:
        try:
            produce(dst)
        except BaseException:
            dst.close()
            os.unlink(path)
            raise


def _cmd_decrypt(args: argparse.Namespace) -> None:
    identities: list[X25519Identity] = []
    for path in args.identity or []:
        identities += parse_identities_file(Path(path).read_text("utf-8"))
    if not identities:
        raise CliError("missing identities: use -i")
    with _input(args.input) as src:
        # The header is verified before the output is opened, so a bad file leaves no OUT.
        reader = decrypt(src, identities)

        def produce(dst: BinaryIO) -> None:
            for view in reader.views():
                dst.write(view)

        if args.output:
            _write_out(args.output, produce)
        else:
            produce(sys.stdout.buffer)
            sys.stdout.buffer.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m crypto", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    keygen = sub.add_parser("keygen", help="generate an X25519 identity")
    keygen.add_argument("-o", "--output", metavar="FILE")
    keygen.set_defaults(func=_cmd_keygen)

    enc = sub.add_parser("encrypt", help="encrypt to recipients")
    enc.add_argument("-r", "--recipient", action="append", metavar="RECIPIENT")
    enc.add_argument("-R", "--recipients-file", action="append", metavar="PATH")
    enc.add_argument("-a", "--armor", action="store_true")
    enc.add_argument("-o", "--output", metavar="OUT")
    enc.add_argument("input", nargs="?", metavar="IN")
    enc.set_defaults(func=_cmd_encrypt)

    dec = sub.add_parser("decrypt", help="decrypt with identity files")
    dec.add_argument("-i", "--identity", action="append", metavar="PATH")
    dec.add_argument("-o", "--output", metavar="OUT")
    dec.add_argument("input", nargs="?", metavar="IN")
    dec.set_defaults(func=_cmd_decrypt)
    return parser


def _describe(exc: Exception) -> str:
    if isinstance(exc, NoIdentityMatch):
        return "no identity matched"
    for cls, stage in _STAGES:
        if isinstance(exc, cls):
            return f"{stage}: {exc}"
    if isinstance(exc, OSError):
        return f"file: {exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        args.func(args)
    except (CryptoError, CliError, OSError, UnicodeDecodeError) as exc:
        print(f"error: {_describe(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
