"""The report form and the receipt entry: what a reporter types, checked before any service.

A text field takes the characters its service takes (``TEXT_LIMITS``, ``MAX_MESSAGE_CHARS``):
the validator and the page's ``maxlength`` are made from them.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import (
    BooleanField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.form_choices import choice
from app.services.reports.messages import MAX_MESSAGE_CHARS
from app.services.reports.submission import TEXT_LIMITS
from app.web.reports import offered_categories

KINDS = [
    choice("misconduct", _l("Report of misconduct")),
    choice("criticism", _l("Criticism and suggestion")),
]
LEVELS = [
    choice("staff", _l("Staff member")),
    choice("middle_manager", _l("Middle manager")),
    choice("unit_leader", _l("Leader of the unit")),
    choice("discipline_member", _l("Member of the unit's discipline office")),
]
NO_AUTOCOMPLETE = {"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"}


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _one_line_break(value: str | None) -> str | None:
    """A line break as one character, as the browser's maxlength and the service count it
    (browsers send CRLF): a text at the page's limit is not refused as too long."""
    if value is None:
        return None
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _report_text(field_class, label, name: str, required=None, **render_kw):
    """A text of the report: as long as the service takes ``name``, and never autofilled.

    ``required``: the message when it is left empty; without it, the text is optional.
    """
    # Not "if required": a lazy string's truth is its translation, which needs a request.
    presence = DataRequired(required) if required is not None else Optional()
    return field_class(
        label,
        filters=[_one_line_break] if field_class is TextAreaField else [],
        validators=[presence, Length(max=TEXT_LIMITS[name])],
        render_kw={**render_kw, **NO_AUTOCOMPLETE},
    )


class ReportForm(FlaskForm):
    kind = RadioField(_l("What do you send?"), choices=KINDS, validators=[DataRequired()])
    # The categories on offer are rows the administrator keeps (app/web/reports.py): set
    # when the form is made, and checked against them below, never against a fixed list.
    category = SelectField(
        _l("Category"),
        choices=[],
        validate_choice=False,
        validators=[DataRequired(_l("Choose a category."))],
    )
    # The unit tree is written by the template; the service checks the code.
    unit = StringField(_l("Unit concerned"), validators=[DataRequired(_l("Choose the unit."))])
    level = RadioField(
        _l("Level of the person concerned"), choices=LEVELS, validators=[DataRequired()]
    )
    persons = _report_text(TextAreaField, _l("Person or persons concerned"), "persons", rows=2)
    what = _report_text(
        TextAreaField, _l("What happened"), "what", _l("Describe what happened."), rows=10
    )
    when = _report_text(StringField, _l("When"), "when")
    where = _report_text(StringField, _l("Where"), "where")
    witnesses = _report_text(TextAreaField, _l("Who else knows"), "witnesses", rows=2)
    attachments = MultipleFileField(_l("Files (evidence)"))
    # Ticked on a new form; a form sent back keeps the reporter's choice (views.new).
    reporter_copy = BooleanField(_l("Keep a copy I can read with my receipt code"), default=True)
    real_name = _report_text(StringField, _l("Your name"), "real_name")
    contact = _report_text(StringField, _l("How to reach you"), "contact")
    excluded = CheckboxesField(
        _l("People to keep out of this report"), choices=[], validate_choice=False
    )
    # Hidden from people; bots fill every field they find.
    leave_empty = StringField(
        _l("Leave this field empty"), render_kw={"tabindex": "-1", "autocomplete": "off"}
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        offered = offered_categories()
        self.offered_codes = {code for code, _name in offered}
        self.category.choices = [
            choice("", _l("Choose a category")),
            *(choice(code, name) for code, name in offered),
        ]

    def validate_category(self, field: SelectField) -> None:
        # A retired category, or a code no option has (a forged form): refused, and the form
        # comes back with everything else that was typed.
        if field.data and field.data not in self.offered_codes:
            raise ValidationError(_l("Choose a category from the list."))


class ReceiptForm(FlaskForm):
    code = StringField(
        _l("Receipt code"),
        validators=[DataRequired(_l("Enter your receipt code."))],
        render_kw={"inputmode": "numeric", **NO_AUTOCOMPLETE},
    )


class ReplyForm(FlaskForm):
    text = TextAreaField(
        _l("Your reply"),
        filters=[_one_line_break],
        validators=[DataRequired(_l("Write a reply.")), Length(max=MAX_MESSAGE_CHARS)],
        render_kw={"rows": 6, **NO_AUTOCOMPLETE},
    )
    attachments = MultipleFileField(_l("Files"))
