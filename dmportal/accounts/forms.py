import zoneinfo

from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.exceptions import NON_FIELD_ERRORS

from dmportal.core.forms import Form, RefusesKeys
from dmportal.core.listing import RowsForm

from .activity import action_choices
from .models import COLOURS
from .services import normalise_api_key
from .throttle import password_check


class ApiKeyField(forms.CharField):
    """A key is typed, never shown: the widget never renders a value back to the browser."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "widget",
            forms.PasswordInput(
                render_value=False,
                attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"},
            ),
        )
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)

    def clean(self, value):
        # Our own checks only: they explain what an API key looks like, and they run before
        # anything else could echo the value.
        text = value if isinstance(value, str) else ""
        if not text.strip():
            if self.required:
                raise forms.ValidationError("Enter the API key.")
            return ""
        try:
            return normalise_api_key(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class ConnectionForm(Form):
    label = forms.CharField(
        max_length=100,
        help_text="A name for this account, e.g. “Acme production”.",
    )
    api_host = forms.ChoiceField(label="API host")
    api_key = ApiKeyField(
        label="API key",
        help_text="An API key or access key (ak_…). It is encrypted at rest and never shown again.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        hosts = settings.DMPORTAL_API_HOSTS
        self.fields["api_host"].choices = [(h, h) for h in hosts]
        self.fields["api_host"].initial = hosts[0]

    def clean_label(self):
        label = self.cleaned_data["label"].strip()
        if not label:
            raise forms.ValidationError("Give the connection a name.")
        return label


class ConnectionEditForm(Form):
    label = forms.CharField(max_length=100)
    api_key = ApiKeyField(
        label="New API key",
        required=False,
        help_text="Leave empty to keep the current key.",
    )

    def clean_label(self):
        label = self.cleaned_data["label"].strip()
        if not label:
            raise forms.ValidationError("Give the connection a name.")
        return label


def timezone_choices():
    names = sorted(zoneinfo.available_timezones() - {"localtime", "Factory"})
    return [("UTC", "UTC")] + [(n, n) for n in names if n != "UTC"]


class PreferencesForm(Form):
    timezone = forms.ChoiceField(
        label="Time zone",
        help_text="Times are shown in this zone; hover a time to see it in UTC.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = timezone_choices()


class ColoursForm(Form):
    """The colour (and shape) of each of the user's connections in the header."""

    def __init__(self, connections, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.connections = list(connections)
        for connection in self.connections:
            self.fields[f"colour-{connection.pk}"] = forms.ChoiceField(
                label=connection.label,
                choices=COLOURS,
                required=False,
                initial=connection.colour,
            )

    def rows(self):
        return [(c, self[f"colour-{c.pk}"]) for c in self.connections]


PAUSED = (
    "Too many wrong passwords for this user from your address: password checks are paused "
    "for a while. Try again later."
)


def checked_password(form, password):
    """The signed-in user's password, checked through the throttle (throttle.py); the
    verdict is kept on the form (`form.verdict`) for the view."""
    user = form.user
    form.verdict = password_check(
        form.request, username=user.get_username(), check=lambda: user.check_password(password)
    )
    if form.verdict.paused:
        raise forms.ValidationError(PAUSED, code="throttled")
    return form.verdict.ok


class PasswordConfirmForm(Form):
    """The password again, before a sensitive action (reauth.py)."""

    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}), strip=False
    )
    verdict = None

    def __init__(self, request, *args, **kwargs):
        self.request = request
        self.user = request.user
        super().__init__(*args, **kwargs)

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not checked_password(self, password):
            raise forms.ValidationError("That is not your password.", code="wrong_password")
        return password


class ActivityForm(RowsForm):
    """The signed-in user's own entries, 50 at a time: by action, and from / until a day (in
    the user's time zone)."""

    action = forms.ChoiceField(required=False, label="Action")
    since = forms.DateField(
        required=False,
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter a day like 2025-01-31."},
    )
    until = forms.DateField(
        required=False,
        label="Until (that day included)",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter a day like 2025-01-31."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any action"), *action_choices()]

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end of the range is before its start.")
        return cleaned

    def canonical_pairs(self):
        return [
            (name, value.isoformat() if hasattr(value, "isoformat") else str(value))
            for name, value in self.api_filters().items()
        ]


class SignInForm(RefusesKeys, AuthenticationForm):
    """Django's sign-in form, through the password throttle (throttle.py); a key pasted as the
    user name is refused, never recorded."""

    verdict = None

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            self.verdict = password_check(
                self.request,
                username=username,
                check=lambda: authenticate(self.request, username=username, password=password),
            )
            if self.verdict.paused:
                raise forms.ValidationError(PAUSED, code="throttled")
            self.user_cache = self.verdict.user
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data

    def full_clean(self):
        super().full_clean()
        if self.key_refused:  # the sign-in page shows the form's own errors, not the fields'
            self._errors.setdefault(NON_FIELD_ERRORS, self.error_class()).extend(
                self._errors.pop(name)[0] for name in self.key_refused
            )


class PasswordChangeForm(RefusesKeys, PasswordChangeForm):
    """Django's password change form; the old password goes through the password throttle
    (throttle.py), as at sign-in."""

    verdict = None

    def __init__(self, user, *args, request=None, **kwargs):
        self.request = request
        super().__init__(user, *args, **kwargs)

    def clean_old_password(self):
        old_password = self.cleaned_data["old_password"]
        if not checked_password(self, old_password):
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old_password
