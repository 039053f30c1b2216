import re

from django import forms
from django.http import QueryDict

from dmportal.core.forms import Form
from dmportal.core.listing import (
    BooleanFilter,
    ChoicesFilter,
    DateTimeFilter,
    ListForm,
    ValuesFilter,
)
from dmportal.dmapi.ids import ID
from dmportal.dmapi.resources import (
    DEPLOYED_STATES,
    DEVICE_QUERY_MAX,
    DEVICE_QUERY_NAME_MAX,
    DEVICE_STATES,
    LIFECYCLE_STATUSES,
    MECHANISMS,
)

ID_MESSAGE = "is not a device id (32 hexadecimal characters)"


class DeviceFilterForm(ListForm):
    """The device list's filters; each maps onto the API's own filter of the same name, with
    the operators the spec's `x-filter` gives it on /v3/devices/."""

    endpoint = "/v3/devices/"
    # The device list's own parameters: `all` (all devices, not the default view) and
    # `columns` (the column set of a "load more", so its cells match the table's head).
    own_params = ("all", "columns")

    name__in = ValuesFilter("name", label="Name")
    id__in = ValuesFilter("id", label="Device ID", item_pattern=ID, item_message=ID_MESSAGE)
    endpoint_name__in = ValuesFilter("endpoint_name", label="Endpoint name")
    serial_number__in = ValuesFilter("serial_number", label="Serial number")
    state__in = ChoicesFilter("state", choices=DEVICE_STATES, label="State")
    lifecycle_status__in = ChoicesFilter(
        "lifecycle_status", choices=LIFECYCLE_STATUSES, label="Lifecycle"
    )
    vendor_id__in = ValuesFilter("vendor_id", label="Vendor ID")
    device_class__in = ValuesFilter("device_class", label="Device class")
    endpoint_type__in = ValuesFilter("endpoint_type", label="Endpoint type")
    host_gateway__in = ValuesFilter(
        "host_gateway", label="Host gateway", item_pattern=ID, item_message=ID_MESSAGE
    )
    firmware_checksum__in = ValuesFilter("firmware_checksum", label="Firmware checksum")
    deployed_state__in = ChoicesFilter(
        "deployed_state", choices=DEPLOYED_STATES, label="Deployed state"
    )
    mechanism__in = ChoicesFilter("mechanism", choices=MECHANISMS, label="Mechanism")
    created_at__gte = DateTimeFilter("created_at", "gte", label="Created from")
    created_at__lte = DateTimeFilter("created_at", "lte", label="Created until")
    updated_at__gte = DateTimeFilter("updated_at", "gte", label="Updated from")
    updated_at__lte = DateTimeFilter("updated_at", "lte", label="Updated until")
    connector_expiration_date__gte = DateTimeFilter(
        "connector_expiration_date", "gte", date_only=True, label="Certificate expires from"
    )
    connector_expiration_date__lte = DateTimeFilter(
        "connector_expiration_date", "lte", date_only=True, label="Certificate expires until"
    )
    operator_suspended__eq = BooleanFilter("operator_suspended", label="Suspended by an operator")
    system_suspended__eq = BooleanFilter("system_suspended", label="Blocked by the system")

    # The ones shown without opening "More filters".
    primary = (
        "name__in",
        "id__in",
        "endpoint_name__in",
        "serial_number__in",
        "state__in",
        "lifecycle_status__in",
    )


class DeviceGroupFilterForm(ListForm):
    endpoint = "/v3/device-groups/"
    name__in = ValuesFilter("name", label="Name")
    created_at__gte = DateTimeFilter("created_at", "gte", label="Created from")
    created_at__lte = DateTimeFilter("created_at", "lte", label="Created until")
    primary = ("name__in",)


class DeviceGroupDevicesForm(ListForm):
    """A group's devices (a panel): pages only; a filter of the URL is kept if the endpoint
    takes it."""

    endpoint = "/v3/device-groups/{device-group-id}/devices/"


class DeviceQueryListForm(ListForm):
    """The account's saved views (device queries); `current` is the device list's filter the
    page offers to save or to put into a view."""

    endpoint = "/v3/device-queries/"
    kept = ("current",)
    name__in = ValuesFilter("name", label="Name")
    primary = ("name__in",)


class EventListForm(ListForm):
    """The events panel only pages and orders (newest first); the device is in the URL."""

    endpoint = "/v3/device-events/"
    default_limit = 20
    primary = ()


# -- saved views (the API's device queries) --------------------------------------------------

CONTROL = {chr(n) for n in range(32)} | {"\x7f"}


