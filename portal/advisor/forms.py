"""Appointment forms. Fields are plain strings parsed here, so every error message is ours,
translated and specific (GOV.UK style), and bad input never raises."""

from __future__ import annotations

import re
from datetime import date, datetime, time

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, SelectField, StringField, SubmitField
from wtforms.validators import ValidationError

from .. import validation as v
from ..models import ParticipantRole
from ..providers import ProviderError, available_providers
from ..scheduling import ParticipantSpec
from ..timeutil import NonexistentLocalTime, from_local

MAX_EXTRA_PARTICIPANTS = 8


def role_choices():
    return [
        (ParticipantRole.INTERPRETER.value, _l("Interpreter")),
        (ParticipantRole.LEGAL_REPRESENTATIVE.value, _l("Legal representative")),
        (ParticipantRole.OTHER.value, _l("Other participant")),
    ]


def language_choices():
    return [("de", _l("German")), ("en", _l("English"))]


def provider_choices():
    """The providers an advisor may choose here, the default first."""
    return [(p.name, p.label) for p in available_providers()]


class ProviderMixin:
    """The video meeting's provider, among those configured (the default preselected)."""

    provider = SelectField(_l("Video meeting"), choices=provider_choices,
                           validate_choice=False)

    def preselect_provider(self, name: str | None) -> None:
        self.provider.data = name or current_app.config["PROVIDER"]

    def validate_provider_choice(self) -> bool:
        name = self.provider.data or current_app.config["PROVIDER"]
        if name not in current_app.config["PROVIDERS"]:
            self.provider.errors.append(_("Choose one of the video services offered."))
            return False
        if name == "link" and not current_user.personal_room_url:
            self.provider.errors.append(ProviderError("no_personal_room", "link").message)
            return False
        return True

    def chosen_provider(self) -> str | None:
        """None for the default: the appointment follows PORTAL_PROVIDER."""
        name = self.provider.data or current_app.config["PROVIDER"]
        return None if name == current_app.config["PROVIDER"] else name


class WhenMixin:
    """Date, time and duration in the portal's time zone."""

    day = StringField(_l("Date"), render_kw={"type": "date"})
    clock = StringField(_l("Time"), render_kw={"type": "time"})
    duration = StringField(_l("Duration in minutes"), default="30",
                           render_kw={"inputmode": "numeric", "size": 4})

    starts_at: datetime | None = None
    duration_minutes: int | None = None

    def validate_when(self) -> bool:
        ok = True
        day = clock = None
        try:
            day = date.fromisoformat((self.day.data or "").strip())
        except ValueError:
            self.day.errors.append(_("Enter the date as a real date, like 2026-12-01."))
            ok = False
        try:
            clock = time.fromisoformat((self.clock.data or "").strip())
            if clock.tzinfo is not None or clock.second or clock.microsecond:
                raise ValueError
        except ValueError:
            self.clock.errors.append(_("Enter the time in hours and minutes, like 09:30."))
            ok = False
        if day and not v.MIN_YEAR <= day.year <= v.MAX_YEAR:
            self.day.errors.append(_("Enter a date between %(lo)d and %(hi)d.", lo=v.MIN_YEAR,
                                     hi=v.MAX_YEAR))
            ok, day = False, None
        if day and clock:
            try:
                self.starts_at = from_local(day, clock)
            except NonexistentLocalTime:
                self.clock.errors.append(_("This time does not exist on that day because the "
                                           "clocks go forward. Choose another time."))
                ok = False
            else:
                if msg := v.check_start(self.starts_at):
                    self.day.errors.append(msg)
                    ok = False
        raw = (self.duration.data or "").strip()
        self.duration_minutes = int(raw) if re.fullmatch(r"[0-9]{1,4}", raw) else None
        if raw and self.duration_minutes is None:
            self.duration.errors.append(_("Enter the duration as a whole number of minutes."))
            ok = False
        elif msg := v.check_duration(self.duration_minutes):
            self.duration.errors.append(msg)
            ok = False
        return ok


def _check(field, check) -> bool:
    if msg := check(field.data):
        field.errors.append(msg)
        return False
    return True


class ExtraParticipantForm(Form):
    role = SelectField(_l("Role"), choices=role_choices, validate_choice=False)
    name = StringField(_l("Name"))
    email = StringField(_l("E-mail address"), render_kw={"type": "email", "spellcheck": "false",
                                                         "autocomplete": "off"})

    @property
    def is_blank(self) -> bool:
        return not (self.name.data or "").strip() and not (self.email.data or "").strip()

    # Inline validators, so WTForms collects the errors of each row; an empty row is ignored.
    def validate_role(self, field):
        if not self.is_blank and v.parse_role(field.data or "") not in v.EXTRA_ROLES:
            raise ValidationError(_("Choose the participant's role."))

    def validate_name(self, field):
        if not self.is_blank and (msg := v.check_name(field.data)):
            raise ValidationError(msg)

    def validate_email(self, field):
        if not self.is_blank and (msg := v.check_email(field.data)):
            raise ValidationError(msg)


class AppointmentForm(WhenMixin, ProviderMixin, FlaskForm):
    citizen_name = StringField(_l("Citizen's full name"), render_kw={"autocomplete": "off"})
    citizen_email = StringField(_l("Citizen's e-mail address"),
                                render_kw={"type": "email", "spellcheck": "false",
                                           "autocomplete": "off"})
    customer_number = StringField(_l("Customer number (optional)"))
    language = SelectField(_l("Language of the invitation and the pages"),
                           choices=language_choices, validate_choice=False, default="de")
    topic = StringField(_l("Topic or reference (optional)"))
    extras = FieldList(FormField(ExtraParticipantForm), min_entries=1,
                       max_entries=MAX_EXTRA_PARTICIPANTS)
    add_participant = SubmitField(_l("Add another participant"))
    submit = SubmitField(_l("Create appointment and send invitations"))

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)  # CSRF
        ok &= self.validate_when()
        ok &= _check(self.citizen_name, v.check_name)
        ok &= _check(self.citizen_email, v.check_email)
        ok &= _check(self.customer_number, v.check_customer_number)
        ok &= _check(self.language, v.check_language)
        if len(self.topic.data or "") > 200:
            self.topic.errors.append(_("The topic must be 200 characters or fewer."))
            ok = False
        ok &= self.validate_provider_choice()
        return bool(ok)

    def citizen_spec(self) -> ParticipantSpec:
        return ParticipantSpec(ParticipantRole.CITIZEN, self.citizen_name.data.strip(),
                               v.normalise_email(self.citizen_email.data),
                               (self.customer_number.data or "").strip() or None)

    def extra_specs(self) -> list[ParticipantSpec]:
        return [
            ParticipantSpec(v.parse_role(e.form.role.data), e.form.name.data.strip(),
                            v.normalise_email(e.form.email.data))
            for e in self.extras if not e.form.is_blank
        ]


class RescheduleForm(WhenMixin, FlaskForm):
    submit = SubmitField(_l("Move appointment and inform everyone"))

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        return bool(ok & self.validate_when())


class ProviderForm(ProviderMixin, FlaskForm):
    """The provider of one appointment, while its meeting is not prepared."""

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)  # CSRF
        return bool(ok & self.validate_provider_choice())


class ConfirmForm(FlaskForm):
    """A form with only the CSRF token, for confirmed actions like cancelling."""
