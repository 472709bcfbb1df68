from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(message=_l("Enter your username.")), Length(max=64)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(message=_l("Enter your password.")), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
    code = StringField(
        _l("Authenticator code"),
        validators=[
            DataRequired(message=_l("Enter the 6-digit code from your authenticator app.")),
            # Only presence here: a wrong code, whatever its shape, gets the same answer as a
            # wrong password (the service checks it).
        ],
        # A recovery code (four groups of four) may stand in for it.
        render_kw={"autocomplete": "one-time-code", "maxlength": "24", "spellcheck": "false"},
    )


class EnrolmentCodeForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(message=_l("Enter your username.")), Length(max=64)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    code = StringField(
        _l("Enrolment code"),
        validators=[
            DataRequired(message=_l("Enter the enrolment code your administrator gave you.")),
            Length(max=64, message=_l("That is longer than an enrolment code.")),
        ],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )


def _new_password_field(label) -> PasswordField:
    return PasswordField(
        label,
        validators=[DataRequired(message=_l("Choose a password.")), Length(max=256)],
        render_kw={"autocomplete": "new-password"},
    )


def _repeat_field() -> PasswordField:
    return PasswordField(
        _l("New password again"),
        validators=[
            DataRequired(message=_l("Type the new password a second time.")),
            EqualTo("password", message=_l("The two passwords are not the same.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class EnrolmentForm(FlaskForm):
    password = _new_password_field(_l("New password"))
    repeat = _repeat_field()
    code = StringField(
        _l("Code from your authenticator app"),
        validators=[
            DataRequired(message=_l("Enter the 6-digit code your authenticator app shows now."))
        ],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": "7"},
    )


class PasswordChangeForm(FlaskForm):
    current = PasswordField(
        _l("Current password"),
        validators=[DataRequired(message=_l("Enter your current password.")), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
    password = _new_password_field(_l("New password"))
    repeat = _repeat_field()


class EndSessionForm(FlaskForm):
    session_id = HiddenField(validators=[DataRequired(), Length(min=64, max=64)])


class EmailForm(FlaskForm):
    # Checked by the service (app/services/staff.py normalise_email): one rule for the
    # console and the portal command.
    email = StringField(
        _l("E-mail address for the daily digest"),
        validators=[Length(max=254, message=_l("An e-mail address has at most 254 characters."))],
        render_kw={
            "autocomplete": "email",
            "inputmode": "email",
            "autocapitalize": "none",
            "spellcheck": "false",
        },
    )
