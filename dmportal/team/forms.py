import re
from datetime import UTC, datetime

from django import forms
from django.utils import timezone

from dmportal.accounts.forms import ApiKeyField
from dmportal.core.forms import Form
from dmportal.core.listing import ChoicesFilter, ListForm, parse_datetime
from dmportal.core.templatetags.dm import state_word
from dmportal.dmapi.filters import format_datetime
from dmportal.dmapi.ids import ID
from dmportal.dmapi.resources import (
    ACCESS_KEY_STATUSES,
    APPLICATION_STATUSES,
    USER_STATUSES,
)

# -- filters for lists the API filters only with `__eq` --------------------------------------------


class EqFilter(forms.CharField):
    """One value of a field the API filters only by equality → `<field>__eq`.

    Nothing here can produce `__in`: the spec's x-filter offers only `eq` for these fields.
    """

    kind = "eq"

    def __init__(
        self, api_field, *, pattern=None, message=None, allows_key=None, key_message=None, **kw
    ):
        self.api_field = api_field
        self.pattern = pattern
        self.message = message or "is not a valid value"
        self.allows_key = allows_key  # core/forms.py: key-shaped values this field may take
        self.key_message = key_message
        kw.setdefault("required", False)
        kw.setdefault("max_length", 512)
        # The API matches the whole value, case-sensitively: the input says so.
        kw.setdefault(
            "widget", forms.TextInput(attrs={"placeholder": "the whole value, exact case"})
        )
        super().__init__(**kw)

    @property
    def params(self):
        return (f"{self.api_field}__eq",)

    def clean(self, value):
        text = (super().clean(value) or "").strip()
        if text and self.pattern is not None and not self.pattern.fullmatch(text):
            raise forms.ValidationError(self.message)
        return text or None

    def to_api(self, value):
        return {self.params[0]: value} if value else {}

    def bind(self, query):
        return query.get(self.params[0])


class EqChoiceFilter(forms.ChoiceField):
    """One of an enum's values, or any → `<field>__eq`."""

    kind = "eq"

    def __init__(self, api_field, *, choices, **kw):
        self.api_field = api_field
        kw.setdefault("required", False)
        super().__init__(choices=[("", "Any"), *((c, state_word(c)) for c in choices)], **kw)
        self.error_messages["invalid_choice"] = "“%(value)s” is not one of the known values."

    @property
    def params(self):
        return (f"{self.api_field}__eq",)

    def clean(self, value):
        return super().clean(value) or None

    def to_api(self, value):
        return {self.params[0]: value} if value else {}

    def bind(self, query):
        return query.get(self.params[0])


# The public part of a key ends with the key's id; a whole key ends with its 32-character secret.
KEY_PUBLIC_PART = re.compile(r"^ak_[A-Za-z0-9]{1,400}[0-9a-f]{32}$")
WHOLE_KEY_IN_FILTER = (
    "That looks like a whole key, secret included, and was not searched for. Enter the key as "
    "the table shows it (it ends with the key's id); a secret never belongs in a link."
)

USER_ID_MESSAGE = "is not a user id (32 hexadecimal characters)"


class UserFilterForm(ListForm):
    status__in = ChoicesFilter("status", choices=USER_STATUSES, label="Status")
    email__eq = EqFilter("email", label="Email", max_length=254)
    primary = ("status__in", "email__eq")


class ApiKeyFilterForm(ListForm):
    owner__eq = EqFilter(
        "owner", label="Owner (user id)", pattern=ID, message=f"The owner {USER_ID_MESSAGE}."
    )
    # A key's public part (as the table shows it) is looked up by its id and never sent
    # (team/services/api_keys.py); anything else shaped like a key is refused, never shown
    # back (core/forms.py).
    key__eq = EqFilter(
        "key",
        label="Key",
        pattern=KEY_PUBLIC_PART,
        message=WHOLE_KEY_IN_FILTER,
        allows_key=KEY_PUBLIC_PART.fullmatch,
        key_message=WHOLE_KEY_IN_FILTER,
    )
    primary = ("owner__eq", "key__eq")

    @property
    def exportable(self):
        """A list found by a key is not exported (the file would hold its public part)."""
        return not (self.is_bound and self.is_valid() and self.cleaned_data.get("key__eq"))


class ApplicationFilterForm(ListForm):
    status__eq = EqChoiceFilter("status", choices=APPLICATION_STATUSES, label="Status")
    primary = ("status__eq",)


class AccessKeyFilterForm(ListForm):
    status__eq = EqChoiceFilter("status", choices=ACCESS_KEY_STATUSES, label="Status")
    primary = ("status__eq",)


class GroupFilterForm(ListForm):
    name__eq = EqFilter("name", label="Name", max_length=100)
    primary = ("name__eq",)


class MemberListForm(ListForm):
    """A panel of a group's members: pages only."""

    default_limit = 20


# -- write forms ------------------------------------------------------------------------------


class GroupsField(forms.MultipleChoiceField):
    """Policy groups as checkboxes; choices are set from the one group call of the page."""

    def __init__(self, **kw):
        kw.setdefault("required", False)
        kw.setdefault("widget", forms.CheckboxSelectMultiple(attrs={"class": "checklist"}))
        super().__init__(**kw)
        self.error_messages["invalid_choice"] = (
            "A chosen policy group no longer exists (it is not offered any more): check the list."
        )


