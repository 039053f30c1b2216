"""The device lists that can be exported (exports.sources): devices, device groups, a group's
devices, a device's events. Registered by DevicesConfig.ready()."""

from django.urls import reverse

from dmportal.dmapi import resources
from dmportal.exports.sources import Column, ExportSource, register

from .columns import column, device_columns_for
from .forms import DeviceFilterForm, DeviceGroupDevicesForm, DeviceGroupFilterForm, EventListForm

# Every field of a device the API returns, as a column; the list's own ten columns first.
DEVICE_COLUMNS = (
    Column("name", "Name"),
    Column("id", "Device ID"),
    Column("state", "State"),
    Column("lifecycle_status", "Lifecycle"),
    Column("endpoint_name", "Endpoint name"),
    Column("serial_number", "Serial number"),
    Column("device_class", "Device class"),
    Column("deployed_state", "Deployed state"),
    Column("created_at", "Created"),
    Column("updated_at", "Updated"),
    Column("description", "Description"),
    Column("vendor_id", "Vendor ID"),
    Column("endpoint_type", "Endpoint type"),
    Column("host_gateway", "Host gateway"),
    Column("mechanism", "Mechanism"),
    Column("operator_suspended", "Suspended by an operator"),
    Column("system_suspended", "Blocked by the system"),
    Column("ca_id", "CA ID"),
    Column("issuer_fingerprint", "Issuer fingerprint"),
    Column("firmware_checksum", "Firmware checksum"),
    Column("manifest_timestamp", "Manifest time"),
    Column("bootstrapped_timestamp", "Bootstrapped"),
    Column("bootstrap_expiration_date", "Bootstrap certificate expires"),
    Column("connector_expiration_date", "Connector certificate expires"),
    Column("enrolment_list_timestamp", "Enrolled"),
    Column("groups", "Group IDs"),
    Column("custom_attributes", "Custom attributes"),
    Column("account_id", "Account ID"),
)
DEVICE_DEFAULT_COLUMNS = tuple(c.key for c in DEVICE_COLUMNS[:10])


def device_columns(request):
    """The columns the device list shows this person for this list (the column chooser's:
    devices/columns.py), as keys; the export page's URL is the list's own query string."""
    return tuple(column.key for column in device_columns_for(request))


def device_column(key):
    """A column the chooser offers that DEVICE_COLUMNS has not (a custom attribute's, the
    last operator suspension), as an export Column, or None."""
    spec = column(key)
    if spec is None:
        return None
    return Column(spec.key, spec.label, lambda record, context: spec.value(record))


def _devices(client, *, parent, **kwargs):
    return resources.device_page(client, **kwargs)


def _group_devices(client, *, parent, **kwargs):
    return resources.device_group_device_page(client, parent, **kwargs)


def _events(client, *, parent, filters, **kwargs):
    return resources.device_event_page(
        client, filters={**filters, "device_id__eq": parent}, **kwargs
    )


SOURCES = (
    ExportSource(
        name="devices",
        noun="device",
        title="Devices",
        form=DeviceFilterForm,
        page=_devices,
        columns=DEVICE_COLUMNS,
        default_columns=DEVICE_DEFAULT_COLUMNS,
        columns_for=device_columns,
        resolve=device_column,
        list_url=lambda parent: reverse("device_list"),
    ),
    ExportSource(
        name="device-groups",
        noun="device group",
        title="Device groups",
        form=DeviceGroupFilterForm,
        page=lambda client, *, parent, **kwargs: resources.device_group_page(client, **kwargs),
        columns=(
            Column("name", "Name"),
            Column("id", "Group ID"),
            Column("devices_count", "Devices"),
            Column("description", "Description"),
            Column("created_at", "Created"),
            Column("updated_at", "Updated"),
            Column("custom_attributes", "Custom attributes"),
        ),
        default_columns=("name", "id", "devices_count", "description", "created_at"),
        list_url=lambda parent: reverse("device_group_list"),
    ),
    ExportSource(
        name="group-devices",
        noun="device",
        title="Devices of group {parent}",
        parent="group",
        form=DeviceGroupDevicesForm,
        page=_group_devices,
        columns=DEVICE_COLUMNS,
        default_columns=DEVICE_DEFAULT_COLUMNS,
        columns_for=device_columns,
        resolve=device_column,
        list_url=lambda parent: reverse("device_group_detail", args=[parent]),
        file_prefix=lambda parent: f"group-{parent}-devices",
    ),
    ExportSource(
        name="device-events",
        noun="event",
        title="Events of device {parent}",
        parent="device",
        form=EventListForm,
        page=_events,
        columns=(
            Column("date_time", "When"),
            Column("event_type", "Type"),
            Column("event_type_category", "Category"),
            Column("event_type_description", "Outcome"),
            Column("state_change", "State change"),
            Column("description", "Description"),
            Column("id", "Event ID"),
            Column("device_id", "Device ID"),
        ),
        default_columns=(
            "date_time",
            "event_type",
            "event_type_category",
            "event_type_description",
            "state_change",
            "description",
            "id",
        ),
        list_url=lambda parent: reverse("device_events", args=[parent]),
        file_prefix=lambda parent: f"device-{parent}-events",
    ),
)


def register_sources():
    for source in SOURCES:
        register(source)
