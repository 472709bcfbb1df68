"""Places for password derivations: how many console passwords are derived at once.

Each derivation of a staff password is one scrypt of about 256 MiB and a second or more of a
core (``crypto.passwords``), and the sign-in page runs one for anyone who sends the form. Past
``PASSWORD_DERIVATIONS`` at once, a form waits a moment for a place, then is answered "busy"
without any derivation: a flood of sign-ins (within the per-address and per-account limits,
from a few addresses) would otherwise take gigabytes and slow every sign-in for many seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app
from flask_babel import lazy_gettext as _l

# Long enough for a derivation that is ending to hand over its place, short enough that a
# waiting request does not hold its thread for long.
WAIT_SECONDS = 1.0
BUSY_MESSAGE = _l(
    "The console is busy checking other passwords just now. Nothing was changed: try again "
    "in a moment."
)


class DerivationsBusy(Exception):
    """Every place for a password derivation stayed taken for the whole wait."""


def init_app(app: Flask) -> None:
    app.extensions["portal.password_derivations"] = threading.BoundedSemaphore(
        app.config["PASSWORD_DERIVATIONS"]
    )


@contextmanager
def derivation_place() -> Iterator[None]:
    """Hold one place while the block derives a password; DerivationsBusy if none is free."""
    places = current_app.extensions["portal.password_derivations"]
    if not places.acquire(timeout=WAIT_SECONDS):
        raise DerivationsBusy
    try:
        yield
    finally:
        places.release()
