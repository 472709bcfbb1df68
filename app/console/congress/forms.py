"""The secretary's form: where the congress's review stands and its opinion."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length

from app.form_choices import choice
from app.services.disclosures.congress import OPINION_MAX
from app.web.disclosures import CONGRESS_STATUS_NAMES


class ReviewRecordForm(FlaskForm):
    status = RadioField(
        _l("Status of the review"),
        choices=[choice(status.value, label) for status, label in CONGRESS_STATUS_NAMES.items()],
        validators=[InputRequired(message=_l("Choose the status of the review."))],
        validate_choice=False,  # checked in the view, with the same message
    )
    opinion = TextAreaField(
        _l("Opinion of the workers' congress (Markdown)"),
        validators=[
            Length(max=OPINION_MAX, message=_l("The opinion is too long.")),
        ],
        render_kw={"rows": 8},
    )
    save = SubmitField(_l("Record"))
