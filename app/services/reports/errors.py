"""Why a report operation was refused. Messages are keys for the view to phrase, never prose
that could tell a visitor whether a receipt code or a person exists."""

from __future__ import annotations

import enum


class ReportError(Exception):
    """A report operation was refused; ``message_key`` says why, for the view to phrase."""

    message_key = "report_error"


class ChannelUnavailable(ReportError):
    """No discipline office can receive this report (no office with usable keys above it)."""

    message_key = "channel_unavailable"


class ExclusionsLeaveNoOffice(ChannelUnavailable):
    """An office could receive this report, but not without someone the reporter keeps out,
    and no office above it can."""

    message_key = "exclusions_leave_no_office"


class ReportInvalid(ReportError):
    """The form has mistakes: ``errors`` maps a field name to a message key."""

    message_key = "invalid"

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(f"{field}: {key}" for field, key in sorted(errors.items())))
        self.errors = dict(errors)


class NotAllowed(ReportError):
    """The caller may not do this to this report."""

    message_key = "not_allowed"


class FileDamaged(ReportError):
    """A file of a report is missing, altered or unreadable (its blob, header or content)."""

    message_key = "damaged"


class FileProblem(enum.StrEnum):
    """Why a reader is shown nothing of one file (the message key of its error)."""

    misplaced = "misplaced"  # places.Misplaced
    damaged = FileDamaged.message_key
    missing = "missing"  # listed by its text, but no row at its place (moved away, deleted)


class UploadRefused(ReportError):
    """An upload went past a limit; what was received of it is gone. ``limit`` is the bound."""

    message_key = "upload_refused"

    def __init__(self, limit: int) -> None:
        super().__init__(f"{self.message_key} (limit {limit})")
        self.limit = limit


class TooManyFiles(UploadRefused):
    message_key = "too_many_files"


class FileTooLarge(UploadRefused):
    message_key = "file_too_large"


class ReportTooLarge(UploadRefused):
    message_key = "report_too_large"
