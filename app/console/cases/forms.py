"""Forms of the case pages. The inbox's filters are a GET form (no CSRF: it changes nothing);
every action is a POST with CSRF."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.form_choices import choice
from app.models.cases import MAX_LABEL_CHARS
from app.services.cases.notes import MAX_NOTE_CHARS
from app.services.cases.reading import MAX_REASON_CHARS
from app.services.reports.messages import MAX_MESSAGE_CHARS
from app.web.forms import WithinYears


class FilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = SelectField(_l("Status"), choices=[], validate_choice=True, default="")
    kind = SelectField(_l("Kind"), choices=[], default="")
    category = SelectField(_l("Category"), choices=[], default="")
    unit = SelectField(_l("Unit concerned"), choices=[], default="")
    assignee = SelectField(_l("Assigned to"), choices=[], default="")
    label = SelectField(_l("Label"), choices=[], default="")
    received_from = DateField(_l("Received from"), validators=[Optional(), WithinYears()])
    received_to = DateField(_l("Received until"), validators=[Optional(), WithinYears()])
    overdue = BooleanField(_l("Only overdue steps"))
    changed = BooleanField(_l("Only new or changed since I last looked"))
    sort = SelectField(
        _l("Sort by"),
        choices=[choice("due", _l("next deadline")), choice("received", _l("newest received"))],
        default="due",
    )
    page = IntegerField(_l("Page"), validators=[Optional()], default=1)


class StatusForm(FlaskForm):
    status = SelectField(_l("New status"), choices=[], validators=[InputRequired()])


class AssignForm(FlaskForm):
    assignee = SelectField(_l("Assign to"), choices=[])


class LabelForm(FlaskForm):
    label = StringField(
        _l("Label"),
        validators=[
            InputRequired(_l("Type a label.")),
            Length(max=MAX_LABEL_CHARS, message=_l("A label has at most %(max)d characters.")),
        ],
    )


class RemoveLabelForm(FlaskForm):
    label = HiddenField()


class NoteForm(FlaskForm):
    text = TextAreaField(
        _l("Internal note"),
        validators=[
            InputRequired(_l("Write the note.")),
            Length(max=MAX_NOTE_CHARS, message=_l("A note has at most %(max)d characters.")),
        ],
    )


class ReplyForm(FlaskForm):
    text = TextAreaField(
        _l("Message to the reporter"),
        validators=[
            Length(max=MAX_MESSAGE_CHARS, message=_l("A message has at most %(max)d characters."))
        ],
    )
    files = MultipleFileField(_l("Files"))


class ProposeForm(FlaskForm):
    disposal = SelectField(_l("Disposal"), choices=[], validators=[InputRequired()])


class DecisionForm(FlaskForm):
    """Confirm, record or withdraw: names the decision the member read on the page."""

    decision = HiddenField()


class RealNameForm(FlaskForm):
    reason = TextAreaField(
        _l("Why you need the reporter's real name"),
        validators=[
            InputRequired(_l("Give the reason: it is recorded in the audit trail.")),
            Length(max=MAX_REASON_CHARS, message=_l("At most %(max)d characters.")),
        ],
    )


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


NO_AUTOCOMPLETE = {"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"}


class GrantForm(FlaskForm):
    grantee = SelectField(
        _l("Colleague"), choices=[], validators=[InputRequired(_l("Choose a colleague."))]
    )


class ExportForm(FlaskForm):
    readers = CheckboxesField(_l("Readers of the case"), choices=[], coerce=str)
    typed = TextAreaField(
        _l("Or age public keys (age1..., one a line)"),
        validators=[Length(max=2000, message=_l("At most %(max)d characters."))],
        render_kw=NO_AUTOCOMPLETE,
    )


# At most this many shares on the ceremony page (a set of shares needs at most 16).
MAX_CEREMONY_SHARES = 16


class ShareEntry(FlaskForm):
    """One officer's share, typed by that officer: never shown back (a password field)."""

    class Meta:
        csrf = False

    holder = SelectField(_l("Officer"), choices=[])
    words = PasswordField(_l("Share words"), render_kw=NO_AUTOCOMPLETE)
    # The officer's own authenticator code: each participant confirms being there.
    code = StringField(
        _l("The officer's authenticator code"),
        render_kw={"autocomplete": "off", "inputmode": "numeric", "maxlength": "7"},
    )


class RecoveryForm(FlaskForm):
    cases = CheckboxesField(_l("Cases to re-open"), choices=[], coerce=str)
    grantee = SelectField(
        _l("Inspector who gets them"),
        choices=[],
        validators=[InputRequired(_l("Choose the inspector who gets the cases."))],
    )