class InviteForm(Form):
    # A plain text field: the API's own email rule decides (its 400 lands on this field).
    email = forms.CharField(
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
        help_text="The invitation email goes to this address.",
    )
    groups = GroupsField(label="Policy groups", help_text="Optional: the groups the user joins.")
    valid_for_days = forms.IntegerField(
        min_value=1,
        max_value=100,
        initial=30,
        label="Valid for (days)",
        help_text="1 to 100 days; 30 if left as is.",
    )

    def __init__(self, *args, groups=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["groups"].choices = list(groups)

    def clean_email(self):
        return self.cleaned_data["email"].strip()


class UserEditForm(Form):
    full_name = forms.CharField(max_length=100, required=False, label="Full name")
    phone_number = forms.CharField(max_length=100, required=False, label="Phone number")

    def changes(self):
        # An empty field clears the value (the API takes null for "no name").
        return {k: (v.strip() or None) for k, v in self.cleaned_data.items()}


class UserStatusForm(Form):
    status = forms.ChoiceField(
        choices=[(s, state_word(s)) for s in ("ACTIVE", "RESET", "INACTIVE")]
    )


class GroupNameForm(Form):
    name = forms.CharField(max_length=100, label="Group name")

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the group a name.")
        return name


class MembersForm(Form):
    members = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checklist"}),
        error_messages={
            "required": "Choose at least one.",
            "invalid_choice": "One of the chosen is no longer available to add (it was deleted "
            "or added meanwhile): check the list.",
        },
    )

    def __init__(self, *args, candidates=(), label="Members", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["members"].choices = list(candidates)
        self.fields["members"].label = label


class SelfKeyConfirmForm(Form):
    """Deactivating or deleting the key this very connection uses needs an explicit tick."""

    understood = forms.BooleanField(
        required=True,
        error_messages={"required": "Tick this box to confirm: the connection will stop working."},
    )

    def __init__(self, *args, connection_label="", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["understood"].label = (
            f"I understand that dmportal's connection “{connection_label}” uses this key and "
            "will stop working."
        )


class ApiKeyCreateForm(Form):
    name = forms.CharField(max_length=100, label="Name")
    owner = forms.ChoiceField(
        required=False,
        label="Owner",
        help_text="The user the key acts for; by default the creator of the key.",
    )
    groups = GroupsField(
        label="Policy groups",
        help_text="Leave empty for the service's default (the Developers group).",
    )

    def __init__(self, *args, users=None, groups=(), **kwargs):
        super().__init__(*args, **kwargs)
        if users is None:
            del self.fields["owner"]  # users cannot be read with this key
        else:
            self.fields["owner"].choices = [("", "— the creator —"), *users]
        self.fields["groups"].choices = list(groups)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the key a name.")
        return name


class RenameForm(Form):
    name = forms.CharField(max_length=100, label="Name")

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Enter a name.")
        return name


class ApplicationForm(Form):
    name = forms.CharField(max_length=100, label="Name")
    description = forms.CharField(
        max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the application a name.")
        return name


class ApplicationCreateForm(ApplicationForm):
    groups = GroupsField(
        label="Policy groups",
        help_text="The application's rights come from its groups (default: Developers).",
    )

    def __init__(self, *args, groups=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["groups"].choices = list(groups)


class ExpiryField(forms.CharField):
    """An optional expiry: a date (the end of that day, UTC) or an RFC 3339 time, in the future."""

    def __init__(self, **kw):
        kw.setdefault("required", False)
        kw.setdefault("max_length", 40)
        kw.setdefault("widget", forms.TextInput(attrs={"placeholder": "2026-12-31"}))
        super().__init__(**kw)

    def clean(self, value):
        text = (super().clean(value) or "").strip()
        if not text:
            return None
        moment = parse_datetime(text, end_of_day=True)
        if moment is None:
            raise forms.ValidationError("Enter a date like 2026-12-31 or 2026-12-31T12:00:00Z.")
        if moment <= timezone.now().astimezone(UTC):
            raise forms.ValidationError("The expiry must be in the future.")
        return moment


class AccessKeyCreateForm(Form):
    name = forms.CharField(max_length=100, label="Name")
    description = forms.CharField(max_length=500, required=False)
    expiration = ExpiryField(
        label="Expires",
        help_text="Optional. After this time the key stops working and shows as EXPIRED.",
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the key a name.")
        return name

    def api_fields(self):
        data = self.cleaned_data
        expiration = data.get("expiration")
        return {
            "name": data["name"],
            "description": data.get("description") or None,
            "expiration": format_datetime(expiration) if isinstance(expiration, datetime) else None,
        }


class RotateForm(AccessKeyCreateForm):
    old_key = forms.ChoiceField(label="The key to replace")

    field_order = ["old_key", "name", "description", "expiration"]

    def __init__(self, *args, old_keys=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["old_key"].choices = list(old_keys)
        self.fields["name"].label = "Name of the new key"


class KeyVerifyForm(Form):
    key = ApiKeyField(
        label="The new key",
        help_text="Paste the key you copied. dmportal makes one call with it and forgets it.",
    )
