"""Endpoint functions for what dmportal uses, named `<thing>_<action>`.

Paths are exactly those of the 2020-10-26 spec: device-directory paths end in `/`, IAM paths
do not. Ids are checked before they are put into a path, so nothing from a URL or form can
change which endpoint is called. Lists return a `Page`, single objects a `Record` (a dict with
`.request_id`).
"""

import re

from .errors import InvalidRequest

ID = re.compile(r"^[0-9a-f]{32}$")

DEVICE_STATES = ("unenrolled", "cloud_enrolling", "bootstrapped", "registered", "deregistered")
LIFECYCLE_STATUSES = ("enabled", "blocked")
DEPLOYED_STATES = ("development", "production")
MECHANISMS = ("connector", "direct")
USER_STATUSES = ("ACTIVE", "INVITED", "ENROLLING", "RESET", "INACTIVE")
KEY_STATUSES = ("ACTIVE", "INACTIVE")
APPLICATION_STATUSES = ("ACTIVE", "INACTIVE")
ACCESS_KEY_STATUSES = ("ACTIVE", "INACTIVE", "EXPIRED")


def check_id(value, what="id"):
    if not isinstance(value, str) or not ID.match(value):
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
