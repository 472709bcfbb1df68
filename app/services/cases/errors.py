"""Why a case operation was refused: a key for the view to phrase (``message_key``)."""

from __future__ import annotations


class CaseError(Exception):
    """Refused; ``message_key`` names the reason the view puts in words."""

    def __init__(self, message_key: str, detail: str = "") -> None:
        super().__init__(f"{message_key}: {detail}" if detail else message_key)
        self.message_key = message_key


class CaseNotPermitted(CaseError):
    """This staff member may not do this to this case (the view answers 403)."""
