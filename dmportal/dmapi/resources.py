"""Endpoint functions for what dmportal uses, named `<thing>_<action>`.

Paths are exactly those of the 2020-10-26 spec: device-directory paths end in `/`, IAM paths
do not. Ids are checked before they are put into a path, so nothing from a URL or form can
change which endpoint is called. Lists return a `Page`, single objects a `Record` (a dict with
`.request_id`).
"""

import re
from datetime import date, datetime

from .errors import InvalidRequest
from .filters import format_datetime
from .ids import is_id

DEVICE_STATES = ("unenrolled", "cloud_enrolling", "bootstrapped", "registered", "deregistered")
LIFECYCLE_STATUSES = ("enabled", "blocked")
DEPLOYED_STATES = ("development", "production")
MECHANISMS = ("connector", "direct")
USER_STATUSES = ("ACTIVE", "INVITED", "ENROLLING", "RESET", "INACTIVE")
KEY_STATUSES = ("ACTIVE", "INACTIVE")
APPLICATION_STATUSES = ("ACTIVE", "INACTIVE")
ACCESS_KEY_STATUSES = ("ACTIVE", "INACTIVE", "EXPIRED")


def check_id(value, what="id"):
    if not is_id(value):
        raise InvalidRequest(f"{what} must be 32 lowercase hexadecimal characters.")
    return value


def _list(client, path, **kwargs):
    return client.page(path, **kwargs)


# -- devices ----------------------------------------------------------------------------------


def device_page(client, **kwargs):
    return _list(client, "/v3/devices/", **kwargs)


def device_get(client, device_id):
    return client.get(f"/v3/devices/{check_id(device_id, 'device id')}/")


def device_update(client, device_id, changes):
    return client.send("PUT", f"/v3/devices/{check_id(device_id, 'device id')}/", changes)


def device_event_page(client, **kwargs):
    return _list(client, "/v3/device-events/", **kwargs)


def device_event_get(client, event_id):
    return client.get(f"/v3/device-events/{check_id(event_id, 'event id')}/")


def device_group_page(client, **kwargs):
    return _list(client, "/v3/device-groups/", **kwargs)


def device_group_get(client, group_id):
    return client.get(f"/v3/device-groups/{check_id(group_id, 'group id')}/")


def device_group_device_page(client, group_id, **kwargs):
    return _list(client, f"/v3/device-groups/{check_id(group_id, 'group id')}/devices/", **kwargs)


# -- account ----------------------------------------------------------------------------------


def account_me(client, include=None):
    return client.get("/v3/accounts/me", {"include": include} if include else None)


# -- users and invitations --------------------------------------------------------------------


def user_page(client, **kwargs):
    return _list(client, "/v3/users", **kwargs)


def user_get(client, user_id):
    return client.get(f"/v3/users/{check_id(user_id, 'user id')}")


def user_update(client, user_id, changes):
    return client.send("PUT", f"/v3/users/{check_id(user_id, 'user id')}", changes)


def user_delete(client, user_id):
    return client.send("DELETE", f"/v3/users/{check_id(user_id, 'user id')}")


def user_group_page(client, user_id, **kwargs):
    return _list(client, f"/v3/users/{check_id(user_id, 'user id')}/groups", **kwargs)


def invitation_page(client, **kwargs):
    return _list(client, "/v3/user-invitations", **kwargs)


def invitation_create(client, *, email, groups=(), valid_for_days=None):
    body = {"email": email}
    if groups:
        body["groups"] = [check_id(g, "group id") for g in groups]
    if valid_for_days is not None:
        body["valid_for_days"] = valid_for_days
    return client.send("POST", "/v3/user-invitations", body)


def invitation_get(client, invitation_id):
    return client.get(f"/v3/user-invitations/{check_id(invitation_id, 'invitation id')}")


def invitation_delete(client, invitation_id):
    return client.send("DELETE", f"/v3/user-invitations/{check_id(invitation_id, 'invitation id')}")


# -- policy groups ----------------------------------------------------------------------------


def policy_group_page(client, **kwargs):
    return _list(client, "/v3/policy-groups", **kwargs)


def policy_group_get(client, group_id):
    return client.get(f"/v3/policy-groups/{check_id(group_id, 'group id')}")


def policy_group_create(client, *, name):
    return client.send("POST", "/v3/policy-groups", {"name": name})


def policy_group_rename(client, group_id, *, name):
    return client.send("PUT", f"/v3/policy-groups/{check_id(group_id, 'group id')}", {"name": name})


def policy_group_delete(client, group_id):
    return client.send("DELETE", f"/v3/policy-groups/{check_id(group_id, 'group id')}")


MEMBER_KINDS = {"users": "users", "api-keys": "apikeys", "applications": "applications"}


