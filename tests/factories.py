"""IAM records as the Device Management API returns them, and helpers for reading what the
fake API (`responses`) was sent. Plain functions, imported by the tests that use them."""

import json
from urllib.parse import parse_qs, urlsplit

from tests.conftest import API

ACCOUNT_ID = "a" * 32
OWN_KEY_ID = "0" * 31 + "f"  # the id of the API key the test connection uses (own_key)
GROUP_ADMINS = "a" * 32
GROUP_DEVS = "b" * 32
HTMX = {"HTTP_HX_REQUEST": "true"}
CREATED = "2025-01-02T03:04:05Z"


def hexid(n, kind="1"):
    """A 32-hex id; `kind` is its first digit (1 users, 2 API keys, 3 applications, ...)."""
    return f"{kind}{n:031x}"


def record(kind, record_id, **fields):
    """What every IAM record has (object, id, account, creation time, etag), then `fields`
    (the builders below give their own fields, then the test's: `user(1, status="INACTIVE")`)."""
    return {
        "object": kind,
        "id": record_id,
        "account_id": ACCOUNT_ID,
        "created_at": CREATED,
        "etag": "1",
        **fields,
    }


def user(n=0, **fields):
    return (
        record(
            "user",
            hexid(n, "1"),
            email=f"user{n}@example.com",
            full_name=f"User {n}",
            status="ACTIVE",
            is_totp_enabled=n % 2 == 0,
            last_login_time=1_760_000_000_000 + n,
            groups=[GROUP_DEVS],
        )
        | fields
    )


def group(gid=GROUP_DEVS, name="Developers", **fields):
    counts = {"user_count": 3, "apikey_count": 2, "application_count": 1}
    return record("group", gid, name=name, created_at="2024-01-01T00:00:00Z", **counts) | fields


GROUPS = [group(GROUP_ADMINS, "Administrators"), group(GROUP_DEVS, "Developers")]


def api_key(n=0, **fields):
    key_id = fields.pop("id", hexid(n, "2"))
    base = {
        "name": f"Key {n}",
        "key": f"ak_1PUBLICPART{key_id}",
        "status": "ACTIVE",
        "groups": [GROUP_DEVS],
        "owner": hexid(n, "1"),
        "creation_time": 1_735_787_045_000,
        "last_login_time": 0,
    }
    return record("api-key", key_id, **base) | fields


def application(n=0, **fields):
    base = {"name": f"App {n}", "description": "", "status": "ACTIVE", "groups": [GROUP_DEVS]}
    return record("application", hexid(n, "3"), **base) | fields


def access_key(n=0, app=0, **fields):
    key_id = hexid(n, "4")
    base = {
        "application_id": hexid(app, "3"),
        "name": f"Access key {n}",
        "key": f"ak_1PUBLICPART{key_id}",
        "status": "ACTIVE",
    }
    return record("access-key", key_id, **base) | fields


def invitation(n=0, **fields):
    base = {
        "email": f"new{n}@example.com",
        "user_id": hexid(n, "1"),
        "groups": [GROUP_DEVS],
        "expiration": "2099-01-01T00:00:00Z",
    }
    return record("user-invitation", hexid(n, "5"), **base) | fields


# -- what the fake API was sent ---------------------------------------------------------------


def url(path):
    return f"{API}{path}"


def sent_params(call):
    return {k: v[0] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


def sent_json(call):
    return json.loads(call.request.body)


def paths(api):
    """ "METHOD /path" of every call the fake API received, in order."""
    return [f"{c.request.method} {urlsplit(c.request.url).path}" for c in api.calls]


def activity():
    """The activity entries the pages wrote (not the sign-in of the test client)."""
    from dmportal.accounts.models import ActivityEntry

    return ActivityEntry.objects.exclude(action__in=("signin", "signout")).order_by("pk")
