"""The device dossier: what support needs about one device, and its ticket summary.

Loading costs at most three API calls: the device and its last events at the same time, then
the names of its groups (which need the device's group ids). Only the device is required;
the events or groups failing leaves the rest of the dossier standing, with the failure and
its request id in place of the missing part.
"""

import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC

from django.utils import timezone

from dmportal.core.parallel import submit
from dmportal.core.templatetags.dm import EXPIRY_WARNING_DAYS, parse_when
from dmportal.dmapi import errors as api
from dmportal.dmapi import resources
from dmportal.dmapi.errors import clean_text
from dmportal.dmapi.ids import is_id

EVENT_COUNT = 20
TICKET_EVENTS = 10
MAX_GROUPS = 100


@dataclass
class Dossier:
    device: dict
    events: list = field(default_factory=list)
    events_error: api.ApiError | None = None
    events_more: bool = False
    groups: list = field(default_factory=list)  # [{"id", "name"}], in the device's order
    groups_error: api.ApiError | None = None
    calls: list = field(default_factory=list)  # [(what, upstream request id or None)]

    @property
    def last_state_change(self):
        """The newest loaded event that changed the device's state, if any."""
        for event in self.events:
            if event.get("state_change") is True:
                return event
        return None

    @property
    def attributes(self):
        value = self.device.get("custom_attributes")
        return sorted(value.items()) if isinstance(value, dict) else []

    @property
    def group_ids(self):
        value = self.device.get("groups")
        ids = [g for g in value if is_id(g)] if value else []
        return ids[:MAX_GROUPS]


