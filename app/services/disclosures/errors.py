"""Why a disclosure operation was refused."""

from __future__ import annotations


class DisclosureError(Exception):
    """A disclosure operation was refused; ``message`` is for the person who tried it."""

    def __init__(self, message: object) -> None:
        super().__init__(str(message))
        self.message = message


class NotAllowed(DisclosureError):
    """The staff member may not do this to this disclosure."""


class WrongState(DisclosureError):
    """The disclosure is not in a state where this step makes sense."""
