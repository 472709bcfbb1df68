"""Disclosures of factory affairs and party affairs: public pages, log, console workflow."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from app.models import Action, PublicState, StepAction, WorkState

ACTION_NAMES = {
    Action.publish: _l("publication"),
    Action.amend: _l("amendment"),
    Action.retract: _l("retraction"),
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
}


def register_public(app: Flask) -> None:
    from app.disclosures import log_views, views

    app.register_blueprint(views.bp)
    app.register_blueprint(log_views.bp)
    app.context_processor(views.disclosure_helpers)


def register_console(app: Flask) -> None:
    from app.disclosures import admin_views, console_views, views

    app.register_blueprint(console_views.bp)
    app.register_blueprint(admin_views.bp)
    # Shared template helpers (markdown, names, dates) without the public routes.
    app.context_processor(views.disclosure_helpers)

    @app.context_processor
    def workflow_names() -> dict[str, object]:
        return {
            "action_names": ACTION_NAMES,
            "work_state_names": WORK_STATE_NAMES,
            "public_state_names": PUBLIC_STATE_NAMES,
            "step_names": STEP_NAMES,
        }