def policy_group_member_page(client, group_id, kind, **kwargs):
    """Members of a group; `kind` is "users", "api-keys" or "applications"."""
    if kind not in MEMBER_KINDS:
        raise InvalidRequest(f"Unknown group member kind {kind!r}.")
    return _list(client, f"/v3/policy-groups/{check_id(group_id, 'group id')}/{kind}", **kwargs)


def policy_group_members_change(client, group_id, kind, action, member_ids):
    """Add or remove members: POST .../{kind}/add|remove with a SubjectList body."""
    if kind not in MEMBER_KINDS or action not in ("add", "remove"):
        raise InvalidRequest(f"Unknown group membership change {kind!r} {action!r}.")
    body = {MEMBER_KINDS[kind]: [check_id(m, "member id") for m in member_ids]}
    path = f"/v3/policy-groups/{check_id(group_id, 'group id')}/{kind}/{action}"
    return client.send("POST", path, body)


# -- API keys (legacy model) ------------------------------------------------------------------


def api_key_page(client, **kwargs):
    return _list(client, "/v3/api-keys", **kwargs)


def api_key_get(client, key_id):
    return client.get(f"/v3/api-keys/{check_id(key_id, 'API key id')}")


def api_key_me(client):
    return client.get("/v3/api-keys/me")


def api_key_me_group_page(client, **kwargs):
    """The policy groups of the calling key (of an access key: of its application)."""
    return _list(client, "/v3/api-keys/me/groups", **kwargs)


def api_key_create(client, *, name, owner=None, groups=()):
    body = {"name": name}
    if owner:
        body["owner"] = check_id(owner, "owner id")
    if groups:
        body["groups"] = [check_id(g, "group id") for g in groups]
    return client.send("POST", "/v3/api-keys", body)


def api_key_update(client, key_id, changes):
    return client.send("PUT", f"/v3/api-keys/{check_id(key_id, 'API key id')}", changes)


def api_key_delete(client, key_id):
    return client.send("DELETE", f"/v3/api-keys/{check_id(key_id, 'API key id')}")


def api_key_group_page(client, key_id, **kwargs):
    return _list(client, f"/v3/api-keys/{check_id(key_id, 'API key id')}/groups", **kwargs)


# -- applications and access keys -------------------------------------------------------------


def application_page(client, **kwargs):
    return _list(client, "/v3/applications", **kwargs)


def application_get(client, application_id):
    return client.get(f"/v3/applications/{check_id(application_id, 'application id')}")


def application_create(client, *, name, description=None, groups=()):
    body = {"name": name}
    if description:
        body["description"] = description
    if groups:
        body["groups"] = [check_id(g, "group id") for g in groups]
    return client.send("POST", "/v3/applications", body)


def application_update(client, application_id, changes):
    path = f"/v3/applications/{check_id(application_id, 'application id')}"
    return client.send("PUT", path, changes)


def application_delete(client, application_id):
    path = f"/v3/applications/{check_id(application_id, 'application id')}"
    return client.send("DELETE", path)


def application_group_page(client, application_id, **kwargs):
    path = f"/v3/applications/{check_id(application_id, 'application id')}/groups"
    return _list(client, path, **kwargs)


def application_groups_change(client, application_id, action, group_ids):
    if action not in ("add", "remove"):
        raise InvalidRequest(f"Unknown group change {action!r}.")
    path = f"/v3/applications/{check_id(application_id, 'application id')}/groups/{action}"
    return client.send("POST", path, [check_id(g, "group id") for g in group_ids])


def access_key_page(client, application_id, **kwargs):
    path = f"/v3/applications/{check_id(application_id, 'application id')}/access-keys"
    return _list(client, path, **kwargs)


def access_key_all_page(client, **kwargs):
    return _list(client, "/v3/access-keys", **kwargs)


def _access_key_path(application_id, key_id):
    return (
        f"/v3/applications/{check_id(application_id, 'application id')}"
        f"/access-keys/{check_id(key_id, 'access key id')}"
    )


def access_key_get(client, application_id, key_id):
    return client.get(_access_key_path(application_id, key_id))


def access_key_create(client, application_id, *, name, description=None, expiration=None):
    body = {"name": name}
    if description:
        body["description"] = description
    if expiration:
        body["expiration"] = expiration
    path = f"/v3/applications/{check_id(application_id, 'application id')}/access-keys"
    return client.send("POST", path, body)


def access_key_update(client, application_id, key_id, changes):
    return client.send("PUT", _access_key_path(application_id, key_id), changes)


def access_key_delete(client, application_id, key_id):
    return client.send("DELETE", _access_key_path(application_id, key_id))


# -- device queries (saved views) -------------------------------------------------------------

