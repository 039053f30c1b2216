"""Block categories, suspend and resume, device creation, device-group writes and membership."""

from __future__ import annotations

import pytest

MISSING_ID = "0000000000000000000000000000dead"


def _fields(r) -> list[str]:
    assert r.status_code == 400, r.text
    return [f["name"] for f in r.json()["fields"]]


# --- block categories -------------------------------------------------------------------------
def test_block_categories_list_ignores_paging_and_filters(admin):
    body = admin.get("/v3/device-block-categories/", params={"include": "total_count"}).json()
    references = [c["reference"] for c in body["data"]]
    assert references == ["maintenance", "lost_or_stolen", "suspicious_activity"]
    assert body["total_count"] == 3
    assert body["has_more"] is False
    assert all(c["object"] == "device-block-category" and c["description"] for c in body["data"])
    ignored = admin.get(
        "/v3/device-block-categories/", params={"limit": 2, "after": "whatever"}
    ).json()
    assert [c["reference"] for c in ignored["data"]] == references
    desc = admin.get("/v3/device-block-categories/", params={"order": "DESC"}).json()
    assert [c["reference"] for c in desc["data"]] == references[::-1]
    one = admin.get("/v3/device-block-categories/", params={"reference__eq": "lost_or_stolen"})
    assert [c["reference"] for c in one.json()["data"]] == ["lost_or_stolen"]
    rest = admin.get("/v3/device-block-categories/", params={"reference__nin": "maintenance"})
    assert len(rest.json()["data"]) == 2


def test_block_category_get(admin, developer):
    r = admin.get("/v3/device-block-categories/maintenance")
    assert r.status_code == 200
    assert r.json()["reference"] == "maintenance"
    assert developer.get("/v3/device-block-categories/maintenance").status_code == 200
    missing = admin.get("/v3/device-block-categories/stolen_by_aliens")
    assert missing.status_code == 404
    assert missing.json()["type"] == "not_found"


# --- suspend and resume -----------------------------------------------------------------------
def _devices(client) -> list[dict]:
    return client.all("/v3/devices/")


def test_suspend_and_resume_an_operator_block(fresh_admin):
    device = next(
        d
        for d in _devices(fresh_admin)
        if d["lifecycle_status"] == "enabled" and d["state"] == "registered"
    )
    path = f"/v3/devices/{device['id']}"
    r = fresh_admin.post(
        f"{path}/suspend", json={"category": "lost_or_stolen", "description": "Van"}
    )
    assert r.status_code == 204
    assert r.content == b""
    blocked = fresh_admin.get(f"{path}/").json()
    assert blocked["lifecycle_status"] == "blocked"
    assert blocked["operator_suspended"] is True
    assert blocked["state"] == "deregistered"  # "it disconnects and shows as deregistered"
    assert blocked["last_operator_suspended_category"] == "lost_or_stolen"
    assert blocked["last_operator_suspended_description"] == "Van"
    assert blocked["last_operator_suspended_updated_at"] == blocked["updated_at"]
    wrong = fresh_admin.post(f"{path}/resume", json={"category": "maintenance"})
    assert _fields(wrong) == ["category"]
    assert "lost_or_stolen" in wrong.json()["fields"][0]["message"]
    r = fresh_admin.post(
        f"{path}/resume", json={"category": "lost_or_stolen", "description": "Found"}
    )
    assert r.status_code == 204
    back = fresh_admin.get(f"{path}/").json()
    assert (back["lifecycle_status"], back["operator_suspended"]) == ("enabled", False)
    assert back["last_operator_suspended_description"] == "Found"
    events = fresh_admin.get(
        "/v3/device-events/", params={"device_id__eq": device["id"], "order": "DESC"}
    ).json()["data"]
    assert [e["event_type"] for e in events[:2]] == [
        "lifecycle.device.resumed",
        "lifecycle.device.suspended",
    ]
    # Resuming a device that is not suspended changes nothing.
    assert fresh_admin.post(f"{path}/resume", json={}).status_code == 204
    assert fresh_admin.get(f"{path}/").json() == back


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["category"]),
        ({"category": ""}, ["category"]),
        ({"category": "stolen_by_aliens"}, ["category"]),
        ({"category": "Bad Category!"}, ["category"]),
        ({"category": "x" * 33}, ["category"]),
        ({"category": "maintenance", "description": "d" * 2001}, ["description"]),
        ({"category": 5, "description": 6}, ["category", "description"]),
    ],
)
def test_suspend_validation(fresh_admin, body, fields):
    device = _devices(fresh_admin)[0]
    assert _fields(fresh_admin.post(f"/v3/devices/{device['id']}/suspend", json=body)) == fields
    assert fresh_admin.get(f"/v3/devices/{device['id']}/").json() == device


