"""The device table's columns: which exist, which a person chose, and how each cell is made.

A column is a `Column`: its `key` (`state`, or `attr:site` for a custom attribute), its
`label`, `value(device)` (the plain value, for an export: issue 17 writes "the columns the
user chose" with it) and `cell(device, shared)` (the `<td>` of the HTML table). The rows of a
page are built here in Python, one string per page, rather than in a template, for speed:

A page of the device list holds up to 1,000 rows, and dmportal must add little to the API's
own time: a row written as a template (about 15 variable lookups and filters) cost ~50 µs,
built here it costs ~10 µs, and one call renders all the rows of a page.

What the template would have guaranteed is kept: every upstream value is escaped; ids go into
our URLs only when they are real ids; text is cut to 500 characters, without control or
direction-override characters (`plain`).

`device_columns_for(request)` is the one answer to "which columns": the set a "load more" link
carries (`columns=`, so a later page has the cells of the head it is added under), else the
open saved view's own set, else the person's, else `DEFAULT`.
"""

from dataclasses import dataclass
from html import escape
from typing import Any

from django.urls import reverse
from django.utils import timezone

from dmportal.core.templatetags.dm import badge, format_when, ident_html, plain
from dmportal.dmapi.ids import is_id
from dmportal.dmapi.lists import ATTRIBUTE_KEY

ATTRIBUTE = "attr:"
MAX_COLUMNS = 40


@dataclass(frozen=True)
class Shared:
    """What every cell of one rendering shares (looked up once per page, not per cell)."""

    prefix: str  # the device list's URL: a device's page is prefix + id + "/"
    zone: Any
    now: Any


def shared():
    return Shared(reverse("device_list"), timezone.get_current_timezone(), timezone.now())


def text(value, default=""):
    """An upstream value as cell text: cleaned and bounded (`plain`), then escaped."""
    shown = plain(value)
    return escape(shown) if shown else default


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    value: Any  # device -> the plain value (None when absent)
    cell: Any  # (device, Shared) -> "<td>…</td>"
    css: str = ""  # the head cell's class (the rows' cells carry it too)


def _field(name):
    return lambda device: device.get(name)


def text_column(key, label, css=""):
    opening = f'<td class="{css}">' if css else "<td>"
    return Column(key, label, _field(key), lambda d, s: f"{opening}{text(d.get(key))}</td>", css)


def ident_column(key, label, css=""):
    """An identifier: on one line in monospace, shortened in the middle where space is short
    (core's `ident`). Only the device id's cell is `td.id` (the row's own id)."""
    opening = f'<td class="{css}">' if css else "<td>"
    return Column(
        key, label, _field(key), lambda d, s: f"{opening}{ident_html(plain(d.get(key)))}</td>", css
    )


def badge_column(key, label):
    return Column(key, label, _field(key), lambda d, s: f"<td>{badge(d.get(key))}</td>")


def when_column(key, label):
    return Column(
        key, label, _field(key), lambda d, s: f"<td>{format_when(d.get(key), s.zone, s.now)}</td>"
    )


def date_column(key, label):
    """A `date` of the API (an expiry day): shown as written when it is one."""
    return Column(key, label, _field(key), lambda d, s: f"<td>{text(d.get(key), _DASH)}</td>")


_DASH = '<span class="none">—</span>'


def _name_cell(device, s):
    name = text(device.get("name"), "(no name)")
    device_id = device.get("id")
    if is_id(device_id):
        name = f'<a href="{s.prefix}{device_id}/">{name}</a>'
    return f"<td>{name}</td>"


def _gateway_cell(device, s):
    gateway = device.get("host_gateway")
    if is_id(gateway):
        return f'<td><a href="{s.prefix}{gateway}/">{ident_html(gateway)}</a></td>'
    return f"<td>{ident_html(plain(gateway))}</td>"


def _suspension(device):
    category = device.get("last_operator_suspended_category")
    return category or None


def _suspension_cell(device, s):
    category = device.get("last_operator_suspended_category")
    if not category:
        return f"<td>{_DASH}</td>"
    moment = device.get("last_operator_suspended_updated_at")
    when = f" {format_when(moment, s.zone, s.now)}" if moment else ""
    return f"<td>{text(category)}{when}</td>"


