from functools import partial

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from dmportal.accounts.services import api_client
from dmportal.core.htmx import is_partial
from dmportal.core.listing import encode_query, list_response
from dmportal.core.writes import perform
from dmportal.dmapi import errors as api
from dmportal.dmapi import resources
from dmportal.dmapi.ids import is_id

from .columns import device_columns_for, keys_of
from .forms import (
    DeviceEditForm,
    DeviceFilterForm,
    DeviceGroupDevicesForm,
    DeviceGroupFilterForm,
    EventListForm,
)
from .services import default_view_id, views_context


@require_GET
def device_list(request):
    """The fleet: filters in the API's syntax, the person's columns, saved views. `/devices/`
    without any parameter opens the person's default view, if they have one. A "load more"
    renders rows only: it reads no setting (its link carries the columns)."""
    more = "after" in request.GET
    default = None if more else default_view_id(request)
    if default is not None and not request.GET and not is_partial(request):
        return redirect("device_view_open", query_id=default)
    client = api_client(request)
    form = DeviceFilterForm(request.GET)
    if default is not None:
        form.empty_pairs = (("all", "1"),)  # "all devices", not the default view
    columns = device_columns_for(request, form=form)
    return list_response(
        request,
        template="devices/device_list.html",
        form=form,
        fetch=partial(resources.device_page, client),
        table_id="devices",
        columns=columns,
        next_extra=encode_query([("columns", keys_of(columns))]),
        context={
            "nav": "devices",
            "views": None if more else views_context(request, form, default),
        },
    )


@require_GET
def device_detail(request, device_id):
    client = api_client(request)
    device = resources.device_get(client, device_id)
    groups = [g for g in device.get("groups") or [] if is_id(g)]
    return render(
        request,
        "devices/device_detail.html",
        {
            "nav": "devices",
            "device": device,
            "device_id": device_id,  # links use the URL's id, never the upstream record's
            "group_ids": ",".join(groups[:100]),
            "attributes": _attributes(device.get("custom_attributes")),
        },
    )


def _attributes(value):
    return sorted(value.items()) if isinstance(value, dict) else []


@require_GET
def device_events(request, device_id):
    """The device's events, newest first: a panel of the device page, or a page of its own."""
    client = api_client(request)
    return list_response(
        request,
        template="devices/device_events.html",
        form=EventListForm(request.GET),
        fetch=partial(_event_page, client, device_id),
        table_id="events",
        columns=5,
        context={"nav": "devices", "device_id": device_id},
        push=False,
    )


def _event_page(client, device_id, *, filters, **kwargs):
    return resources.device_event_page(
        client, filters={**filters, "device_id__eq": device_id}, **kwargs
    )


MAX_GROUP_IDS = 100


@require_GET
def device_groups_panel(request, device_id):
    """Names of the device's groups, resolved in one call from the ids in the query string."""
    ids = request.GET.get("id__in", "")
    if not all(is_id(i) for i in ids.split(",")) or ids.count(",") >= MAX_GROUP_IDS:
        raise api.InvalidRequest("The group ids in this link are not valid.")
    client = api_client(request)
    page = resources.device_group_page(client, filters={"id__in": ids.split(",")}, limit=100)
    return render(request, "devices/_device_groups.html", {"groups": page.items, "page": page})


@require_http_methods(["GET", "POST"])
def device_edit(request, device_id):
    client = api_client(request)
    device = resources.device_get(client, device_id)
    attributes = (
        device.get("custom_attributes") if isinstance(device.get("custom_attributes"), dict) else {}
    )
    initial = {"name": device.get("name") or "", "description": device.get("description") or ""}
    form = DeviceEditForm(request.POST or None, initial=initial, attributes=attributes)
    if request.method == "POST" and form.is_valid():
        _, error = perform(
            request,
            "device.update",
            device_id,
            lambda: resources.device_update(client, device_id, form.changes()),
            form=form,
            field_for=form.field_for_api,
        )
        if error is None:
            messages.success(request, f"Device “{form.cleaned_data['name'] or device_id}” saved.")
            return redirect("device_detail", device_id=device_id)
    return render(
        request,
        "devices/device_edit.html",
        {"nav": "devices", "device": device, "device_id": device_id, "form": form},
    )


@require_GET
def device_group_list(request):
    client = api_client(request)
    return list_response(
        request,
        template="devices/device_group_list.html",
        form=DeviceGroupFilterForm(request.GET),
        fetch=partial(resources.device_group_page, client),
        table_id="groups",
        columns=5,
        context={"nav": "device_groups"},
    )


@require_GET
def device_group_detail(request, group_id):
    client = api_client(request)
    group = resources.device_group_get(client, group_id)
    return render(
        request,
        "devices/device_group_detail.html",
        {
            "nav": "device_groups",
            "group": group,
            "group_id": group_id,
            "attributes": _attributes(group.get("custom_attributes")),
        },
    )


@require_GET
def device_group_devices(request, group_id):
    client = api_client(request)
    columns = device_columns_for(request, form=DeviceFilterForm())
    return list_response(
        request,
        template="devices/device_group_devices.html",
        form=DeviceGroupDevicesForm(request.GET),
        fetch=partial(resources.device_group_device_page, client, group_id),
        table_id="group-devices",
        columns=columns,
        next_extra=encode_query([("columns", keys_of(columns))]),
        context={"nav": "device_groups", "group_id": group_id},
        push=False,
    )
