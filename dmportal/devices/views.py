from functools import partial

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from dmportal.accounts.services import api_client
from dmportal.core.listing import list_response
from dmportal.core.writes import perform
from dmportal.dmapi import errors as api
from dmportal.dmapi import resources
from dmportal.dmapi.ids import is_id

from .forms import (
    DeviceEditForm,
    DeviceFilterForm,
    DeviceGroupDevicesForm,
    DeviceGroupFilterForm,
    EventListForm,
)

DEVICE_COLUMNS = 10


@require_GET
def device_list(request):
    client = api_client(request)
    return list_response(
        request,
        template="devices/device_list.html",
        form=DeviceFilterForm(request.GET),
        fetch=partial(resources.device_page, client),
        table_id="devices",
        columns=DEVICE_COLUMNS,
        context={"nav": "devices"},
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
    return list_response(
        request,
        template="devices/device_group_devices.html",
        form=DeviceGroupDevicesForm(request.GET),
        fetch=partial(resources.device_group_device_page, client, group_id),
        table_id="group-devices",
        columns=DEVICE_COLUMNS,
        context={"nav": "device_groups", "group_id": group_id},
        push=False,
    )
