"""Device directory: devices, suspension and block categories, device events and device groups.

Where the spec says only "400 Bad request" or nothing, the simulator answers as follows:

* ``POST /v3/devices/``: every field of ``DeviceDataPostRequest`` is checked (lengths, enums,
  dates); none is required. A missing ``endpoint_name`` gets a new UUID, ``name`` defaults to
  it, ``state`` to ``unenrolled``. 409 ``duplicate`` (declared: "Unique-constrained fields are
  used by other resources") when the ``endpoint_name`` is taken. New devices get IDs after every
  existing one (IDs grow with time), so an ascending cursor walk that is under way reaches them
  at its end and never repeats or skips a device that existed when it started.
* Suspend: ``category`` is required and must be one of ``GET /v3/device-block-categories/``
  (400 ``validation_error`` naming ``category`` otherwise); ``description`` at most 2000
  characters. Suspending a suspended device replaces its category, description and time. A
  registered device shows as deregistered ("it disconnects").
* Resume: ``category`` is optional; when given it must be a known category and, for an
  operator-suspended device, the one it was suspended with (the spec's example: "The category
  must match the reason device was suspended"). Resuming a device that is not suspended is a
  204 that changes nothing. A device blocked by the system only (``system_suspended`` true,
  ``operator_suspended`` false) cannot be returned to service by an operator: 400
  ``bad_request`` (the only failure the spec declares besides 404). A device blocked by both
  loses the operator's block and stays ``blocked``.
* Block categories: the operator-choosable categories; the list ignores ``limit`` and
  ``after`` (as the spec says) and returns them all, filtered by ``reference``/``updated_at``.
* Group membership: a malformed ``device_id`` is a 400 naming it, an unknown one a 404. Adding
  a member twice or removing a non-member changes nothing and answers 204 (the spec declares
  no 409 for them). Group names are unique: 409 on create (declared) and on rename (the same
  constraint; the spec's PUT lists no 409, but a client must expect it).
"""

from __future__ import annotations

import re
import uuid

from . import errors, events
from .filters import parse_list_query
from .ids import KIND_DEVICE, KIND_DEVICE_GROUP, is_id, iso_us, make_id
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
STATES = ("unenrolled", "cloud_enrolling", "bootstrapped", "registered", "deregistered")


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


@route("POST", "/v3/devices/")
def device_create(api: Api, req: Request) -> Response:
    body = Body(req.json())
    given = {
        "auto_update": body.boolean("auto_update"),
        "bootstrap_expiration_date": body.date("bootstrap_expiration_date", nullable=True),
        "ca_id": body.string("ca_id", max_length=500),
        "connector_expiration_date": body.date("connector_expiration_date", nullable=True),
        "custom_attributes": body.string_map("custom_attributes", max_properties=5),
        "deployment": body.string("deployment", max_length=1000),
        "description": body.string("description", max_length=2000),
        "device_class": body.string("device_class", max_length=32),
        "device_execution_mode": body.enum("device_execution_mode", (0, 1, 5)),
        "device_key": body.string("device_key", max_length=512),
        "endpoint_name": body.string("endpoint_name", max_length=64, allow_empty=False),
        "endpoint_type": body.string("endpoint_type", max_length=64),
        "host_gateway": body.string("host_gateway", max_length=500),
        "issuer_fingerprint": body.string("issuer_fingerprint", max_length=256, nullable=True),
        "manifest": body.string("manifest", max_length=1000),
        "mechanism": body.enum("mechanism", ("connector", "direct")),
        "mechanism_url": body.string("mechanism_url", max_length=1000),
        "name": body.string("name", max_length=128),
        "serial_number": body.string("serial_number", max_length=64),
        "state": body.enum("state", STATES),
        "vendor_id": body.string("vendor_id", max_length=255),
    }
    body.check()
    given = {k: v for k, v in given.items() if v is not MISSING}
    store = api.store
    with store.lock:
        endpoint_name = given.get("endpoint_name") or str(uuid.uuid4())
        if store.devices.members("endpoint_name", endpoint_name):
            raise errors.duplicate(
                "A device with this endpoint_name already exists.",
                [errors.field("endpoint_name", "endpoint_name is already used by another device.")],
            )
        now = api.now_ms()
        stamp = iso_us(now)
        mode = given.get("device_execution_mode", 0)
        device = {
            "object": "device",
            "id": make_id(now, KIND_DEVICE, store.next_seq(KIND_DEVICE)),
            "account_id": store.account.get("id", ""),
            "name": endpoint_name,
            "description": "",
            "endpoint_name": endpoint_name,
            "serial_number": "",
            "vendor_id": "",
            "device_class": "",
            "endpoint_type": "",
            "host_gateway": "",
            "state": "unenrolled",
            "lifecycle_status": "enabled",
            "operator_suspended": False,
            "system_suspended": False,
            "deployed_state": "production" if mode == EXECUTION_MODE_PRODUCTION else "development",
            "device_execution_mode": mode,
            "mechanism": "connector",
            "mechanism_url": "",
            "deployment": "",
            "auto_update": False,
            "ca_id": "",
            "device_key": "",
            "issuer_fingerprint": None,
            "firmware_checksum": "",
            "manifest": "",
            "manifest_timestamp": stamp,
            "bootstrap_expiration_date": None,
            "connector_expiration_date": None,
            "enrolment_list_timestamp": stamp,
            "custom_attributes": {},
            "component_attributes": {},
            "net_id": "",
            "groups": [],
            "created_at": stamp,
            "updated_at": stamp,
            "etag": stamp,
            "sim_revision": 1,
        }
        device.update({k: v for k, v in given.items() if k != "endpoint_name"})
        store.devices.put(device)
        store.events.register(device["id"])
        store.events.append(device["id"], now, events.CREATED_BY_API)
    return cached_response(201, store.devices.json(device["id"]))


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


