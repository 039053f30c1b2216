"""List envelope, cursors, include=total_count and every filter operator."""

from __future__ import annotations

import pytest

from .conftest import SHARED_DEVICES


def test_envelope_of_a_first_page(admin):
    body = admin.get("/v3/devices/", params={"limit": 5}).json()
    assert body["object"] == "list"
    assert body["limit"] == 5
    assert body["after"] is None
    assert body["order"] == "ASC"
    assert body["has_more"] is True
    assert "total_count" not in body  # device directory: only when asked for
    assert len(body["data"]) == 5


def test_include_total_count(admin):
    body = admin.get("/v3/devices/", params={"limit": 2, "include": "total_count"}).json()
    assert body["total_count"] == SHARED_DEVICES
    filtered = admin.get(
        "/v3/devices/", params={"limit": 2, "include": "total_count", "state__eq": "registered"}
    ).json()
    assert 0 < filtered["total_count"] < SHARED_DEVICES


def test_iam_lists_always_carry_total_count(admin):
    # The IAM list schemas declare total_count required.
    body = admin.get("/v3/users", params={"limit": 2}).json()
    assert body["total_count"] == len(admin.all("/v3/users"))


@pytest.mark.parametrize("order", ["ASC", "DESC"])
@pytest.mark.parametrize("path", ["/v3/devices/", "/v3/users", "/v3/device-events/"])
def test_cursor_walk_has_no_repeats_and_no_gaps(admin, path, order):
    everything = admin.all(path, {"order": order}, limit=1000)
    ids = [item["id"] for item in everything]
    assert len(ids) == len(set(ids))
    assert ids == sorted(ids, reverse=order == "DESC")
    walked: list[str] = []
    params = {"order": order, "limit": 7}
    while True:
        body = admin.get(path, params=params).json()
        assert body["order"] == order
        walked.extend(item["id"] for item in body["data"])
        if not body["has_more"]:
            break
        params["after"] = body["data"][-1]["id"]
        assert body["data"], "has_more with an empty page"
    assert walked == ids


def test_ids_increase_with_creation_time(all_devices):
    created = [d["created_at"] for d in all_devices]
    assert created == sorted(created)


def test_a_deleted_cursor_item_still_works(fresh_admin):
    devices = fresh_admin.all("/v3/devices/")
    deletable = [d for d in devices[5:-5] if d["device_execution_mode"] != 5]
    victim = deletable[0]
    index = [d["id"] for d in devices].index(victim["id"])
    assert fresh_admin.delete(f"/v3/devices/{victim['id']}/").status_code == 204
    page = fresh_admin.get("/v3/devices/", params={"after": victim["id"], "limit": 3}).json()
    assert [d["id"] for d in page["data"]] == [d["id"] for d in devices[index + 1 : index + 4]]
    desc = fresh_admin.get(
        "/v3/devices/", params={"after": victim["id"], "limit": 2, "order": "DESC"}
    ).json()
    assert [d["id"] for d in desc["data"]] == [devices[index - 1]["id"], devices[index - 2]["id"]]


def test_device_directory_clamps_limit(admin):
    assert admin.get("/v3/devices/", params={"limit": 1}).json()["limit"] == 2
    big = admin.get("/v3/devices/", params={"limit": 5000}).json()
    assert big["limit"] == 1000


def test_iam_rejects_out_of_range_limit(admin):
    r = admin.get("/v3/users", params={"limit": 5000})
    assert r.status_code == 400
    assert [f["name"] for f in r.json()["fields"]] == ["limit"]


@pytest.mark.parametrize("path", ["/v3/devices/", "/v3/users"])
@pytest.mark.parametrize(
    ("param", "value"), [("limit", "ten"), ("order", "sideways"), ("after", "not-an-id")]
)
def test_malformed_paging_parameters_are_400(admin, path, param, value):
    r = admin.get(path, params={param: value})
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "validation_error"
    assert [f["name"] for f in body["fields"]] == [param]


def test_default_limit_is_50(admin):
    assert admin.get("/v3/devices/").json()["limit"] == 50
    assert admin.get("/v3/device-events/").json()["limit"] == 50


def test_unknown_query_parameters_are_ignored(admin):
    plain = admin.get("/v3/devices/", params={"limit": 4}).json()
    noisy = admin.get("/v3/devices/", params={"limit": 4, "colour": "red", "name__like": "x"})
    assert noisy.status_code == 200
    assert noisy.json()["data"] == plain["data"]


def _ids(admin, params) -> list[str]:
    return [d["id"] for d in admin.all("/v3/devices/", params)]