DEVICE_QUERY_NAME_MAX = 200
DEVICE_QUERY_MAX = 1000


def _text(value, field, max_length, *, required=True):
    """A string field of a write body, checked against the API's limit before any call."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        message = f"{field} must be text." if value is not None else f"{field} is required."
        if isinstance(value, str):
            message = f"{field} must not be empty."
        raise InvalidRequest(message, fields=((field, message),))
    if len(value) > max_length:
        message = f"{field} must be at most {max_length} characters (got {len(value)})."
        raise InvalidRequest(message, fields=((field, message),))
    return value


def device_query_page(client, **kwargs):
    return _list(client, "/v3/device-queries/", **kwargs)


def device_query_get(client, query_id):
    return client.get(f"/v3/device-queries/{check_id(query_id, 'device query id')}/")


def device_query_create(client, *, name, query):
    body = {
        "name": _text(name, "name", DEVICE_QUERY_NAME_MAX),
        "query": _text(query, "query", DEVICE_QUERY_MAX),
    }
    return client.send("POST", "/v3/device-queries/", body)


def device_query_update(client, query_id, *, name, query):
    """PUT takes the whole query: the spec requires both `name` and `query`."""
    path = f"/v3/device-queries/{check_id(query_id, 'device query id')}/"
    body = {
        "name": _text(name, "name", DEVICE_QUERY_NAME_MAX),
        "query": _text(query, "query", DEVICE_QUERY_MAX),
    }
    return client.send("PUT", path, body)


def device_query_delete(client, query_id):
    return client.send("DELETE", f"/v3/device-queries/{check_id(query_id, 'device query id')}/")


def device_page_for_query(client, query, **kwargs):
    """The devices a device query's text selects, sent verbatim as the legacy `filter=`
    parameter (`state__eq=registered&custom_attributes__site__eq=7`). Other arguments as for
    `device_page`; filters given as well combine with it (a parameter given both ways wins)."""
    query = _text(query, "query", DEVICE_QUERY_MAX)
    params = dict(kwargs.pop("params", None) or {})
    params["filter"] = query
    return _list(client, "/v3/devices/", params=params, **kwargs)


# -- device lifecycle: block categories, suspend and resume -----------------------------------

BLOCK_CATEGORY = re.compile(r"[a-z0-9_]{1,32}")
BLOCK_DESCRIPTION_MAX = 2000


def _category(value, *, required):
    if value is None and not required:
        return None
    if not isinstance(value, str) or not BLOCK_CATEGORY.fullmatch(value):
        message = "category must be a block category reference (a-z, 0-9, _; 1 to 32)."
        raise InvalidRequest(message, fields=(("category", message),))
    return value


def block_category_page(client, **kwargs):
    """Every block category (the endpoint does not page: `limit` and `after` are ignored)."""
    return _list(client, "/v3/device-block-categories/", **kwargs)


def block_category_get(client, reference):
    return client.get(f"/v3/device-block-categories/{_category(reference, required=True)}")


def device_suspend(client, device_id, *, category, description=None):
    body = {"category": _category(category, required=True)}
    if description is not None:
        body["description"] = _text(
            description, "description", BLOCK_DESCRIPTION_MAX, required=False
        )
    path = f"/v3/devices/{check_id(device_id, 'device id')}/suspend"
    return client.send("POST", path, body)


def device_resume(client, device_id, *, category=None, description=None):
    """The category, when given, must be the one the device was suspended with."""
    body = {}
    if category is not None:
        body["category"] = _category(category, required=True)
    if description is not None:
        body["description"] = _text(
            description, "description", BLOCK_DESCRIPTION_MAX, required=False
        )
    path = f"/v3/devices/{check_id(device_id, 'device id')}/resume"
    return client.send("POST", path, body)


# -- device groups: writes and membership ------------------------------------------------------

DEVICE_GROUP_NAME_MAX = 128
DEVICE_GROUP_DESCRIPTION_MAX = 1024
DEVICE_GROUP_ATTRIBUTES_MAX = 10
ATTRIBUTE_TEXT_MAX = 128


def _attributes(value):
    message = (
        f"custom_attributes holds at most {DEVICE_GROUP_ATTRIBUTES_MAX} names and values of "
        f"at most {ATTRIBUTE_TEXT_MAX} characters; a name cannot begin with a digit."
    )
    if not isinstance(value, dict) or len(value) > DEVICE_GROUP_ATTRIBUTES_MAX:
        raise InvalidRequest(message, fields=(("custom_attributes", message),))
    for key, item in value.items():
        if (
            not isinstance(key, str)
            or not isinstance(item, str)
            or not 1 <= len(key) <= ATTRIBUTE_TEXT_MAX
            or key[0].isdigit()
            or len(item) > ATTRIBUTE_TEXT_MAX
        ):
            raise InvalidRequest(message, fields=(("custom_attributes", message),))
    return dict(value)


def _group_body(changes, *, creating):
    unknown = set(changes) - {"name", "description", "custom_attributes"}
    if unknown:
        raise InvalidRequest(f"A device group has no field {sorted(unknown)[0]!r} to write.")
    body = {}
    if creating or "name" in changes:
        body["name"] = _text(changes.get("name"), "name", DEVICE_GROUP_NAME_MAX)
    if changes.get("description") is not None:
        text = _text(
            changes["description"], "description", DEVICE_GROUP_DESCRIPTION_MAX, required=False
        )
        body["description"] = text
    if changes.get("custom_attributes") is not None:
        body["custom_attributes"] = _attributes(changes["custom_attributes"])
    return body


def device_group_create(client, *, name, description=None, custom_attributes=None):
    changes = {"name": name, "description": description, "custom_attributes": custom_attributes}
    return client.send("POST", "/v3/device-groups/", _group_body(changes, creating=True))


def device_group_update(client, group_id, changes):
    """`changes`: any of name, description, custom_attributes (which replaces the whole map)."""
    path = f"/v3/device-groups/{check_id(group_id, 'group id')}/"
    return client.send("PUT", path, _group_body(dict(changes), creating=False))


def device_group_delete(client, group_id):
    return client.send("DELETE", f"/v3/device-groups/{check_id(group_id, 'group id')}/")


def _group_devices_change(client, group_id, device_id, action):
    path = f"/v3/device-groups/{check_id(group_id, 'group id')}/devices/{action}/"
    return client.send("POST", path, {"device_id": check_id(device_id, "device id")})


def device_group_devices_add(client, group_id, device_id):
    """Add one device (adding a member again is a 204 that changes nothing)."""
    return _group_devices_change(client, group_id, device_id, "add")


def device_group_devices_remove(client, group_id, device_id):
    """Remove one device (removing a non-member is a 204 that changes nothing)."""
    return _group_devices_change(client, group_id, device_id, "remove")


# -- account statistics (GET /v3/metrics) -----------------------------------------------------

METRICS = (
    "transactions",
    "full_registrations",
    "registration_updates",
    "deleted_registrations",
    "expired_registrations",
    "bootstraps_successful",
    "bootstraps_failed",
    "bootstraps_pending",
    "handshakes_successful",
    "connect_rest_api_success",
    "connect_rest_api_error",
    "device_proxy_request_success",
    "device_proxy_request_error",
    "device_subscription_request_success",
    "device_subscription_request_error",
    "device_observations",
)
METRIC_SPAN = re.compile(r"[1-9][0-9]{0,5}[mhdw]")  # 5m, 2h, 3d, 4w


def _metric_time(value, field):
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    raise InvalidRequest(f"{field} must be a date or a datetime.", fields=((field, "a date"),))


def metrics_page(
    client,
    *,
    include,
    interval,
    start=None,
    end=None,
    period=None,
    limit=None,
    after=None,
    order=None,
    include_total=False,
):
    """One page of account statistics: `include` names metrics of `METRICS`; `interval` and
    `period` look like "1d", "1h", "5m", "4w"; give `start` and `end` (dates or datetimes, end
    exclusive) or `period` (back from now). Items are `{"id", "timestamp", <metric>: int}`;
    walk with `after=page.next_cursor` (the envelope's own `after` is a timestamp)."""
    names = [include] if isinstance(include, str) else list(include or ())
    unknown = [n for n in names if n not in METRICS]
    if not names or unknown:
        raise InvalidRequest(
            f"Unknown metric {unknown[0]!r}." if unknown else "Name at least one metric.",
            fields=(("include", "metrics of the API's list"),),
        )
    for field, value in (("interval", interval), ("period", period)):
        if value is not None and (not isinstance(value, str) or not METRIC_SPAN.fullmatch(value)):
            raise InvalidRequest(
                f"{field} must look like 5m, 2h, 3d or 4w.", fields=((field, "e.g. 1d"),)
            )
    if interval is None:
        raise InvalidRequest("interval is required.", fields=(("interval", "e.g. 1d"),))
    if (period is None) == (start is None or end is None) or (period and (start or end)):
        raise InvalidRequest("Give start and end, or period.", fields=(("period", "or start/end"),))
    params = {"include": ",".join([*names, "total_count"] if include_total else names)}
    params["interval"] = interval
    if period is not None:
        params["period"] = period
    else:
        params["start"] = _metric_time(start, "start")
        params["end"] = _metric_time(end, "end")
    return _list(client, "/v3/metrics", params=params, limit=limit, after=after, order=order)
