"""What both apps show of disclosures: translated names, template helpers, attachments."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, send_file
from flask_babel import lazy_gettext as _l

from app.models import (
    Action,
    CongressStatus,
    DisclosureAttachment,
    Period,
    PublicState,
    Scope,
    StepAction,
    WorkState,
)
from app.resources import blob_store
from app.security.headers import content_disposition
from app.services.blobs import BlobError
from app.services.disclosures import log as disclosure_log
from app.services.disclosures.attachments import is_inline
from app.services.disclosures.decisions import MEETING_NAMES, read_record
from app.services.sanitize import render_markdown
from app.web import runtime

ATTACHMENT_CSP = "sandbox; default-src 'none'"

SCOPE_NAMES = {
    Scope.everyone: _l("Everyone on the intranet"),
    Scope.unit: _l("The unit and its sub-units"),
    Scope.party: _l("Party members only"),
}
PERIOD_NAMES = {
    Period.monthly: _l("monthly"),
    Period.quarterly: _l("quarterly"),
    Period.half_yearly: _l("half-yearly"),
    Period.yearly: _l("yearly"),
}
ACTION_NAMES = {
    Action.publish: _l("publication"),
    Action.amend: _l("amendment"),
    Action.retract: _l("retraction"),
    Action.review: _l("workers' congress review"),
}
CONGRESS_STATUS_NAMES = {
    CongressStatus.awaiting: _l("awaiting review"),
    CongressStatus.under_review: _l("under review"),
    CongressStatus.reviewed: _l("reviewed"),
}
WORK_STATE_NAMES = {
    WorkState.none: _l("none"),
    WorkState.draft: _l("draft"),
    WorkState.in_review: _l("waiting for review"),
    WorkState.returned: _l("returned for changes"),
    WorkState.scheduled: _l("approved, scheduled"),
}
PUBLIC_STATE_NAMES = {
    PublicState.unpublished: _l("not published"),
    PublicState.published: _l("published"),
    PublicState.retracted: _l("retracted"),
}
STEP_NAMES = {
    StepAction.created: _l("created"),
    StepAction.edited: _l("edited"),
    StepAction.submitted: _l("submitted for review"),
    StepAction.returned: _l("returned for changes"),
    StepAction.approved: _l("approved"),
    StepAction.scheduled: _l("scheduled"),
    StepAction.published: _l("published"),
    StepAction.amended: _l("amended"),
    StepAction.retracted: _l("retracted"),
    StepAction.imported: _l("imported"),
    StepAction.discarded: _l("change discarded"),
    StepAction.amendment_started: _l("amendment started"),
    StepAction.retraction_requested: _l("retraction requested"),
    StepAction.attachment_added: _l("attachment added"),
    StepAction.attachment_removed: _l("attachment removed"),
    StepAction.congress_review: _l("workers' congress review recorded"),
}


def register_helpers(app: Flask, *, workflow: bool = False) -> None:
    """Template helpers (markdown, names, dates); the workflow's names too on the console."""
    app.context_processor(_template_helpers)
    if workflow:
        app.context_processor(_workflow_names)


def _template_helpers() -> dict[str, Any]:
    return {
        "render_markdown": render_markdown,
        "hash_text": disclosure_log.hash_text,  # one encoding of hashes for people
        "scope_names": SCOPE_NAMES,
        "period_names": PERIOD_NAMES,
        "local_date": _local_date,
        "local_time": local_time,
        "read_decision": read_record,
        "meeting_names": MEETING_NAMES,
        "congress_status_names": CONGRESS_STATUS_NAMES,
    }


def _local_date(value) -> str:
    if value is None:
        return ""
    if hasattr(value, "astimezone"):
        value = value.astimezone(runtime.local_zone()).date()
    return value.isoformat()


def local_time(value) -> str:
    """A UTC time as the enterprise's local date and minute."""
    if value is None:
        return ""
    return value.astimezone(runtime.local_zone()).strftime("%Y-%m-%d %H:%M")


def _workflow_names() -> dict[str, object]:
    return {
        "action_names": ACTION_NAMES,
        "work_state_names": WORK_STATE_NAMES,
        "public_state_names": PUBLIC_STATE_NAMES,
        "step_names": STEP_NAMES,
    }


def send_attachment(found: DisclosureAttachment) -> Response:
    """Serve an attachment so that no browser runs or sniffs it as a page of this site."""
    try:
        stream = blob_store().open(found.blob_key)
    except BlobError:
        abort(404)
    inline = is_inline(found)
    response = send_file(stream, mimetype=found.content_type, max_age=0, etag=found.sha256)
    response.headers["Content-Disposition"] = content_disposition(
        "inline" if inline else "attachment", found.filename
    )
    response.headers["Content-Security-Policy"] = ATTACHMENT_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
