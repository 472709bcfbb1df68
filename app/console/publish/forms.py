"""Forms of the publishing workflow: drafts, reviews, reasons, answers to questions."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

from app.form_choices import choice
from app.models import Scope
from app.services.disclosures.decisions import MEETING_NAMES, TEXT_MAX
from app.services.disclosures.drafting import TITLE_MAX
from app.services.periods import PERIOD_KEY_RE
from app.web.disclosures import SCOPE_NAMES
from app.web.forms import OneLine, WithinYears

# Names one a line: MEMBERS_MAX names of NAME_MAX characters and their line breaks, with room.
MEMBER_LIST_MAX = 12_000


class DraftForm(FlaskForm):
    title = StringField(
        _l("Title"),
        validators=[
            DataRequired(message=_l("Enter a title.")),
            Length(max=TITLE_MAX, message=_l("The title is too long.")),
            OneLine(),
        ],
    )
    category = SelectField(
        _l("Category"),
        validators=[InputRequired(message=_l("Choose a category from the list."))],
        validate_choice=False,  # checked against the database, with the same message
    )
    unit = SelectField(
        _l("Unit"),
        validators=[InputRequired(message=_l("Choose a unit from the list."))],
        validate_choice=False,
    )
    scope = SelectField(
        _l("Audience"),
        choices=[choice(scope.value, label) for scope, label in SCOPE_NAMES.items()],
        default=Scope.everyone.value,
    )
    period_key = StringField(
        _l("Reporting period (optional)"),
        validators=[
            Optional(),
            Regexp(
                PERIOD_KEY_RE.pattern,
                message=_l("Write the period as 2026, 2026-H1, 2026-Q2 or 2026-05."),
            ),
        ],
        render_kw={"placeholder": "2026-H1", "maxlength": 7},
    )
    body = TextAreaField(
        _l("Text (Markdown)"),
        validators=[Length(max=100_000, message=_l("The text is too long."))],
        render_kw={"rows": 16},
    )
    reason = TextAreaField(
        _l("Reason for the change"),
        validators=[Length(max=2000)],
        render_kw={"rows": 3},
    )
    scheduled_at = DateTimeLocalField(
        _l("Publish at (optional, local time)"),
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[Optional(), WithinYears()],
    )
    attachments = MultipleFileField(_l("Attachments"))
    # The record of the collective decision ("three importants and one large" items).
    meeting_kind = SelectField(
        _l("Meeting"),
        choices=[choice("", "—")]
        + [choice(kind.value, label) for kind, label in MEETING_NAMES.items()],
        default="",
        validate_choice=False,  # checked by the service, with a message of its own
    )
    meeting_date = DateField(_l("Date of the meeting"), validators=[Optional(), WithinYears()])
    members_present = TextAreaField(
        _l("Members present"),
        validators=[Length(max=MEMBER_LIST_MAX, message=_l("The list of members is too long."))],
        render_kw={"rows": 4},
    )
    members_absent = TextAreaField(
        _l("Members absent"),
        validators=[Length(max=MEMBER_LIST_MAX, message=_l("The list of members is too long."))],
        render_kw={"rows": 2},
    )
    decision_text = TextAreaField(
        _l("Decision as recorded (Markdown)"),
        validators=[Length(max=TEXT_MAX, message=_l("The decision is too long."))],
        render_kw={"rows": 5},
    )
    dissents = TextAreaField(
        _l("Dissenting opinions as recorded (Markdown, optional)"),
        validators=[Length(max=TEXT_MAX, message=_l("The dissenting opinions are too long."))],
        render_kw={"rows": 3},
    )
    congress_requested = BooleanField(_l("Ask the workers' congress to review this item"))
    save = SubmitField(_l("Save draft"))
    save_and_submit = SubmitField(_l("Save and submit for review"))


class ReviewForm(FlaskForm):
    comment = TextAreaField(_l("Comment"), validators=[Length(max=2000)], render_kw={"rows": 3})
    approve = SubmitField(_l("Approve"))
    send_back = SubmitField(_l("Return for changes"))


class ReasonForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(message=_l("Give the reason.")),
            Length(max=2000, message=_l("The reason is too long.")),
        ],
        render_kw={"rows": 3},
    )


class AnswerForm(FlaskForm):
    answer = TextAreaField(_l("Answer"), validators=[Length(max=10_000)], render_kw={"rows": 4})
    publish = SubmitField(_l("Publish"))
    reject = SubmitField(_l("Do not publish"))