COLUMNS = {
    column.key: column
    for column in (
        Column("name", "Name", _field("name"), _name_cell),
        ident_column("id", "Device ID", "id"),
        badge_column("state", "State"),
        badge_column("lifecycle_status", "Lifecycle"),
        text_column("endpoint_name", "Endpoint name"),
        text_column("serial_number", "Serial number"),
        ident_column("vendor_id", "Vendor ID"),
        ident_column("device_class", "Device class"),
        text_column("endpoint_type", "Endpoint type"),
        text_column("deployed_state", "Deployed state"),
        text_column("mechanism", "Mechanism"),
        Column("host_gateway", "Host gateway", _field("host_gateway"), _gateway_cell),
        ident_column("firmware_checksum", "Firmware checksum"),
        date_column("connector_expiration_date", "Certificate expiry"),
        date_column("bootstrap_expiration_date", "Bootstrap certificate expiry"),
        when_column("created_at", "Created"),  # its head is the order toggle
        when_column("updated_at", "Updated"),
        Column(
            "last_operator_suspension", "Last operator suspension", _suspension, _suspension_cell
        ),
    )
}
DEFAULT = (
    "name",
    "id",
    "state",
    "lifecycle_status",
    "endpoint_name",
    "serial_number",
    "device_class",
    "deployed_state",
    "created_at",
    "updated_at",
)


def attribute_column(key):
    """The column of the custom attribute `key` (a string, or nothing)."""

    def value(device):
        attributes = device.get("custom_attributes")
        return attributes.get(key) if isinstance(attributes, dict) else None

    return Column(f"{ATTRIBUTE}{key}", key, value, lambda d, s: f"<td>{text(value(d))}</td>")


def column(key):
    """The column named `key`, or None for a key that names none."""
    if key in COLUMNS:
        return COLUMNS[key]
    if key.startswith(ATTRIBUTE) and ATTRIBUTE_KEY.fullmatch(key.removeprefix(ATTRIBUTE)):
        return attribute_column(key.removeprefix(ATTRIBUTE))
    return None


def parse_keys(keys):
    """Known column keys of `keys` (a list, or a comma-separated string), once each, in order,
    at most MAX_COLUMNS; an empty result means "the default"."""
    if isinstance(keys, str):
        keys = keys.split(",")
    found = []
    for key in keys or ():
        key = key.strip() if isinstance(key, str) else ""
        if key and key not in found and column(key) is not None:
            found.append(key)
    return found[:MAX_COLUMNS]


def columns_of(keys):
    return [column(key) for key in (parse_keys(keys) or DEFAULT)]


def keys_of(columns):
    return ",".join(c.key for c in columns)


def device_columns_for(request, *, form=None):
    """The columns of the device table for this request, as `Column`s (key, label, value,
    cell): the HTML table and any export use the same list. See the module docstring."""
    from .services import view_columns  # the stored choices (the database)

    carried = request.GET.get("columns")
    if carried is not None and parse_keys(carried):
        return columns_of(carried)
    return columns_of(view_columns(request, form=form))


def rows_html(devices, columns, s):
    """All the rows of a page, in one pass: one string per row, one join per page."""
    cells = [c.cell for c in columns]
    return "".join(
        ["<tr>" + "".join([cell(device, s) for cell in cells]) + "</tr>\n" for device in devices]
    )


SORT_TITLE = "The API sorts by creation time only: this switches newest/oldest first"
# Columns a phone's card of a device leaves out (core's phone layout: th.low).
LOW = {"device_class", "deployed_state", "updated_at", "firmware_checksum", "vendor_id"}


def head_html(columns, *, sort_url=None, ascending=False):
    """The table's head row for these columns (built here like the rows: one string). With
    `sort_url`, the Created column's head is the one order toggle the API has."""
    cells = []
    for c in columns:
        label = escape(c.label)
        low = ' class="low"' if c.key in LOW else ""  # left out of a phone's cards
        if sort_url is not None and c.key == "created_at":
            arrow, words = ("↑", "oldest first") if ascending else ("↓", "newest first")
            url = escape(sort_url)
            cells.append(
                f'<th scope="col"{low} aria-sort="{"ascending" if ascending else "descending"}">'
                f'<a class="sort" href="{url}" hx-get="{url}" hx-target="#listing" '
                f'hx-swap="outerHTML" title="{SORT_TITLE}" aria-label="{label}, {words}: '
                f'switch the order">{label} {arrow}</a></th>'
            )
        else:
            cells.append(f'<th scope="col"{low}>{label}</th>')
    return f"<thead><tr>{''.join(cells)}</tr></thead>"


def attribute_keys(devices, limit=30):
    """The custom attribute keys seen on a page of devices (the chooser offers them)."""
    seen = {}
    for device in devices:
        attributes = device.get("custom_attributes")
        if isinstance(attributes, dict):
            for key in attributes:
                if isinstance(key, str) and ATTRIBUTE_KEY.fullmatch(key):
                    seen.setdefault(key, None)
                    if len(seen) >= limit:
                        return list(seen)
    return list(seen)