def dossier_load(client, device_id):
    """The device (its errors propagate: no dossier without it), events and group names."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="dm-dossier") as pool:
        device_future = submit(pool, resources.device_get, client, device_id)
        events_future = submit(
            pool,
            resources.device_event_page,
            client,
            filters={"device_id__eq": device_id},
            limit=EVENT_COUNT,
            order="DESC",
        )
    device = device_future.result()
    dossier = Dossier(device=device)
    dossier.calls.append(("device record", device.request_id))
    try:
        page = events_future.result()
    except api.ApiError as exc:
        dossier.events_error = exc
        dossier.calls.append(("last events (failed)", exc.request_id))
    else:
        dossier.events = page.items
        dossier.events_more = page.has_more
        dossier.calls.append(("last events", page.request_id))
    ids = dossier.group_ids
    if ids:
        try:
            page = resources.device_group_page(client, filters={"id__in": ids}, limit=MAX_GROUPS)
        except api.ApiError as exc:
            dossier.groups_error = exc
            dossier.groups = [{"id": g, "name": None} for g in ids]
            dossier.calls.append(("group names (failed)", exc.request_id))
        else:
            names = {g.get("id"): g.get("name") for g in page.items}
            dossier.groups = [{"id": g, "name": names.get(g)} for g in ids]
            dossier.calls.append(("group names", page.request_id))
    return dossier


# -- the ticket summary -------------------------------------------------------------------------


# What Markdown (CommonMark and GitHub's) reads as markup inside a line: emphasis, code,
# links and images, HTML and entities, tables, strikethrough, headings, escapes.
MARKDOWN = re.compile(r"([\\`*_\[\]<>!|~#&])")


def code(value, limit=200):
    """Upstream text inside a code span of the summary (`...`): one line, bounded, and no
    backtick, which would end the span. Markdown reads nothing else in a code span."""
    if value is None or value == "":
        return "—"
    return clean_text(value, limit).replace("`", "'") or "—"


def text(value, limit=200):
    """Upstream text anywhere else in the summary: one line, bounded, and every character
    Markdown would read as markup escaped, so a device name cannot forge bold lines, links,
    HTML or a table in the ticket it is pasted into."""
    if value is None or value == "":
        return "—"
    return MARKDOWN.sub(r"\\\1", clean_text(value, limit)) or "—"


def utc(value):
    moment = parse_when(value)
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def expiry_text(value, now=None):
    moment = parse_when(value)
    if moment is None:
        return "—"
    days = (moment - (now or timezone.now())).total_seconds() / 86400
    shown = moment.astimezone(UTC).strftime("%Y-%m-%d")
    if days < 0:
        return f"{shown} — EXPIRED"
    if days <= EXPIRY_WARNING_DAYS:
        left = max(1, math.ceil(days))
        return f"{shown} — WARNING: expires within {'a day' if left == 1 else f'{left} days'}"
    return shown


def yes_no(value):
    return {True: "yes", False: "no"}.get(value, "—")


def suspension(device, who):
    flag = device.get(f"{who}_suspended")
    line = yes_no(flag)
    category = device.get(f"last_{who}_suspended_category")
    description = device.get(f"last_{who}_suspended_description")
    changed = device.get(f"last_{who}_suspended_updated_at")
    details = []
    if category:
        details.append(f"category `{code(category, 64)}`")
    if description:
        details.append(f"“{text(description, 300)}”")
    if changed:
        details.append(f"last change {utc(changed)}")
    return f"{line} ({'; '.join(details)})" if details else line


def ticket_text(dossier, *, connection, request_id, generated_by, now=None):
    """A plain-text/Markdown summary to paste into a support ticket. Never holds a key:
    only device data, dates, and request ids (the connection contributes its label and
    account, not its key or key hint)."""
    now = now or timezone.now()
    lines = [
        *_ticket_device(dossier),
        *_ticket_dates(dossier.device, now),
        *_ticket_groups(dossier),
        *_ticket_events(dossier),
        "",
        "**Request IDs**",
        *(f"- {what}: upstream `{code(upstream, 64)}`" for what, upstream in dossier.calls),
        f"- dmportal request: `{code(request_id, 64)}`",
        "",
        f"_From dmportal, connection “{text(connection.label, 100)}”, by "
        f"{text(generated_by, 150)} at {now.astimezone(UTC).strftime('%Y-%m-%d %H:%M UTC')}._",
    ]
    return "\n".join(lines)


def _ticket_device(dossier):
    d = dossier.device
    lines = [
        f"### Device {text(d.get('name'), 128)} (`{code(d.get('id'), 64)}`)",
        "",
        "**Identifiers**",
        f"- Device ID: `{code(d.get('id'), 64)}`",
        f"- Endpoint name: `{code(d.get('endpoint_name'), 128)}`",
        f"- Serial number: `{code(d.get('serial_number'), 128)}`",
        f"- Vendor ID: `{code(d.get('vendor_id'), 128)}`",
        f"- Device class: `{code(d.get('device_class'), 64)}`",
        f"- Account: `{code(d.get('account_id'), 64)}`",
        "",
        "**State**",
        f"- State: {text(d.get('state'), 40)}",
        f"- Lifecycle status: {text(d.get('lifecycle_status'), 40)}",
    ]
    change = dossier.last_state_change
    if change is not None:
        lines.append(
            f"- Last state change: {utc(change.get('date_time'))} "
            f"(`{code(change.get('event_type'), 100)}` {text(change.get('description'), 200)})"
        )
    lines += [
        f"- Suspended by an operator: {suspension(d, 'operator')}",
        f"- Blocked by the system: {suspension(d, 'system')}",
    ]
    return lines


def _ticket_dates(d, now):
    return [
        "",
        "**Key dates (UTC)**",
        f"- Created: {utc(d.get('created_at'))}",
        f"- Updated: {utc(d.get('updated_at'))}",
        f"- Last bootstrap: {utc(d.get('bootstrapped_timestamp'))}",
        f"- Bootstrap certificate expires: {expiry_text(d.get('bootstrap_expiration_date'), now)}",
        f"- Connector certificate expires: {expiry_text(d.get('connector_expiration_date'), now)}",
        "",
    ]


def _ticket_groups(dossier):
    names = ", ".join(
        f"{text(g['name'], 100)} (`{g['id']}`)" if g["name"] else f"`{g['id']}`"
        for g in dossier.groups
    )
    lines = [f"**Groups:** {names or 'none'}"]
    if dossier.attributes:
        pairs = ", ".join(f"{text(k, 128)}={text(v, 128)}" for k, v in dossier.attributes)
        lines.append(f"**Custom attributes:** {pairs}")
    return lines


def _ticket_events(dossier):
    lines = ["", f"**Last events (newest first, UTC; {TICKET_EVENTS} at most)**"]
    if dossier.events_error is not None:
        lines.append(
            f"- could not be loaded: {text(dossier.events_error.message, 200)} "
            f"(upstream request id `{code(dossier.events_error.request_id, 64)}`)"
        )
    elif not dossier.events:
        lines.append("- none")
    for event in dossier.events[:TICKET_EVENTS]:
        state = " [state change]" if event.get("state_change") is True else ""
        lines.append(
            f"- {utc(event.get('date_time'))} `{code(event.get('event_type'), 100)}` "
            f"{text(event.get('description'), 200)}{state}"
        )
    return lines
