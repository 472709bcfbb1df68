"""What each audited action is called on the pages (the auditor's pages and dashboard)."""

from flask_babel import lazy_gettext as _l

from app.services.audit import AuditAction

ACTION_NAMES = {
    AuditAction.sign_in: _l("signed in"),
    AuditAction.sign_in_failed: _l("failed sign-in"),
    AuditAction.session_end: _l("session ended"),
    AuditAction.unseal: _l("unsealed key"),
    AuditAction.password_change: _l("changed password"),
    AuditAction.enrolment: _l("enrolment"),
    AuditAction.inbox_view: _l("viewed inbox"),
    AuditAction.case_open: _l("opened case"),
    AuditAction.real_name_open: _l("opened real name"),
    AuditAction.attachment_download: _l("downloaded attachment"),
    AuditAction.status_change: _l("changed status"),
    AuditAction.label: _l("label"),
    AuditAction.note: _l("note"),
    AuditAction.reply: _l("reply to reporter"),
    AuditAction.assignment: _l("assignment"),
    AuditAction.grant: _l("granted access"),
    AuditAction.recusal: _l("recusal"),
    AuditAction.transfer: _l("transfer"),
    AuditAction.decision: _l("decision"),
    AuditAction.recovery: _l("recovery"),
    AuditAction.export: _l("export"),
    AuditAction.admin_change: _l("administrative change"),
    AuditAction.email_change: _l("changed e-mail address"),
    AuditAction.purge: _l("purged under the retention rules"),
    AuditAction.decision_record: _l("collective decision record"),
    AuditAction.congress_review: _l("workers' congress review"),
}


def action_name(value: str) -> str:
    """The action's name on a page; a value no version knows is shown as stored."""
    try:
        return str(ACTION_NAMES[AuditAction(value)])
    except (ValueError, KeyError):
        return value
