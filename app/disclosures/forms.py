"""Forms of the disclosures area (public site and console)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    Field,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from app.form_choices import choice
from app.models import Period, Scope
from app.services.disclosures.drafting import TITLE_MAX, is_one_line
from app.services.disclosures.questions import QUESTION_MAX, QUESTION_MIN
from app.services.periods import FIRST_YEAR, LAST_YEAR, PERIOD_KEY_RE


class OneLine:
    """A text field sent with a line break (only a crafted request can) is refused."""

    def __call__(self, _form: FlaskForm, field: Field) -> None:
        if field.data and not is_one_line(field.data):
            raise ValidationError(_l("The title must be one line."))


class WithinYears:
    """A date or time between FIRST_YEAR and LAST_YEAR (0001-01-01 is a valid HTML date)."""

    def __call__(self, _form: FlaskForm, field: Field) -> None:
        if field.data is not None and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
            raise ValidationError(
                _l("Enter a date between %(first)s and %(last)s.", first=FIRST_YEAR, last=LAST_YEAR)
            )


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


class FilterForm(FlaskForm):
    """The index filters: a GET form, so no CSRF token."""

    class Meta:
        csrf = False

    category = SelectField(_l("Category"), validators=[Optional()], validate_choice=False)
    unit = SelectField(_l("Unit"), validators=[Optional()], validate_choice=False)
    period = SelectField(_l("Period"), validators=[Optional()], validate_choice=False)
    year = SelectField(_l("Year"), validators=[Optional()], validate_choice=False)


class QuestionForm(FlaskForm):
    body = TextAreaField(
        _l("Your question"),
        validators=[
            DataRequired(message=_l("Write your question.")),
            Length(
                min=QUESTION_MIN,
                max=QUESTION_MAX,
                message=_l(
                    "Write between %(min)s and %(max)s characters.",
                    min=QUESTION_MIN,
                    max=QUESTION_MAX,
                ),
            ),
        ],
        render_kw={"rows": 4, "maxlength": QUESTION_MAX},
    )


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


class ActionForm(FlaskForm):
    """A button that posts: only the CSRF token is checked."""


class AnswerForm(FlaskForm):
    answer = TextAreaField(_l("Answer"), validators=[Length(max=10_000)], render_kw={"rows": 4})
    publish = SubmitField(_l("Publish"))
    reject = SubmitField(_l("Do not publish"))


class CategoryForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[
            DataRequired(message=_l("Enter a code.")),
            Regexp(r"^[a-z0-9-]{2,40}$", message=_l("Use 2 to 40 lower-case letters, digits, -.")),
        ],
    )
    domain = SelectField(
        _l("Domain"),
        choices=[choice("factory", _l("Factory affairs")), choice("party", _l("Party affairs"))],
    )
    name_zh = StringField(_l("Chinese name"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("English name"), validators=[DataRequired(), Length(max=200)])
    active = BooleanField(_l("In use"), default=True)


class CatalogueForm(FlaskForm):
    category = SelectField(_l("Category"), validators=[InputRequired()])
    unit = SelectField(_l("Unit"), validators=[InputRequired()])
    period = SelectField(
        _l("Period"), choices=[choice(p.value, label) for p, label in PERIOD_NAMES.items()]
    )
    due_days = IntegerField(
        _l("Due, days after the period ends"),
        default=30,
        validators=[InputRequired(), NumberRange(min=0, max=366)],
    )
    scope = SelectField(
        _l("Audience"), choices=[choice(scope.value, label) for scope, label in SCOPE_NAMES.items()]
    )
    starts_on = DateField(_l("Owed from"), validators=[InputRequired(), WithinYears()])
