from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from ..accounts import MIN_PASSWORD_LENGTH


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail address"),
                       validators=[InputRequired(_l("Enter your e-mail address.")),
                                   Length(max=254)],
                       render_kw={"autocomplete": "username", "spellcheck": "false"})
    password = PasswordField(_l("Password"),
                             validators=[InputRequired(_l("Enter your password.")),
                                         Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})


class CodeForm(FlaskForm):
    """The second step: a code from the authenticator app or a recovery code."""

    code = StringField(_l("Code"),
                       validators=[InputRequired(_l("Enter the code.")), Length(max=64)],
                       render_kw={"autocomplete": "one-time-code", "spellcheck": "false",
                                  "autocapitalize": "none"})


class EnrolForm(FlaskForm):
    code = StringField(_l("Code from the app"),
                       validators=[InputRequired(_l("Enter the code.")), Length(max=16)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric",
                                  "spellcheck": "false"})


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[InputRequired(_l("Enter your current password.")), Length(max=1024)],
        render_kw={"autocomplete": "current-password"})
    new_password = PasswordField(
        _l("New password"),
        validators=[InputRequired(_l("Enter a new password.")),
                    Length(min=MIN_PASSWORD_LENGTH, max=1024,
                           message=_l("The password must be at least 12 characters long."))],
        render_kw={"autocomplete": "new-password"})
    new_password_again = PasswordField(
        _l("New password again"),
        validators=[InputRequired(_l("Enter the new password again.")),
                    EqualTo("new_password", _l("The two new passwords are not the same."))],
        render_kw={"autocomplete": "new-password"})
