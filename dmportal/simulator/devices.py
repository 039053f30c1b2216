"""Device directory: devices, suspension, device events and device groups."""

from __future__ import annotations

import re

from . import errors, events
from .ids import KIND_DEVICE_GROUP, iso_us, make_id
from .routes import (
    Api,
    Request,
    Response,
    cached_response,
    json_response,
    list_response,
    no_content,
    route,
)
from .validate import MISSING, Body

CATEGORY_RE = re.compile(r"^[a-z0-9_]{1,32}$")
EXECUTION_MODE_PRODUCTION = 5


def _device(api: Api, req: Request) -> dict:
    device_id = req.id_param("id", "Device")
    device = api.store.devices.get(device_id)
    if device is None:
        raise errors.not_found("Device")
    return device


@route("GET", "/v3/devices/")
def device_list(api: Api, req: Request) -> Response:
    query = api.list_query(req)
    return list_response(query, api.store.devices.page(query))


@route("GET", "/v3/devices/{id}/")
def device_get(api: Api, req: Request) -> Response:
    device = _device(api, req)
    return cached_response(200, api.store.devices.json(device["id"]))


PUT_FIELDS = (
    "name",
    "description",
    "custom_attributes",
    "auto_update",
    "ca_id",
    "device_key",
    "endpoint_type",
    "host_gateway",
)


@route("PUT", "/v3/devices/{id}/")
def device_put(api: Api, req: Request) -> Response:
    _device(api, req)
    body = Body(req.json())
    changes = {
        "name": body.string("name", max_length=128),
        "description": body.string("description", max_length=2000),
        "custom_attributes": body.string_map("custom_attributes", max_properties=5),
        "auto_update": body.boolean("auto_update"),
        "ca_id": body.string("ca_id", max_length=500),
        "device_key": body.string("device_key", max_length=512),
        "endpoint_type": body.string("endpoint_type", max_length=64),
        "host_gateway": body.string("host_gateway", max_length=500),
    }
    body.check()
    changes = {k: v for k, v in changes.items() if v is not MISSING}
    store = api.store
    with store.lock:
        current = store.devices.get(req.params["id"])
        if current is None:
            raise errors.not_found("Device")
        now = api.now_ms()
        stamp = iso_us(now)
        diff = {
            k: {"old": current.get(k), "new": v} for k, v in changes.items() if current.get(k) != v
        }
        updated = {**current, **changes, "updated_at": stamp, "etag": stamp}
        store.devices.put(updated)
        if diff:
            store.events.append(updated["id"], now, events.UPDATED, changes=diff)
    return cached_response(200, store.devices.json(updated["id"]))


@route("DELETE", "/v3/devices/{id}/")
def device_delete(api: Api, req: Request) -> Response:
    device = _device(api, req)
    if device.get("device_execution_mode") == EXECUTION_MODE_PRODUCTION:
        # The spec: only devices with a developer certificate can be deleted.
        raise errors.bad_request(
            "Only devices with a developer certificate can be deleted; this device has a "
            "production certificate."
        )
    store = api.store
    with store.lock:
        removed = store.devices.remove(device["id"])
        if removed is None:
            raise errors.not_found("Device")
        for gid in removed.get("groups") or ():
            _refresh_group_count(api, gid)
    return no_content()


def _block_body(req: Request, *, required: bool) -> tuple[str, str]:
    body = Body(req.json())
    category = body.string("category", required=required, pattern=CATEGORY_RE)
    description = body.string("description", max_length=2000)
    body.check()
    return (
        "" if category is MISSING else category,
        "" if description is MISSING else description,
    )


@route("POST", "/v3/devices/{id}/suspend")
def device_suspend(api: Api, req: Request) -> Response:
    _device(api, req)
    category, description = _block_body(req, required=True)
    store = api.store
    with store.lock:
        current = store.devices.get(req.params["id"])
        if current is None:
            raise errors.not_found("Device")
        now = api.now_ms()
        stamp = iso_us(now)
        updated = {
            **current,
            "operator_suspended": True,
            "lifecycle_status": "blocked",
            "last_operator_suspended_category": category,
            "last_operator_suspended_description": description,
            "last_operator_suspended_updated_at": stamp,
            "updated_at": stamp,
            "etag": stamp,
        }
        if current.get("state") == "registered":
            # "If a device is currently connected, it disconnects and shows as deregistered."
            updated["state"] = "deregistered"
        store.devices.put(updated)
        store.events.append(current["id"], now, events.SUSPENDED, description=description or "")
    return no_content()


@route("POST", "/v3/devices/{id}/resume")
def device_resume(api: Api, req: Request) -> Response:
    _device(api, req)
    category, description = _block_body(req, required=False)
    store = api.store
    with store.lock:
        current = store.devices.get(req.params["id"])
        if current is None:
            raise errors.not_found("Device")
        now = api.now_ms()
        stamp = iso_us(now)
        updated = {
            **current,
            "operator_suspended": False,
            "lifecycle_status": "blocked" if current.get("system_suspended") else "enabled",
            "last_operator_suspended_category": category
            or current.get("last_operator_suspended_category", ""),
            "last_operator_suspended_description": description,
            "last_operator_suspended_updated_at": stamp,
            "updated_at": stamp,
            "etag": stamp,
        }
        store.devices.put(updated)
        store.events.append(current["id"], now, events.RESUMED, description=description or "")
    return no_content()


