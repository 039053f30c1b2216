import re

from django import forms

from dmportal.core.forms import Form
from dmportal.core.listing import (
    BooleanFilter,
    ChoicesFilter,
    DateTimeFilter,
    ListForm,
    ValuesFilter,
)
from dmportal.dmapi.ids import ID
from dmportal.dmapi.resources import DEPLOYED_STATES, DEVICE_STATES, LIFECYCLE_STATUSES, MECHANISMS

ID_MESSAGE = "is not a device id (32 hexadecimal characters)"


class DeviceFilterForm(ListForm):
    """The device list's filters; each maps onto the API's own filter of the same name."""

    name__in = ValuesFilter("name", label="Name")
    id__in = ValuesFilter("id", label="Device ID", item_pattern=ID, item_message=ID_MESSAGE)
    endpoint_name__in = ValuesFilter("endpoint_name", label="Endpoint name")
    serial_number__in = ValuesFilter("serial_number", label="Serial number")
    vendor_id__in = ValuesFilter("vendor_id", label="Vendor ID")
    device_class__in = ValuesFilter("device_class", label="Device class")
    host_gateway__in = ValuesFilter(
        "host_gateway", label="Host gateway", item_pattern=ID, item_message=ID_MESSAGE
    )
    state__in = ChoicesFilter("state", choices=DEVICE_STATES, label="State")
    lifecycle_status__in = ChoicesFilter(
        "lifecycle_status", choices=LIFECYCLE_STATUSES, label="Lifecycle status"
    )
    deployed_state__in = ChoicesFilter(
        "deployed_state", choices=DEPLOYED_STATES, label="Deployed state"
    )
    mechanism__in = ChoicesFilter("mechanism", choices=MECHANISMS, label="Mechanism")
    created_at__gte = DateTimeFilter("created_at", "gte", label="Created from")
    created_at__lte = DateTimeFilter("created_at", "lte", label="Created until")
    updated_at__gte = DateTimeFilter("updated_at", "gte", label="Updated from")
    updated_at__lte = DateTimeFilter("updated_at", "lte", label="Updated until")
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
    name__in = ValuesFilter("name", label="Name")
    created_at__gte = DateTimeFilter("created_at", "gte", label="Created from")
    created_at__lte = DateTimeFilter("created_at", "lte", label="Created until")
    primary = ("name__in",)


class EventListForm(ListForm):
    """The events panel only pages and orders (newest first); the device is in the URL."""

    default_limit = 20
    primary = ()


class DeviceGroupDevicesForm(ListForm):
    """A group's devices only page and order (the group is in the URL)."""


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
