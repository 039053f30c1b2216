"""Device queries (saved device filters): ``/v3/device-queries/`` and ``/{query_id}/``.

A device query is ``{"object": "device-query", "id", "name", "query", "created_at",
"updated_at", "etag"}``; ``query`` is a device filter in the legacy ``filter=`` syntax
(``state__eq=registered&custom_attributes__site__eq=7``), which ``GET /v3/devices/?filter=``
runs as written.

Validation (``DeviceQueryPostPutRequest``): ``name`` and ``query`` are both required on POST *and*
PUT (the spec uses one schema for both), non-empty strings of at most 200 and 1000 characters;
every problem is listed in one 400 ``validation_error``. Where the spec is silent:

* Names need not be unique: the spec declares no 409 for these operations (unlike device
  groups), so two queries may share a name.
* The query's text is stored as written, not checked against the device filters: the service's
  schema only bounds its length, and a query saved by another tool can hold filters a given
  client does not know. Such a query fails only when it is run (``GET /v3/devices/?filter=``).
* ``DeviceQueryPage`` requires ``total_count``, so the list always carries it.
* The developer key may list and read queries but gets 403 ``access_denied`` on POST, PUT and
  DELETE: the spec marks none of them, but the dashboard must show a read-only menu for a key
  that cannot write, and the simulator's developer key is that case. (The administrator key
  writes.)
"""

from __future__ import annotations

from . import errors
from .ids import KIND_DEVICE_QUERY, iso_us, make_id
from .routes import Api, Request, Response, cached_response, list_response, no_content, route
from .validate import Body

NAME_MAX, QUERY_MAX = 200, 1000
WRITE_DENIED = "This key may read device queries but not create, change or delete them."


def _fields(req: Request) -> dict:
    body = Body(req.json())
    name = body.string("name", required=True, max_length=NAME_MAX)
    query = body.string("query", required=True, max_length=QUERY_MAX)
    body.check()
    return {"name": name, "query": query}


def _query(api: Api, req: Request) -> dict:
    query_id = req.id_param("query_id", "Device query")
    obj = api.store.device_queries.get(query_id)
    if obj is None:
        raise errors.not_found("Device query")
    return obj


def _may_write(req: Request) -> None:
    if not req.principal.is_admin:
        raise errors.access_denied(WRITE_DENIED)


@route("GET", "/v3/device-queries/")
def query_list(api: Api, req: Request) -> Response:
    query = api.list_query(req)
    query.include.add("total_count")  # required by DeviceQueryPage
    return list_response(query, api.store.device_queries.page(query))


@route("POST", "/v3/device-queries/")
def query_create(api: Api, req: Request) -> Response:
    _may_write(req)
    fields = _fields(req)
    store = api.store
    with store.lock:
        now = api.now_ms()
        stamp = iso_us(now)
        obj = {
            "object": "device-query",
            "id": make_id(now, KIND_DEVICE_QUERY, store.next_seq(KIND_DEVICE_QUERY)),
            **fields,
            "created_at": stamp,
            "updated_at": stamp,
            "etag": stamp,
            "sim_revision": 1,
        }
        store.device_queries.put(obj)
    return cached_response(201, store.device_queries.json(obj["id"]))


@route("GET", "/v3/device-queries/{query_id}/")
def query_get(api: Api, req: Request) -> Response:
    obj = _query(api, req)
    return cached_response(200, api.store.device_queries.json(obj["id"]))


@route("PUT", "/v3/device-queries/{query_id}/")
def query_update(api: Api, req: Request) -> Response:
    obj = _query(api, req)
    _may_write(req)
    fields = _fields(req)
    store = api.store
    with store.lock:
        current = store.device_queries.get(obj["id"])
        if current is None:
            raise errors.not_found("Device query")
        stamp = iso_us(api.now_ms())
        store.device_queries.put({**current, **fields, "updated_at": stamp, "etag": stamp})
    return cached_response(200, store.device_queries.json(obj["id"]))


@route("DELETE", "/v3/device-queries/{query_id}/")
def query_delete(api: Api, req: Request) -> Response:
    obj = _query(api, req)
    _may_write(req)
    with api.store.lock:
        if api.store.device_queries.remove(obj["id"]) is None:
            raise errors.not_found("Device query")
    return no_content()