def test_suspend_limits_are_inclusive(fresh_admin):
    device = _devices(fresh_admin)[0]
    body = {"category": "maintenance", "description": "d" * 2000}
    assert fresh_admin.post(f"/v3/devices/{device['id']}/suspend", json=body).status_code == 204


@pytest.mark.parametrize("action", ["suspend", "resume"])
def test_suspend_and_resume_unknown_devices_are_404(fresh_admin, action):
    for device_id in (MISSING_ID, "nope"):
        r = fresh_admin.post(f"/v3/devices/{device_id}/{action}", json={"category": "maintenance"})
        assert r.status_code == 404
        assert r.json()["type"] == "not_found"


def test_an_operator_cannot_resume_a_system_block(fresh_admin):
    devices = _devices(fresh_admin)
    system = [d for d in devices if d["system_suspended"] and not d["operator_suspended"]]
    assert len(system) >= 2
    device = system[0]
    assert device["lifecycle_status"] == "blocked"
    assert device["last_system_suspended_category"] == "certificate_blocklisted"
    r = fresh_admin.post(f"/v3/devices/{device['id']}/resume", json={})
    assert r.status_code == 400
    assert r.json()["type"] == "bad_request"
    assert "blocked by the system" in r.json()["message"]
    assert fresh_admin.get(f"/v3/devices/{device['id']}/").json() == device
    # Blocked by both: resume lifts the operator's block only.
    both = next(d for d in devices if d["system_suspended"] and d["operator_suspended"])
    assert fresh_admin.post(f"/v3/devices/{both['id']}/resume", json={}).status_code == 204
    after = fresh_admin.get(f"/v3/devices/{both['id']}/").json()
    assert (after["operator_suspended"], after["system_suspended"]) == (False, True)
    assert after["lifecycle_status"] == "blocked"


def test_the_developer_key_may_suspend(fresh_sim):
    from .conftest import Client

    developer = Client(fresh_sim, fresh_sim.keys.developer)
    device = _devices(developer)[0]
    r = developer.post(f"/v3/devices/{device['id']}/suspend", json={"category": "maintenance"})
    assert r.status_code == 204


# --- device creation --------------------------------------------------------------------------
def test_create_a_device(fresh_admin):
    before = _devices(fresh_admin)
    r = fresh_admin.post(
        "/v3/devices/",
        json={
            "endpoint_name": "new-endpoint-1",
            "name": "New sensor",
            "state": "registered",
            "custom_attributes": {"site": "7"},
            "connector_expiration_date": "2030-01-01",
            "device_execution_mode": 5,
        },
    )
    assert r.status_code == 201
    device = r.json()
    assert device["id"] > before[-1]["id"]  # after every existing device
    assert device["deployed_state"] == "production"
    assert device["lifecycle_status"] == "enabled"
    assert fresh_admin.get(f"/v3/devices/{device['id']}/").json() == device
    assert _devices(fresh_admin)[-1] == device
    found = fresh_admin.get("/v3/devices/", params={"endpoint_name__eq": "new-endpoint-1"})
    assert [d["id"] for d in found.json()["data"]] == [device["id"]]
    events = fresh_admin.get("/v3/device-events/", params={"device_id__eq": device["id"]})
    assert [e["event_type"] for e in events.json()["data"]] == ["update.device.device-created"]
    dup = fresh_admin.post("/v3/devices/", json={"endpoint_name": "new-endpoint-1"})
    assert dup.status_code == 409
    assert dup.json()["type"] == "duplicate"
    bare = fresh_admin.post("/v3/devices/", json={})
    assert bare.status_code == 201
    assert bare.json()["state"] == "unenrolled"
    assert bare.json()["name"] == bare.json()["endpoint_name"]
    second = fresh_admin.post("/v3/devices/", json={}).json()
    assert second["id"] > bare.json()["id"]
    ids = [
        e["id"]
        for d in (bare.json(), second)
        for e in fresh_admin.all("/v3/device-events/", {"device_id__eq": d["id"]})
    ]
    assert len(ids) == len(set(ids)) == 2


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"state": "flying"}, ["state"]),
        ({"mechanism": "pigeon"}, ["mechanism"]),
        ({"device_execution_mode": 2}, ["device_execution_mode"]),
        ({"device_execution_mode": True}, ["device_execution_mode"]),
        ({"name": "n" * 129}, ["name"]),
        ({"endpoint_name": ""}, ["endpoint_name"]),
        ({"connector_expiration_date": "2030/01/01"}, ["connector_expiration_date"]),
        ({"custom_attributes": {f"k{i}": "v" for i in range(6)}}, ["custom_attributes"]),
        ({"auto_update": "yes", "serial_number": "s" * 65}, ["auto_update", "serial_number"]),
    ],
)
def test_create_validation(fresh_admin, body, fields):
    assert _fields(fresh_admin.post("/v3/devices/", json=body)) == fields