# --- device events --------------------------------------------------------------------------------
@route("GET", "/v3/device-events/")
def event_list(api: Api, req: Request) -> Response:
    query = api.list_query(req)
    return list_response(query, api.store.events.page(query))


@route("GET", "/v3/device-events/{device_event_id}/")
def event_get(api: Api, req: Request) -> Response:
    event_id = req.id_param("device_event_id", "Device event")
    event = api.store.events.get(event_id)
    if event is None:
        raise errors.not_found("Device event")
    return json_response(200, event)


# --- device groups --------------------------------------------------------------------------------
def _group(api: Api, req: Request) -> dict:
    group_id = req.id_param("device_group_id", "Device group")
    group = api.store.device_groups.get(group_id)
    if group is None:
        raise errors.not_found("Device group")
    return group


def _group_fields(req: Request, *, creating: bool) -> dict:
    body = Body(req.json())
    changes = {
        "name": body.string("name", required=creating, max_length=128),
        "description": body.string("description", max_length=1024),
        "custom_attributes": body.string_map("custom_attributes", max_properties=10),
    }
    body.check()
    return {k: v for k, v in changes.items() if v is not MISSING}


def _name_taken(api: Api, name: str, except_id: str | None = None) -> bool:
    return any(gid != except_id for gid in api.store.device_groups.members("name", name))


def _refresh_group_count(api: Api, group_id: str) -> None:
    store = api.store
    group = store.device_groups.get(group_id)
    if group is not None:
        count = len(store.devices.members("groups", group_id))
        stamp = iso_us(api.now_ms())
        store.device_groups.put(
            {**group, "devices_count": count, "updated_at": stamp, "etag": stamp}
        )


@route("GET", "/v3/device-groups/")
def group_list(api: Api, req: Request) -> Response:
    query = api.list_query(req)
    return list_response(query, api.store.device_groups.page(query))


@route("POST", "/v3/device-groups/")
def group_create(api: Api, req: Request) -> Response:
    fields = _group_fields(req, creating=True)
    store = api.store
    with store.lock:
        if _name_taken(api, fields["name"]):
            raise errors.ApiError(409, "duplicate", "A group with that name already exists.")
        now = api.now_ms()
        stamp = iso_us(now)
        group = {
            "object": "device-group",
            "id": make_id(now, KIND_DEVICE_GROUP, store.next_seq(KIND_DEVICE_GROUP)),
            "name": fields["name"],
            "description": fields.get("description", ""),
            "custom_attributes": fields.get("custom_attributes", {}),
            "devices_count": 0,
            "created_at": stamp,
            "updated_at": stamp,
            "etag": stamp,
            "sim_revision": 1,
        }
        store.device_groups.put(group)
    return cached_response(201, store.device_groups.json(group["id"]))


@route("GET", "/v3/device-groups/{device-group-id}/")
def group_get(api: Api, req: Request) -> Response:
    group = _group(api, req)
    return cached_response(200, api.store.device_groups.json(group["id"]))


@route("PUT", "/v3/device-groups/{device-group-id}/")
def group_update(api: Api, req: Request) -> Response:
    group = _group(api, req)
    fields = _group_fields(req, creating=False)
    store = api.store
    with store.lock:
        if "name" in fields and _name_taken(api, fields["name"], except_id=group["id"]):
            raise errors.ApiError(409, "duplicate", "A group with that name already exists.")
        current = store.device_groups.get(group["id"])
        if current is None:
            raise errors.not_found("Device group")
        stamp = iso_us(api.now_ms())
        store.device_groups.put({**current, **fields, "updated_at": stamp, "etag": stamp})
    return cached_response(200, store.device_groups.json(group["id"]))


@route("DELETE", "/v3/device-groups/{device-group-id}/")
def group_delete(api: Api, req: Request) -> Response:
    group = _group(api, req)
    store = api.store
    with store.lock:
        for device_id in list(store.devices.members("groups", group["id"])):
            device = store.devices.get(device_id)
            groups = [g for g in device["groups"] if g != group["id"]]
            store.devices.put({**device, "groups": groups})
        store.device_groups.remove(group["id"])
    return no_content()


@route("GET", "/v3/device-groups/{device-group-id}/devices/")
def group_devices(api: Api, req: Request) -> Response:
    group = _group(api, req)
    query = api.list_query(req)
    return list_response(query, api.store.devices.page(query, member_of=("groups", group["id"])))


def _membership(api: Api, req: Request, *, add: bool) -> Response:
    group = _group(api, req)
    body = Body(req.json())
    device_id = body.string("device_id", required=True)
    body.check()
    store = api.store
    with store.lock:
        device = store.devices.get(device_id)
        if device is None:
            raise errors.not_found("Device")
        groups = list(device.get("groups") or ())
        # Adding a member twice, or removing a non-member, changes nothing: the spec declares
        # no 409 for these two operations.
        if add and group["id"] not in groups:
            groups.append(group["id"])
        elif not add and group["id"] in groups:
            groups.remove(group["id"])
        else:
            return no_content()
        store.devices.put({**device, "groups": groups})
        _refresh_group_count(api, group["id"])
    return no_content()


@route("POST", "/v3/device-groups/{device-group-id}/devices/add/")
def group_add_device(api: Api, req: Request) -> Response:
    return _membership(api, req, add=True)


@route("POST", "/v3/device-groups/{device-group-id}/devices/remove/")
def group_remove_device(api: Api, req: Request) -> Response:
    return _membership(api, req, add=False)
