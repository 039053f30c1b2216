"""Routing, authentication and the helpers every handler shares.

Handlers are plain functions ``handler(api, req) -> Response`` registered with ``@route``. The
router matches paths exactly as the spec declares them (device-directory paths end in ``/``, IAM
paths do not); the other spelling is a 404, so a client that gets it wrong finds out here rather
than against the real service.

Access: a route is administrator-only when the spec says "restricted to administrators" (from
``api_facts.json``), or when ``access="admin"`` overrides an operation the spec leaves unmarked
but which would let a non-administrator grant itself rights (membership changes). A few
handlers refine this themselves, with their own message: device-query writes and metrics are
refused to non-administrator keys (``queries.py``, ``metrics.py``). Keys are administrators when
they (or their application) belong to the Administrators group.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import errors, facts
from .filters import ListQuery, parse_list_query
from .ids import is_id, iso_s
from .keys import Principal, parse_bearer
from .store import Page, Store

MAX_BODY = 1_000_000


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Any  # email.message.Message-like (case-insensitive get)
    body: bytes
    template: str = ""
    params: dict[str, str] = field(default_factory=dict)
    principal: Principal | None = None
    route_facts: dict = field(default_factory=dict)

    def json(self, expect: type = dict) -> Any:
        if not self.body.strip():
            raise errors.bad_request("A JSON request body is required.")
        try:
            data = json.loads(self.body)
        except (ValueError, RecursionError) as exc:
            raise errors.bad_request(f"Malformed JSON body: {exc}.") from None
        if not isinstance(data, expect):
            kind = "object" if expect is dict else "array"
            raise errors.validation([errors.field("body", f"The body must be a JSON {kind}.")])
        return data

    def id_param(self, name: str, what: str) -> str:
        value = self.params[name]
        if not is_id(value):
            raise errors.not_found(what)
        return value


Handler = Callable[["Api", Request], Response]


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    pattern: re.Pattern
    admin_only: bool
    facts: dict


ROUTES: list[Route] = []


def route(method: str, template: str, access: str | None = None):
    """Register a handler for an operation of the spec; ``access="admin"`` tightens it."""

    def register(handler: Handler) -> Handler:
        op = facts.operation(method, template)
        parts = re.split(r"\{([^}]+)\}", template)  # literal, name, literal, name, ...
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{_group(part)}>[^/]+)"
            for i, part in enumerate(parts)
        )
        admin = access == "admin" or op["admin_only"]
        ROUTES.append(Route(method, template, handler, re.compile(f"^{regex}$"), admin, op))
        return handler

    return register


def _group(name: str) -> str:
    return name.replace("-", "_")


def match(method: str, path: str) -> tuple[Route, dict[str, str]]:
    allowed = []
    for r in ROUTES:
        m = r.pattern.match(path)
        if m:
            if r.method == method:
                return r, m.groupdict()
            allowed.append(r.method)
    if allowed:
        raise errors.ApiError(
            405,
            "method_not_supported",
            f"Method {method} is not supported on this path.",
            headers={"Allow": ", ".join(sorted(set(allowed)))},
        )
    raise errors.ApiError(404, "not_found", f"No API operation at {path}.")


def template_for(method: str, path: str) -> str | None:
    """The spec path template of a request, for statistics (None if nothing matches)."""
    for r in ROUTES:
        if r.method == method and r.pattern.match(path):
            return r.template
    return None


# --- shared state ---------------------------------------------------------------------------------
class Api:
    """What handlers need: the store, the simulated clock and the bearer-key check."""

    LAST_USE_RESOLUTION_MS = 60_000

    def __init__(self, store: Store, clock_offset_ms: int = 0):
        self.store = store
        self.clock_offset_ms = clock_offset_ms

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    # --- authentication ---------------------------------------------------------------------------
    def authenticate(self, header: str | None) -> Principal:
        token = parse_bearer(header)
        store = self.store
        entry = store.secrets.get(token)
        invalid = errors.ApiError(401, "invalid_apikey", "The API key is invalid or inactive.")
        if entry is None:
            raise invalid
        kind, key_id = entry
        now = self.now_ms()
        if kind == "api-key":
            key = store.api_keys.get(key_id)
            if key is None or key.get("status") != "ACTIVE":
                raise invalid
            groups = tuple(key.get("groups") or ())
            if now - key.get("last_login_time", 0) > self.LAST_USE_RESOLUTION_MS:
                with store.lock:
                    current = store.api_keys.get(key_id)
                    if current is not None:
                        store.api_keys.put({**current, "last_login_time": now})
        else:
            key = store.access_keys.get(key_id)
            app = store.applications.get(key["application_id"]) if key else None
            if key is None or app is None:
                raise invalid
            if key.get("status") != "ACTIVE" or app.get("status") != "ACTIVE":
                raise invalid
            if key.get("expiration") and key["expiration"] <= iso_s(now):
                raise invalid
            groups = tuple(app.get("groups") or ())
            self._touch_access_key(key, app, now)
        return Principal(kind, key_id, groups, store.admin_group_id in groups)

    def _touch_access_key(self, key: dict, app: dict, now: int) -> None:
        stamp = iso_s(now)
        if key.get("last_used_at", "")[:16] == stamp[:16]:
            return  # already recorded this minute
        with self.store.lock:
            for coll, oid in (
                (self.store.access_keys, key["id"]),
                (self.store.applications, app["id"]),
            ):
                current = coll.get(oid)
                if current is not None:
                    coll.put({**current, "last_used_at": stamp})

    # --- lists ------------------------------------------------------------------------------------
    def list_query(self, req: Request) -> ListQuery:
        route_facts = req.route_facts
        directory = req.template.endswith("/")
        query = parse_list_query(
            req.query,
            filters=route_facts.get("filters", {}),
            clamp_limit=directory,
            legacy_filter="filter" in route_facts.get("query", ()),
            # Devices (also a group's devices) and device groups carry attribute maps.
            custom_attributes=req.template.endswith(("devices/", "/v3/device-groups/")),
        )
        if not directory:
            # The IAM list schemas require total_count, so IAM lists always report it.
            query.include.add("total_count")
        return query


def list_response(query: ListQuery, page: Page) -> Response:
    envelope: dict[str, Any] = {
        "object": "list",
        "limit": query.limit,
        "after": query.after,
        "order": query.order,
        "has_more": page.has_more,
    }
    if page.total_count is not None:
        envelope["total_count"] = page.total_count
    head = json.dumps(envelope, separators=(",", ":"))[:-1].encode()
    body = b"".join((head, b',"data":[', b",".join(page.items), b"]}"))
    return Response(200, body)


def json_response(status: int, obj: Any) -> Response:
    return Response(status, json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


def cached_response(status: int, raw: bytes) -> Response:
    return Response(status, raw)


def no_content() -> Response:
    return Response(204, b"")