def test_eq_neq_in_nin_on_an_enum_field(admin, all_devices):
    by_state = {}
    for d in all_devices:
        by_state.setdefault(d["state"], []).append(d["id"])
    assert set(by_state) == {
        "unenrolled",
        "cloud_enrolling",
        "bootstrapped",
        "registered",
        "deregistered",
    }
    assert _ids(admin, {"state__eq": "registered"}) == by_state["registered"]
    assert _ids(admin, {"state__neq": "registered"}) == [
        d["id"] for d in all_devices if d["state"] != "registered"
    ]
    both = {"registered", "deregistered"}
    assert _ids(admin, {"state__in": "registered,deregistered"}) == [
        d["id"] for d in all_devices if d["state"] in both
    ]
    assert _ids(admin, {"state__nin": "registered,deregistered"}) == [
        d["id"] for d in all_devices if d["state"] not in both
    ]


def test_filters_combine_as_and(admin, all_devices):
    expected = [
        d["id"]
        for d in all_devices
        if d["state"] == "registered" and d["deployed_state"] == "development"
    ]
    assert expected
    got = _ids(admin, {"state__eq": "registered", "deployed_state__eq": "development"})
    assert got == expected


def test_filtered_cursor_walk_with_index(admin, all_devices):
    expected = [d["id"] for d in all_devices if d["state"] in ("unenrolled", "bootstrapped")]
    walked, params = [], {"state__in": "unenrolled,bootstrapped", "limit": 9, "order": "DESC"}
    while True:
        body = admin.get("/v3/devices/", params=params).json()
        walked.extend(d["id"] for d in body["data"])
        if not body["has_more"]:
            break
        params["after"] = body["data"][-1]["id"]
    assert walked == expected[::-1]


def test_lookup_by_endpoint_name_and_serial(admin, all_devices):
    target = all_devices[123]
    for field in ("endpoint_name", "serial_number", "id", "name"):
        found = admin.get("/v3/devices/", params={f"{field}__eq": target[field]}).json()["data"]
        assert [d["id"] for d in found] == [target["id"]]


def test_integer_and_boolean_filters(admin, all_devices):
    assert _ids(admin, {"device_execution_mode__eq": "1"}) == [
        d["id"] for d in all_devices if d["device_execution_mode"] == 1
    ]
    assert _ids(admin, {"device_execution_mode__in": "0,5"}) == [
        d["id"] for d in all_devices if d["device_execution_mode"] in (0, 5)
    ]
    suspended = [d["id"] for d in all_devices if d["operator_suspended"]]
    assert suspended
    assert _ids(admin, {"operator_suspended__eq": "true"}) == suspended
    assert _ids(admin, {"operator_suspended__neq": "true"}) == [
        d["id"] for d in all_devices if not d["operator_suspended"]
    ]


def test_datetime_lte_gte_in_all_three_formats(admin, all_devices):
    pivot = all_devices[200]["created_at"]  # e.g. 2024-03-05T10:20:30.123000Z
    whole_second = pivot[:19]
    forms = [
        whole_second + ".0Z",
        whole_second + "Z",
        whole_second.replace("-", "").replace(":", "") + "Z",
    ]
    expected = [d["id"] for d in all_devices if d["created_at"] >= whole_second + ".000000Z"]
    for form in forms:
        assert _ids(admin, {"created_at__gte": form}) == expected, form
    upper = [d["id"] for d in all_devices if d["created_at"] <= whole_second + ".000000Z"]
    assert _ids(admin, {"created_at__lte": forms[2]}) == upper
    window = _ids(admin, {"created_at__gte": forms[0], "created_at__lte": forms[1]})
    assert window == [i for i in expected if i in set(upper)]


def test_datetime_in_matches_exact_instants(admin, all_devices):
    a, b = all_devices[10]["created_at"], all_devices[20]["created_at"]
    got = _ids(admin, {"created_at__in": f"{a},{b}"})
    assert got == [all_devices[10]["id"], all_devices[20]["id"]]
    assert len(_ids(admin, {"created_at__nin": f"{a},{b}"})) == len(all_devices) - 2


def test_date_filters(admin, all_devices):
    cut = "2025-07-01"
    expected = [
        d["id"]
        for d in all_devices
        if d["connector_expiration_date"] and d["connector_expiration_date"] <= cut
    ]
    assert expected
    assert _ids(admin, {"connector_expiration_date__lte": cut}) == expected


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("state__eq", "exploded"),
        ("state__in", "registered,exploded"),
        ("lifecycle_status__eq", "paused"),
        ("deployed_state__neq", "staging"),
        ("mechanism__eq", "carrier-pigeon"),
        ("created_at__gte", "yesterday"),
        ("created_at__lte", "2016-13-45T99:00:00Z"),
        ("bootstrap_expiration_date__gte", "2016/11/30"),
        ("operator_suspended__eq", "maybe"),
        ("device_execution_mode__eq", "two"),
    ],
)
def test_malformed_filter_values_are_400_naming_the_parameter(admin, param, value):
    r = admin.get("/v3/devices/", params={param: value})
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "validation_error"
    assert [f["name"] for f in body["fields"]] == [param]
    assert body["request_id"] == r.headers["X-Request-ID"]