def query_form(text):
    """The device list's filter form bound from a saved query's text (the API's syntax:
    `state__eq=registered&custom_attributes__site__eq=7`, or the bare `state=registered`)."""
    return DeviceFilterForm(QueryDict(text or ""))


def form_problems(form):
    """The errors of an invalid filter form, each naming its filter."""
    problems = []
    for name, messages in form.errors.items():
        label = form.fields[name].label if name in form.fields else None
        problems += [f"{label}: {m}" if label else str(m) for m in messages]
    return problems


def checked_query(text):
    """The query text to save for a filter written in the list's syntax, or a ValueError that
    says why it cannot be saved, before the API is called."""
    form = query_form(text)
    if not form.is_valid():
        raise ValueError(f"This filter cannot be saved: {form_problems(form)[0]}")
    saved = form.query_text()
    if not saved:
        raise ValueError("There is no filter to save: set at least one filter first.")
    for param, value in form.filter_pairs():
        if CONTROL & set(value):
            raise ValueError(
                f"The value of {param} holds a control character, which a saved view cannot "
                "keep: remove it first."
            )
    if len(saved) > DEVICE_QUERY_MAX:
        raise ValueError(
            f"As a query this filter is {len(saved):,} characters long; a saved view holds at "
            f"most {DEVICE_QUERY_MAX:,}. Use fewer values."
        )
    return saved


def checked_name(name):
    name = (name or "").strip()
    if not name:
        raise ValueError("Give the view a name.")
    if CONTROL & set(name):
        raise ValueError("A name cannot hold control characters.")
    if len(name) > DEVICE_QUERY_NAME_MAX:
        raise ValueError(
            f"A name is at most {DEVICE_QUERY_NAME_MAX} characters (this one has {len(name)})."
        )
    return name


class ViewForm(Form):
    """A saved view's name and filter, checked against the API's limits before any call (the
    API's own 400 names `name` or `query`, which are these fields)."""

    name = forms.CharField(label="Name", required=False, max_length=5000)
    query = forms.CharField(
        label="Filter (the API's query syntax)",
        required=False,
        max_length=50000,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )

    def clean_name(self):
        try:
            return checked_name(self.cleaned_data.get("name"))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_query(self):
        try:
            return checked_query(self.cleaned_data.get("query"))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


CUSTOM_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-:]{0,127}")
MAX_ATTRIBUTES = 5


class DeviceEditForm(Form):
    """Name, description and up to five custom attributes (PUT /v3/devices/{id}/)."""

    name = forms.CharField(max_length=128, required=False)
    description = forms.CharField(max_length=2000, required=False, widget=forms.Textarea)

    def __init__(self, *args, attributes=None, **kwargs):
        super().__init__(*args, **kwargs)
        pairs = list((attributes or {}).items())[:MAX_ATTRIBUTES]
        for i in range(MAX_ATTRIBUTES):
            key, value = pairs[i] if i < len(pairs) else ("", "")
            self.fields[f"attr_key_{i}"] = forms.CharField(
                max_length=128, required=False, label=f"Attribute {i + 1} key", initial=key
            )
            self.fields[f"attr_value_{i}"] = forms.CharField(
                max_length=128, required=False, label=f"Attribute {i + 1} value", initial=value
            )

    def attribute_rows(self):
        return [(self[f"attr_key_{i}"], self[f"attr_value_{i}"]) for i in range(MAX_ATTRIBUTES)]

    def clean(self):
        cleaned = super().clean()
        seen = set()
        for i in range(MAX_ATTRIBUTES):
            key = (cleaned.get(f"attr_key_{i}") or "").strip()
            value = cleaned.get(f"attr_value_{i}") or ""
            if not key:
                if value:
                    self.add_error(f"attr_key_{i}", "Give the attribute a key, or clear its value.")
                continue
            if not CUSTOM_KEY.fullmatch(key):
                self.add_error(
                    f"attr_key_{i}",
                    "Keys start with a letter or underscore (not a digit) and have no spaces.",
                )
            elif key in seen:
                self.add_error(f"attr_key_{i}", "This key is already used above.")
            seen.add(key)
        return cleaned

    def changes(self):
        attributes = {}
        for i in range(MAX_ATTRIBUTES):
            key = (self.cleaned_data.get(f"attr_key_{i}") or "").strip()
            if key:
                attributes[key] = self.cleaned_data.get(f"attr_value_{i}") or ""
        return {
            "name": self.cleaned_data["name"],
            "description": self.cleaned_data["description"],
            "custom_attributes": attributes,
        }

    def field_for_api(self, api_field):
        """Form field for a field name in the API's 400 (custom_attributes → first key)."""
        if api_field in ("name", "description"):
            return api_field
        if api_field.startswith("custom_attributes"):
            return "attr_key_0"
        return None
