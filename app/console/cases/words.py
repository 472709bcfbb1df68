"""What the case pages call things, translated: statuses, disposals, steps, refusals."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

STATUS_NAMES = {
    "received": _l("received"),
    "acknowledged": _l("acknowledged"),
    "under_assessment": _l("under assessment"),
    "disposal_decided": _l("disposal decided"),
    "concluded": _l("concluded"),
    "answered": _l("answered"),
}
KIND_NAMES = {
    "misconduct": _l("Report of misconduct"),
    "criticism": _l("Criticism and suggestion"),
}
LEVEL_NAMES = {
    "staff": _l("Staff member"),
    "middle_manager": _l("Middle manager"),
    "unit_leader": _l("Leader of the unit"),
    "discipline_member": _l("Member of the unit's discipline office"),
}
FIELD_NAMES = {
    "kind": _l("Kind"),
    "category": _l("Category"),
    "unit_code": _l("Unit concerned"),
    "level": _l("Level of the person concerned"),
    "persons": _l("Person or persons concerned"),
    "what": _l("What happened"),
    "when": _l("When"),
    "where": _l("Where"),
    "witnesses": _l("Who else knows"),
}
DISPOSAL_NAMES = {
    "talk_or_inquiry": _l("talk or written inquiry"),
    "preliminary_verification": _l("preliminary verification"),
    "shelved_pending_evidence": _l("shelved pending evidence"),
    "closed_no_action": _l("closed with no further action"),
    "sent_for_investigation": _l("sent on for investigation"),
}
STEP_NAMES = {
    "acknowledge": _l("Acknowledge the report"),
    "take_up_notice": _l("Tell the real-name reporter whether it is taken up"),
    "feedback": _l("Feedback to the reporter (case concluded)"),
    "conclusion_notice": _l("Tell the real-name reporter the outcome"),
}
REFUSALS = {
    "status_not_next": _l("The handling rules do not lead to that status from here."),
    "head_only": _l("Only an office head of this case may do this."),
    "assignee_not_reader": _l("Choose an inspector of the office who can read this case."),
    "label_required": _l("Type a label."),
    "label_too_long": _l("A label has at most %(max)d characters.", max=24),
    "label_invalid": _l("A label is one line of ordinary characters."),
    "too_many_labels": _l("A case has at most 10 labels: remove one first."),
    "note_required": _l("Write the note."),
    "note_too_long": _l("A note has at most %(max)d characters.", max=20000),
    "note_invalid": _l("The note contains characters that cannot be stored."),
    "reason_required": _l("Give the reason: it is recorded in the audit trail."),
    "reason_too_long": _l("At most %(max)d characters.", max=200),
    "no_real_name": _l("The reporter did not give a real name."),
    "real_name_not_for_key": _l("Your key does not open the real name of this report."),
    "real_name_damaged": _l("The real-name block cannot be opened: it was changed or is missing."),
    "decision_not_now": _l("A disposal is decided while the case is under assessment."),
    "decision_pending": _l("A disposal is already proposed: confirm or withdraw it first."),
    "no_pending_decision": _l("No disposal is waiting for confirmation."),
    "decision_changed": _l(
        "The proposed disposal was withdrawn or replaced after you opened the page. Read the "
        "disposal proposed now, then confirm it if you agree."
    ),
    "already_confirmed": _l(
        "You have already confirmed this disposal. A colleague must confirm it in their own "
        "session: one person alone cannot decide."
    ),
    "confirm_first": _l("Confirm the disposal before recording it."),
    "too_few_members": _l(
        "A disposal is decided collectively: at least two members must confirm it, each in "
        "their own session. Ask a colleague to confirm it."
    ),
    "no_head_member": _l("An office head must be among the members who confirm the disposal."),
    "proposer_or_head": _l("Only the member who proposed it or an office head may withdraw it."),
    "not_a_reader": _l("You cannot read this case."),
    "text_required": _l("Write a message or attach a file."),
    "text_too_long": _l("A message has at most %(max)d characters.", max=20000),
    "text_invalid": _l("The message contains characters that cannot be stored."),
    "channel_unavailable": _l("Nobody in the office has a key to read this report."),
    "upload_refused": _l("A file was refused: too many or too large. Send the others again."),
}
