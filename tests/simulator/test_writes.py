"""Writes change state for later reads; validation answers like the real service."""

from __future__ import annotations

import pytest

MISSING_ID = "0000000000000000000000000000dead"


def _fields(r) -> list[str]:
    return [f["name"] for f in r.json()["fields"]]


def test_device_update_is_visible_and_recorded(fresh_admin):
    device = fresh_admin.get("/v3/devices/", params={"limit": 2}).json()["data"][0]
    r = fresh_admin.put(
        f"/v3/devices/{device['id']}/",
        json={"name": "Renamed", "custom_attributes": {"site": "Leeds"}, "endpoint_name": "x"},
    )
    assert r.status_code == 200
    updated = r.json()
    assert updated["name"] == "Renamed"
    assert updated["custom_attributes"] == {"site": "Leeds"}
    assert updated["endpoint_name"] == device["endpoint_name"]  # read-only, ignored
    assert updated["updated_at"] > device["updated_at"]
    assert updated["etag"] != device["etag"]
    again = fresh_admin.get(f"/v3/devices/{device['id']}/").json()
    assert again == updated
    listed = fresh_admin.get("/v3/devices/", params={"name__eq": "Renamed"}).json()["data"]
    assert [d["id"] for d in listed] == [device["id"]]
    events = fresh_admin.get(
        "/v3/device-events/", params={"device_id__eq": device["id"], "order": "DESC"}
    ).json()["data"]
    assert events[0]["event_type"] == "update.device.device-updated"
    assert events[0]["changes"]["name"] == {"old": device["name"], "new": "Renamed"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x" * 129}, "name"),
        ({"description": "x" * 2001}, "description"),
        ({"custom_attributes": {f"k{i}": "v" for i in range(6)}}, "custom_attributes"),
        ({"custom_attributes": {"1st": "v"}}, "custom_attributes"),
        ({"custom_attributes": {"k": "v" * 129}}, "custom_attributes"),
        ({"custom_attributes": {"k": 5}}, "custom_attributes"),
        ({"name": 42}, "name"),
        ({"auto_update": "yes"}, "auto_update"),
    ],
)
def test_device_update_validation(fresh_admin, body, field):
    device = fresh_admin.get("/v3/devices/", params={"limit": 2}).json()["data"][0]
    r = fresh_admin.put(f"/v3/devices/{device['id']}/", json=body)
    assert r.status_code == 400
    assert r.json()["type"] == "validation_error"
    assert _fields(r) == [field]


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1,2]", b"\xff\xfe", b"9" * 5000])
def test_malformed_bodies_are_400(fresh_admin, body):
    device = fresh_admin.get("/v3/devices/", params={"limit": 2}).json()["data"][0]
    r = fresh_admin.put(
        f"/v3/devices/{device['id']}/", data=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["object"] == "error"


def test_huge_body_is_400_not_a_dropped_connection(fresh_admin):
    r = fresh_admin.post("/v3/policy-groups", data=b"x" * 1_500_000)
    assert r.status_code == 400


def test_unknown_and_malformed_ids_are_404(fresh_admin):
    for path in (
        f"/v3/devices/{MISSING_ID}/",
        "/v3/devices/not-a-device-id/",
        f"/v3/users/{MISSING_ID}",
        "/v3/users/ZZZ",
        f"/v3/device-groups/{MISSING_ID}/",
        f"/v3/device-events/{MISSING_ID}/",
        f"/v3/applications/{MISSING_ID}",
        f"/v3/access-keys/{MISSING_ID}",
    ):
        r = fresh_admin.get(path)
        assert r.status_code == 404, path
        assert r.json()["type"] == "not_found"


def test_delete_device_with_production_certificate_is_400(fresh_admin):
    devices = fresh_admin.all("/v3/devices/")
    production = next(d for d in devices if d["device_execution_mode"] == 5)
    development = next(d for d in devices if d["device_execution_mode"] != 5)
    assert fresh_admin.delete(f"/v3/devices/{production['id']}/").status_code == 400
    assert fresh_admin.delete(f"/v3/devices/{development['id']}/").status_code == 204
    assert fresh_admin.get(f"/v3/devices/{development['id']}/").status_code == 404


def test_suspend_and_resume(fresh_admin):
    devices = fresh_admin.all("/v3/devices/", {"state__eq": "registered"})
    device = next(d for d in devices if not d["operator_suspended"])
    path = f"/v3/devices/{device['id']}"
    r = fresh_admin.post(f"{path}/suspend", json={"category": "maintenance", "description": "Q"})
    assert r.status_code == 204
    after = fresh_admin.get(f"{path}/").json()
    assert after["lifecycle_status"] == "blocked"
    assert after["operator_suspended"] is True
    assert after["state"] == "deregistered"
    assert after["last_operator_suspended_category"] == "maintenance"
    assert (
        fresh_admin.post(f"{path}/suspend", json={"category": "Bad Category!"}).status_code == 400
    )
    assert fresh_admin.post(f"{path}/resume", json={"description": "back"}).status_code == 204
    resumed = fresh_admin.get(f"{path}/").json()
    assert resumed["lifecycle_status"] == "enabled"
    assert resumed["operator_suspended"] is False


def test_device_group_lifecycle_keeps_counts_consistent(fresh_admin):
    r = fresh_admin.post("/v3/device-groups/", json={"name": "Test group", "description": "d"})
    assert r.status_code == 201
    group = r.json()
    assert group["devices_count"] == 0
    dup = fresh_admin.post("/v3/device-groups/", json={"name": "Test group"})
    assert dup.status_code == 409
    device = fresh_admin.get("/v3/devices/", params={"limit": 2}).json()["data"][1]
    add = f"/v3/device-groups/{group['id']}/devices/add/"
    assert fresh_admin.post(add, json={"device_id": device["id"]}).status_code == 204
    assert fresh_admin.post(add, json={"device_id": MISSING_ID}).status_code == 404
    assert fresh_admin.post(add, json={}).status_code == 400
    assert fresh_admin.get(f"/v3/device-groups/{group['id']}/").json()["devices_count"] == 1
    assert group["id"] in fresh_admin.get(f"/v3/devices/{device['id']}/").json()["groups"]
    members = fresh_admin.get(f"/v3/device-groups/{group['id']}/devices/").json()["data"]
    assert [d["id"] for d in members] == [device["id"]]
    remove = f"/v3/device-groups/{group['id']}/devices/remove/"
    assert fresh_admin.post(remove, json={"device_id": device["id"]}).status_code == 204
    assert fresh_admin.get(f"/v3/device-groups/{group['id']}/").json()["devices_count"] == 0
    renamed = fresh_admin.put(f"/v3/device-groups/{group['id']}/", json={"name": "Renamed"})
    assert renamed.json()["name"] == "Renamed"
    assert fresh_admin.delete(f"/v3/device-groups/{group['id']}/").status_code == 204
    assert fresh_admin.get(f"/v3/device-groups/{group['id']}/").status_code == 404


def test_user_create_validation_and_duplicates(fresh_admin):
    bad = fresh_admin.post("/v3/users", json={"email": "not-an-email"})
    assert bad.status_code == 400
    assert bad.json()["type"] == "validation_error"
    assert _fields(bad) == ["email"]
    assert _fields(fresh_admin.post("/v3/users", json={"full_name": "No Email"})) == ["email"]
    long_name = fresh_admin.post(
        "/v3/users", json={"email": "a@example.com", "full_name": "x" * 101}
    )
    assert _fields(long_name) == ["full_name"]
    ok = fresh_admin.post("/v3/users", json={"email": "new.person@example.com", "full_name": "N"})
    assert ok.status_code == 201
    user = ok.json()
    assert user["status"] == "ENROLLING"
    dup = fresh_admin.post("/v3/users", json={"email": "new.person@example.com"})
    assert dup.status_code == 409
    assert dup.json()["type"] == "duplicate"
    found = fresh_admin.get("/v3/users", params={"email__eq": "new.person@example.com"}).json()
    assert [u["id"] for u in found["data"]] == [user["id"]]


def test_user_update_delete_and_groups(fresh_admin):
    users = fresh_admin.all("/v3/users")
    active = next(u for u in users if u["status"] == "ACTIVE")
    r = fresh_admin.delete(f"/v3/users/{active['id']}")
    assert r.status_code == 400
    groups = {g["name"]: g for g in fresh_admin.all("/v3/policy-groups")}
    auditors = groups["Auditors"]
    owners = {k.get("owner") for k in fresh_admin.all("/v3/api-keys")}
    # Not an owner of API keys: deleting a user deletes its keys, the admin key included.
    user = next(u for u in users if auditors["id"] not in u["groups"] and u["id"] not in owners)
    add = fresh_admin.post(f"/v3/users/{user['id']}/groups/add", json=[auditors["id"]])
    assert add.status_code == 200
    assert auditors["id"] in add.json()["groups"]
    again = fresh_admin.post(f"/v3/users/{user['id']}/groups/add", json=[auditors["id"]])
    assert again.status_code == 409
    assert fresh_admin.get(f"/v3/policy-groups/{auditors['id']}").json()["user_count"] == (
        auditors["user_count"] + 1
    )
    members = fresh_admin.all(f"/v3/policy-groups/{auditors['id']}/users")
    assert user["id"] in [m["id"] for m in members]
    mine = fresh_admin.all(f"/v3/users/{user['id']}/groups")
    assert auditors["id"] in [g["id"] for g in mine]
    fresh_admin.post(f"/v3/users/{user['id']}/groups/remove", json=[auditors["id"]])
    assert (
        fresh_admin.get(f"/v3/policy-groups/{auditors['id']}").json()["user_count"]
        == (auditors["user_count"])
    )
    put = fresh_admin.put(f"/v3/users/{user['id']}", json={"status": "INACTIVE"})
    assert put.json()["status"] == "INACTIVE"
    assert fresh_admin.delete(f"/v3/users/{user['id']}").status_code == 204
    assert fresh_admin.get(f"/v3/users/{user['id']}").status_code == 404


def test_deleting_a_user_deletes_its_api_keys(fresh_admin):
    keys = fresh_admin.all("/v3/api-keys")
    users = {u["id"]: u for u in fresh_admin.all("/v3/users")}
    owned = next(k for k in keys if k.get("owner") and users[k["owner"]]["status"] == "INACTIVE")
    assert fresh_admin.delete(f"/v3/users/{owned['owner']}").status_code == 204
    assert fresh_admin.get(f"/v3/api-keys/{owned['id']}").status_code == 404


def test_invitation_creates_an_invited_user(fresh_admin):
    r = fresh_admin.post("/v3/user-invitations", json={"email": "guest@example.com"})
    assert r.status_code == 201
    invitation = r.json()
    user = fresh_admin.get(f"/v3/users/{invitation['user_id']}").json()
    assert user["status"] == "INVITED"
    assert user["email"] == "guest@example.com"
    assert invitation["expiration"] > invitation["created_at"]
    listed = [i["id"] for i in fresh_admin.all("/v3/user-invitations")]
    assert invitation["id"] in listed
    bad = fresh_admin.post("/v3/user-invitations", json={"email": "x", "valid_for_days": 500})
    assert sorted(_fields(bad)) == ["email", "valid_for_days"]
    assert fresh_admin.delete(f"/v3/user-invitations/{invitation['id']}").status_code == 204
    assert fresh_admin.get(f"/v3/user-invitations/{invitation['id']}").status_code == 404


def test_policy_group_rules(fresh_admin):
    assert _fields(fresh_admin.post("/v3/policy-groups", json={})) == ["name"]
    assert _fields(fresh_admin.post("/v3/policy-groups", json={"name": "x" * 101})) == ["name"]
    assert fresh_admin.post("/v3/policy-groups", json={"name": "Developers"}).status_code == 409
    created = fresh_admin.post("/v3/policy-groups", json={"name": "Night shift"})
    assert created.status_code == 201
    group = created.json()
    key = fresh_admin.all("/v3/api-keys")[-1]
    path = f"/v3/policy-groups/{group['id']}/api-keys"
    assert (
        fresh_admin.post(f"{path}/add", json={"apikeys": [key["id"]]}).json()["apikey_count"] == 1
    )
    assert fresh_admin.post(f"{path}/add", json={"apikeys": [key["id"]]}).status_code == 409
    assert fresh_admin.post(f"{path}/add", json={"apikeys": [MISSING_ID]}).status_code == 400
    assert [k["id"] for k in fresh_admin.all(path)] == [key["id"]]
    admins = next(g for g in fresh_admin.all("/v3/policy-groups") if g["name"] == "Administrators")
    r = fresh_admin.delete(f"/v3/policy-groups/{admins['id']}")
    assert r.status_code == 403
    assert fresh_admin.delete(f"/v3/policy-groups/{group['id']}").status_code == 204
    assert group["id"] not in fresh_admin.get(f"/v3/api-keys/{key['id']}").json()["groups"]


def test_created_api_key_works_at_once_and_stops_when_deactivated_or_deleted(fresh_admin):
    r = fresh_admin.post("/v3/api-keys", json={"name": "Temporary"})
    assert r.status_code == 201
    created = r.json()
    full = created["key"]
    assert full.startswith("ak_")
    assert fresh_admin.get("/v3/devices/", key=full).status_code == 200
    shown = fresh_admin.get(f"/v3/api-keys/{created['id']}").json()["key"]
    assert full.startswith(shown)
    assert len(full) - len(shown) == 32
    assert fresh_admin.get("/v3/users", key=full).status_code == 403  # Developers by default
    off = fresh_admin.put(f"/v3/api-keys/{created['id']}", json={"status": "INACTIVE"})
    assert off.status_code == 200
    assert fresh_admin.get("/v3/devices/", key=full).status_code == 401
    fresh_admin.put(f"/v3/api-keys/{created['id']}", json={"status": "ACTIVE"})
    assert fresh_admin.get("/v3/devices/", key=full).status_code == 200
    assert fresh_admin.delete(f"/v3/api-keys/{created['id']}").status_code == 204
    assert fresh_admin.get("/v3/devices/", key=full).status_code == 401
    assert _fields(fresh_admin.post("/v3/api-keys", json={})) == ["name"]


def test_created_access_key_works_and_stops(fresh_admin):
    apps = fresh_admin.all("/v3/applications", {"status__eq": "ACTIVE"})
    app = apps[0]
    r = fresh_admin.post(f"/v3/applications/{app['id']}/access-keys", json={"name": "CI"})
    assert r.status_code == 201
    key = r.json()
    assert fresh_admin.get("/v3/devices/", key=key["key"]).status_code == 200
    listed = fresh_admin.all("/v3/access-keys", {"application_id__eq": app["id"]})
    assert key["id"] in [k["id"] for k in listed]
    assert all(len(k["key"]) < len(key["key"]) for k in listed)
    path = f"/v3/applications/{app['id']}/access-keys/{key['id']}"
    assert fresh_admin.put(path, json={"status": "INACTIVE"}).json()["status"] == "INACTIVE"
    assert fresh_admin.get("/v3/devices/", key=key["key"]).status_code == 401
    fresh_admin.put(path, json={"status": "ACTIVE"})
    expired = fresh_admin.put(path, json={"expiration": "2020-01-01T00:00:00Z"})
    assert expired.status_code == 200
    assert fresh_admin.get("/v3/devices/", key=key["key"]).status_code == 401
    fresh_admin.put(path, json={"expiration": None})
    assert fresh_admin.get("/v3/devices/", key=key["key"]).status_code == 200
    assert fresh_admin.delete(path).status_code == 204
    assert fresh_admin.get("/v3/devices/", key=key["key"]).status_code == 401


def test_application_groups_decide_access_key_rights(fresh_admin):
    created = fresh_admin.post("/v3/applications", json={"name": "Robot"}).json()
    key = fresh_admin.post(
        f"/v3/applications/{created['id']}/access-keys", json={"name": "k"}
    ).json()["key"]
    assert fresh_admin.get("/v3/users", key=key).status_code == 403
    admins = next(g for g in fresh_admin.all("/v3/policy-groups") if g["name"] == "Administrators")
    add = fresh_admin.post(f"/v3/applications/{created['id']}/groups/add", json=[admins["id"]])
    assert add.status_code == 204
    assert fresh_admin.get("/v3/users", key=key).status_code == 200
    groups = fresh_admin.all(f"/v3/applications/{created['id']}/groups")
    assert admins["id"] in [g["id"] for g in groups]
    count = fresh_admin.get(f"/v3/policy-groups/{admins['id']}").json()["application_count"]
    assert count == admins["application_count"] + 1
    fresh_admin.put(f"/v3/applications/{created['id']}", json={"status": "INACTIVE"})
    assert fresh_admin.get("/v3/devices/", key=key).status_code == 401
    assert fresh_admin.delete(f"/v3/applications/{created['id']}").status_code == 204
