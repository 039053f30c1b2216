"""Builders of IAM objects as the API returns them, and helpers for the team tests."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import API

OWN_KEY_ID = "0" * 31 + "f"  # the id of the API key the test connection uses
GROUP_ADMINS = "a" * 32
GROUP_DEVS = "b" * 32
HTMX = {"HTTP_HX_REQUEST": "true"}


def hexid(n, kind="1"):
    return f"{kind}{n:031x}"


def user(n=0, **fields):
    base = {
        "object": "user",
        "id": hexid(n, "1"),
        "account_id": "a" * 32,
        "email": f"user{n}@example.com",
        "full_name": f"User {n}",
        "status": "ACTIVE",
        "is_totp_enabled": n % 2 == 0,
        "last_login_time": 1_760_000_000_000 + n,
        "groups": [GROUP_DEVS],
        "created_at": "2025-01-02T03:04:05Z",
        "etag": "1",
    }
    base.update(fields)
    return base


def group(gid=GROUP_DEVS, name="Developers", **fields):
    base = {
        "object": "group",
        "id": gid,
        "account_id": "a" * 32,
        "name": name,
        "user_count": 3,
        "apikey_count": 2,
        "application_count": 1,
        "created_at": "2024-01-01T00:00:00Z",
        "etag": "1",
    }
    base.update(fields)
    return base


GROUPS = [group(GROUP_ADMINS, "Administrators"), group(GROUP_DEVS, "Developers")]


def api_key(n=0, **fields):
    key_id = fields.pop("id", hexid(n, "2"))
    base = {
        "object": "api-key",
        "id": key_id,
        "account_id": "a" * 32,
        "name": f"Key {n}",
        "key": f"ak_1PUBLICPART{key_id}",
        "status": "ACTIVE",
        "groups": [GROUP_DEVS],
        "owner": hexid(n, "1"),
        "created_at": "2025-01-02T03:04:05Z",
        "creation_time": 1_735_787_045_000,
        "last_login_time": 0,
        "etag": "1",
    }
    base.update(fields)
    return base


def application(n=0, **fields):
    base = {
        "object": "application",
        "id": hexid(n, "3"),
        "account_id": "a" * 32,
        "name": f"App {n}",
        "description": "",
        "status": "ACTIVE",
        "groups": [GROUP_DEVS],
        "created_at": "2025-01-02T03:04:05Z",
        "etag": "1",
    }
    base.update(fields)
    return base


def access_key(n=0, app=0, **fields):
    base = {
        "object": "access-key",
        "id": hexid(n, "4"),
        "account_id": "a" * 32,
        "application_id": hexid(app, "3"),
        "name": f"Access key {n}",
        "key": f"ak_1PUBLICPART{hexid(n, '4')}",
        "status": "ACTIVE",
        "created_at": "2025-01-02T03:04:05Z",
        "etag": "1",
    }
    base.update(fields)
    return base


def invitation(n=0, **fields):
    base = {
        "object": "user-invitation",
        "id": hexid(n, "5"),
        "account_id": "a" * 32,
        "email": f"new{n}@example.com",
        "user_id": hexid(n, "1"),
        "groups": [GROUP_DEVS],
        "created_at": "2025-01-02T03:04:05Z",
        "expiration": "2099-01-01T00:00:00Z",
        "etag": "1",
    }
    base.update(fields)
    return base


def url(path):
    return f"{API}{path}"


def sent_params(call):
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def sent_json(call):
    return json.loads(call.request.body)


def paths(api):
    """ "METHOD /path" of every call the fake API received, in order."""
    return [f"{c.request.method} {urlsplit(c.request.url).path}" for c in api.calls]


@pytest.fixture
def own_key(connection):
    """The test connection's key is the API key OWN_KEY_ID (as /v3/api-keys/me said)."""
    connection.key_id = OWN_KEY_ID
    connection.save(update_fields=["key_id"])
    return connection


def activity():
    """The activity entries the team pages wrote (not the sign-in of the test client)."""
    from dmportal.accounts.models import ActivityEntry

    return ActivityEntry.objects.exclude(action__in=("signin", "signout")).order_by("pk")
