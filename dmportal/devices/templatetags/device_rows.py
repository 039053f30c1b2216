"""The device table's rows in one call per page (see devices/columns.py for why in Python)."""

from django import template
from django.utils.safestring import SafeString

from dmportal.devices import columns
from dmportal.devices.columns import head_html, rows_html, shared

register = template.Library()


@register.simple_tag(takes_context=True)
def device_rows(context, devices, columns):
    """All the rows of a page of devices with these columns (one call per row costs ~4 µs
    more each: the template engine's own work, 4 ms of a 1,000-row page)."""
    cells = context.render_context.get("device_row")
    if cells is None:  # looked up once per rendering, not once per row
        cells = context.render_context["device_row"] = shared()
    return SafeString(rows_html(devices, columns, cells))


@register.filter
def attribute_keys(devices):
    """The custom attribute keys seen on a page of devices (the Columns menu offers them)."""
    return columns.attribute_keys(devices or ())


@register.simple_tag(takes_context=True)
def device_head(context, columns, sortable=False):
    """The head row; `sortable`: the Created column toggles the order (the device list)."""
    form, table = context.get("form"), context.get("table")
    if not sortable or form is None or table is None or not form.is_bound or form.errors:
        html = head_html(columns)
    else:
        sort_url = f"{table.path}?{form.order_query()}"
        html = head_html(columns, sort_url=sort_url, ascending=form.order == "ASC")
    return SafeString(html)