def _categories(api: Api) -> dict[str, dict]:
    return {c["reference"]: c for c in api.store.block_categories}


def _block_body(api: Api, req: Request, *, required: bool) -> tuple[str, str | None]:
    """(category or "", description or None when not given)."""
    body = Body(req.json())
    category = body.string("category", required=required, pattern=CATEGORY_RE)
    description = body.string("description", max_length=2000)
    if isinstance(category, str) and category and category not in _categories(api):
        body.fail(
            "category",
            f"'{category}' is not a device block category (see /v3/device-block-categories/).",
        )
    body.check()
    return (
        "" if category is MISSING else category,
        None if description is MISSING else description,
    )


@route("POST", "/v3/devices/{id}/suspend")
def device_suspend(api: Api, req: Request) -> Response:
    _device(api, req)
    category, description = _block_body(api, req, required=True)
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
            "last_operator_suspended_description": description or "",
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
    category, description = _block_body(api, req, required=False)
    store = api.store
    with store.lock:
        current = store.devices.get(req.params["id"])
        if current is None:
            raise errors.not_found("Device")
        if not current.get("operator_suspended"):
            if current.get("system_suspended"):
                reason = current.get("last_system_suspended_category") or "a system block"
                raise errors.bad_request(
                    f"The device is blocked by the system ({reason}), not by an operator; "
                    "it cannot be returned to service with resume."
                )
            return no_content()  # not suspended: nothing to do
        was = current.get("last_operator_suspended_category") or ""
        if category and was and category != was:
            raise errors.validation(
                [
                    errors.field(
                        "category",
                        f"The category must match the reason the device was suspended ('{was}').",
                    )
                ]
            )
        now = api.now_ms()
        stamp = iso_us(now)
        updated = {
            **current,
            "operator_suspended": False,
            "lifecycle_status": "blocked" if current.get("system_suspended") else "enabled",
            "last_operator_suspended_category": category or was,
            "last_operator_suspended_description": description or "",
            "last_operator_suspended_updated_at": stamp,
            "updated_at": stamp,
            "etag": stamp,
        }
        store.devices.put(updated)
        store.events.append(current["id"], now, events.RESUMED, description=description or "")
    return no_content()


# --- block categories -----------------------------------------------------------------------------
@route("GET", "/v3/device-block-categories/")
def block_category_list(api: Api, req: Request) -> Response:
    # "This endpoint doesn't support paging": limit and after are accepted and ignored.
    params = {k: v for k, v in req.query.items() if k != "after"}
    query = parse_list_query(params, filters=req.route_facts["filters"], clamp_limit=True)
    items = [c for c in api.store.block_categories if all(p.test(c) for p in query.predicates)]
    if query.order == "DESC":
        items.reverse()
    envelope = {
        "object": "list",
        "limit": query.limit,
        "after": None,
        "order": query.order,
        "has_more": False,
        "data": items,
    }
    if query.want_total:
        envelope["total_count"] = len(items)
    return json_response(200, envelope)


@route("GET", "/v3/device-block-categories/{block_category_reference}")
def block_category_get(api: Api, req: Request) -> Response:
    category = _categories(api).get(req.params["block_category_reference"])
    if category is None:
        raise errors.not_found("Device block category")
    return json_response(200, category)


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
    if isinstance(device_id, str) and device_id and not is_id(device_id):
        body.fail("device_id", f"'{device_id[:64]}' is not a device ID (32 hex characters).")
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