def test_user_status_filter_and_bad_status(admin):
    users = admin.all("/v3/users")
    statuses = {u["status"] for u in users}
    assert statuses == {"ACTIVE", "INVITED", "ENROLLING", "RESET", "INACTIVE"}
    got = admin.all("/v3/users", {"status__in": "INVITED,RESET"})
    assert [u["id"] for u in got] == [u["id"] for u in users if u["status"] in ("INVITED", "RESET")]
    r = admin.get("/v3/users", params={"status__eq": "ASLEEP"})
    assert r.status_code == 400
    assert r.json()["fields"][0]["name"] == "status__eq"


def test_legacy_filter_parameter(admin, all_devices):
    expected = [d["id"] for d in all_devices if d["state"] == "bootstrapped"]
    assert _ids(admin, {"filter": "state=bootstrapped"}) == expected


def test_custom_attribute_filter(admin, all_devices):
    expected = [d["id"] for d in all_devices if d["custom_attributes"].get("site") == "Leeds"]
    assert expected
    assert _ids(admin, {"custom_attributes__site": "Leeds"}) == expected


def test_device_events_of_one_device(admin, all_devices):
    device = next(d for d in all_devices if d["state"] == "deregistered")
    events = admin.all("/v3/device-events/", {"device_id__eq": device["id"], "order": "DESC"})
    assert len(events) >= 3
    assert {e["device_id"] for e in events} == {device["id"]}
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)
    kinds = {e["event_type"] for e in events}
    assert "update.device.device-created" in kinds
    assert "connector.device.deregistered" in kinds
    one = admin.get(f"/v3/device-events/{events[0]['id']}/")
    assert one.status_code == 200
    assert one.json() == events[0]
    changed = admin.all(
        "/v3/device-events/", {"device_id__eq": device["id"], "state_change__eq": "true"}
    )
    assert changed
    assert all(e["state_change"] for e in changed)


def test_global_event_filters(admin):
    created = admin.all("/v3/device-events/", {"event_type__eq": "update.device.device-created"})
    assert len(created) == SHARED_DEVICES
    r = admin.get("/v3/device-events/", params={"date_time__gte": "not a date"})
    assert r.status_code == 400
    assert r.json()["fields"][0]["name"] == "date_time__gte"


def test_device_groups_members_and_counts_agree(admin, all_devices):
    groups = admin.all("/v3/device-groups/")
    assert groups
    for group in groups[:5]:
        members = admin.all(f"/v3/device-groups/{group['id']}/devices/")
        expected = [d["id"] for d in all_devices if group["id"] in d["groups"]]
        assert [d["id"] for d in members] == expected
        assert group["devices_count"] == len(expected)
    busiest = max(groups, key=lambda g: g["devices_count"])
    filtered = admin.all(f"/v3/device-groups/{busiest['id']}/devices/", {"state__eq": "registered"})
    assert all(d["state"] == "registered" and busiest["id"] in d["groups"] for d in filtered)
    by_count = admin.all(
        "/v3/device-groups/", {"devices_count__gte": str(busiest["devices_count"])}
    )
    assert busiest["id"] in [g["id"] for g in by_count]


@pytest.mark.parametrize("order", ["ASC", "DESC"])
def test_created_at_ranges_with_counts_and_cursors_match_a_brute_force_filter(
    admin, all_devices, order
):
    # The store finds a created_at range by bisection (ids grow with creation time) and keeps
    # counts until the next write; both must give exactly what a scan would.
    stamps = sorted(d["created_at"] for d in all_devices)
    low, high = stamps[len(stamps) // 4], stamps[3 * len(stamps) // 4]
    expected = [
        d["id"]
        for d in all_devices
        if low <= d["created_at"] <= high and d["state"] in ("registered", "deregistered")
    ]
    params = {
        "state__in": "registered,deregistered",
        "created_at__gte": low,
        "created_at__lte": high,
        "include": "total_count",
        "order": order,
        "limit": 7,
    }
    walked, totals = [], set()
    while True:
        body = admin.get("/v3/devices/", params=params).json()
        walked.extend(d["id"] for d in body["data"])
        totals.add(body.get("total_count"))
        if not body["has_more"]:
            break
        params["after"] = body["data"][-1]["id"]
    assert walked == (expected if order == "ASC" else expected[::-1])
    assert totals == {len(expected)}