# --- device groups ----------------------------------------------------------------------------
def test_group_writes_and_limits(fresh_admin):
    base = "/v3/device-groups/"
    attrs = {f"key{i}": "v" * 128 for i in range(10)}
    r = fresh_admin.post(
        base, json={"name": "n" * 128, "description": "d" * 1024, "custom_attributes": attrs}
    )
    assert r.status_code == 201, r.text
    group = r.json()
    assert group["custom_attributes"] == attrs
    for body, fields in [
        ({}, ["name"]),
        ({"name": ""}, ["name"]),
        ({"name": "n" * 129}, ["name"]),
        ({"name": "ok", "description": "d" * 1025}, ["description"]),
        (
            {"name": "ok", "custom_attributes": {f"k{i}": "v" for i in range(11)}},
            ["custom_attributes"],
        ),
        ({"name": "ok", "custom_attributes": {"9lives": "v"}}, ["custom_attributes"]),
        ({"name": "ok", "custom_attributes": {"k": "v" * 129}}, ["custom_attributes"]),
    ]:
        assert _fields(fresh_admin.post(base, json=body)) == fields, body
    assert fresh_admin.post(base, json={"name": "n" * 128}).status_code == 409
    path = f"{base}{group['id']}/"
    other = fresh_admin.post(base, json={"name": "Other"}).json()
    assert fresh_admin.put(path, json={"name": "Other"}).status_code == 409
    assert _fields(fresh_admin.put(path, json={"description": "d" * 1025})) == ["description"]
    renamed = fresh_admin.put(path, json={"name": "Renamed", "custom_attributes": {}})
    assert renamed.status_code == 200
    assert renamed.json()["custom_attributes"] == {}
    assert renamed.json()["description"] == "d" * 1024  # not given: kept
    assert fresh_admin.delete(path).status_code == 204
    for method in ("GET", "PUT", "DELETE"):
        assert fresh_admin.request(method, path, json={"name": "x"}).status_code == 404
    assert fresh_admin.delete(f"{base}{other['id']}/").status_code == 204


def test_membership_answers(fresh_admin):
    group = fresh_admin.post("/v3/device-groups/", json={"name": "Members"}).json()
    add = f"/v3/device-groups/{group['id']}/devices/add/"
    remove = f"/v3/device-groups/{group['id']}/devices/remove/"
    device = _devices(fresh_admin)[0]
    assert fresh_admin.post(add, json={"device_id": device["id"]}).status_code == 204
    before = fresh_admin.get(f"/v3/devices/{device['id']}/").json()
    # Adding again and removing a non-member: 204, nothing changes.
    assert fresh_admin.post(add, json={"device_id": device["id"]}).status_code == 204
    assert fresh_admin.get(f"/v3/devices/{device['id']}/").json() == before
    assert fresh_admin.get(f"/v3/device-groups/{group['id']}/").json()["devices_count"] == 1
    stranger = _devices(fresh_admin)[1]
    assert fresh_admin.post(remove, json={"device_id": stranger["id"]}).status_code == 204
    assert fresh_admin.post(remove, json={"device_id": device["id"]}).status_code == 204
    assert fresh_admin.get(f"/v3/device-groups/{group['id']}/").json()["devices_count"] == 0
    for body, fields in [
        ({}, ["device_id"]),
        ({"device_id": "nope"}, ["device_id"]),
        ({"device_id": 7}, ["device_id"]),
    ]:
        assert _fields(fresh_admin.post(add, json=body)) == fields
    assert fresh_admin.post(add, json={"device_id": MISSING_ID}).status_code == 404
    missing = f"/v3/device-groups/{MISSING_ID}/devices/add/"
    assert fresh_admin.post(missing, json={"device_id": device["id"]}).status_code == 404
