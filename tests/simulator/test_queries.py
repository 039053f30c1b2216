"""Device queries (saved views): CRUD, validation, list parameters, access and the seeded views."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from dmportal.simulator.seed import HOSTILE_NAME

MISSING_ID = "0000000000000000000000000000dead"
BASE = "/v3/device-queries/"


def _fields(r) -> list[str]:
    return [f["name"] for f in r.json()["fields"]]


def test_create_read_update_delete(fresh_admin):
    r = fresh_admin.post(BASE, json={"name": "Gateways", "query": "endpoint_type__eq=MBED_GW"})
    assert r.status_code == 201
    created = r.json()
    assert created["object"] == "device-query"
    assert (created["name"], created["query"]) == ("Gateways", "endpoint_type__eq=MBED_GW")
    assert created["created_at"] == created["updated_at"] == created["etag"]
    path = f"{BASE}{created['id']}/"
    assert fresh_admin.get(path).json() == created
    r = fresh_admin.put(path, json={"name": "All gateways", "query": "endpoint_type__in=MBED_GW"})
    assert r.status_code == 200
    updated = r.json()
    assert updated["id"] == created["id"]
    assert updated["created_at"] == created["created_at"]
    assert updated["updated_at"] > created["updated_at"]
    assert updated["etag"] != created["etag"]
    assert fresh_admin.get(path).json() == updated
    listed = fresh_admin.get(BASE, params={"name__eq": "All gateways"}).json()["data"]
    assert [q["id"] for q in listed] == [created["id"]]
    assert fresh_admin.delete(path).status_code == 204
    assert fresh_admin.get(path).status_code == 404
    assert fresh_admin.delete(path).status_code == 404


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["name", "query"]),
        ({"name": "only a name"}, ["query"]),
        ({"query": "state__eq=registered"}, ["name"]),
        ({"name": "", "query": "state__eq=registered"}, ["name"]),
        ({"name": "x", "query": "   "}, ["query"]),
        ({"name": "x" * 201, "query": "state__eq=registered"}, ["name"]),
        ({"name": "x", "query": "q" * 1001}, ["query"]),
        ({"name": 7, "query": ["state__eq=registered"]}, ["name", "query"]),
        ({"name": None, "query": "state__eq=registered"}, ["name"]),
    ],
)
def test_validation_names_every_bad_field(fresh_admin, body, fields):
    r = fresh_admin.post(BASE, json=body)
    assert r.status_code == 400
    assert r.json()["type"] == "validation_error"
    assert _fields(r) == fields
    seeded = fresh_admin.get(BASE, params={"limit": 2}).json()["data"][0]
    r = fresh_admin.put(f"{BASE}{seeded['id']}/", json=body)
    assert r.status_code == 400
    assert _fields(r) == fields


def test_limits_are_inclusive(fresh_admin):
    r = fresh_admin.post(BASE, json={"name": "n" * 200, "query": "q" * 1000})
    assert r.status_code == 201
    assert len(r.json()["name"]) == 200


def test_names_need_not_be_unique(fresh_admin):
    body = {"name": "Twice", "query": "state__eq=registered"}
    first, second = fresh_admin.post(BASE, json=body), fresh_admin.post(BASE, json=body)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]


def test_unknown_ids_are_404_and_malformed_bodies_400(fresh_admin):
    for method in ("GET", "PUT", "DELETE"):
        for query_id in (MISSING_ID, "not-an-id"):
            r = fresh_admin.request(method, f"{BASE}{query_id}/", json={"name": "x", "query": "y"})
            assert r.status_code == 404, (method, query_id)
            assert r.json()["type"] == "not_found"
    assert fresh_admin.post(BASE, data=b"{nope").status_code == 400
    assert fresh_admin.post(BASE, json=["name"]).status_code == 400


def test_list_always_carries_total_count_and_pages(admin):
    everything = admin.all(BASE)
    first = admin.get(BASE, params={"limit": 3}).json()
    assert first["total_count"] == len(everything)  # DeviceQueryPage requires it
    assert first["has_more"] is True
    walked, params = [], {"limit": 3, "order": "DESC"}
    while True:
        body = admin.get(BASE, params=params).json()
        walked.extend(q["id"] for q in body["data"])
        if not body["has_more"]:
            break
        params["after"] = body["data"][-1]["id"]
    assert walked == [q["id"] for q in everything][::-1]


def test_list_filters(admin):
    everything = admin.all(BASE)
    pivot = everything[len(everything) // 2]
    cases = [
        ({"id__eq": pivot["id"]}, lambda q: q["id"] == pivot["id"]),
        ({"name__neq": pivot["name"]}, lambda q: q["name"] != pivot["name"]),
        ({"query__eq": pivot["query"]}, lambda q: q["query"] == pivot["query"]),
        (
            {"created_at__gte": pivot["created_at"]},
            lambda q: q["created_at"] >= pivot["created_at"],
        ),
        (
            {"updated_at__lte": pivot["updated_at"]},
            lambda q: q["updated_at"] <= pivot["updated_at"],
        ),
        ({"filter": f"name={quote(pivot['name'])}"}, lambda q: q["name"] == pivot["name"]),
        ({"filter": f"created_at={pivot['created_at']}"}, lambda q: q["id"] == pivot["id"]),
    ]
    for params, want in cases:
        got = [q["id"] for q in admin.all(BASE, params)]
        assert got == [q["id"] for q in everything if want(q)], params
    r = admin.get(BASE, params={"created_at__gte": "last week"})
    assert r.status_code == 400
    assert _fields(r) == ["created_at__gte"]


def test_developer_reads_but_cannot_write(developer, admin):
    listed = developer.get(BASE)
    assert listed.status_code == 200
    some = listed.json()["data"][0]
    assert developer.get(f"{BASE}{some['id']}/").status_code == 200
    body = {"name": "Mine", "query": "state__eq=registered"}
    for method, path in (
        ("POST", BASE),
        ("PUT", f"{BASE}{some['id']}/"),
        ("DELETE", f"{BASE}{some['id']}/"),
    ):
        r = developer.request(method, path, json=body)
        assert r.status_code == 403, method
        assert r.json()["type"] == "access_denied"
        assert "read" in r.json()["message"]
    assert admin.get(f"{BASE}{some['id']}/").json() == some  # nothing changed


def _seeded(admin) -> dict[str, dict]:
    return {q["name"]: q for q in admin.all(BASE)}


def test_seeded_views_cover_every_case(admin):
    views = _seeded(admin)
    queries = [q["query"] for q in views.values()]
    assert any("custom_attributes__site__eq=7" in q for q in queries)
    assert any("__nin=" in q for q in queries)
    assert any("__neq=" in q for q in queries)
    assert any("serial_number__in=" in q for q in queries)
    assert "state=bootstrapped&deployed_state=production" in queries  # bare field=value
    assert HOSTILE_NAME in views
    assert all(q["created_at"] <= q["updated_at"] for q in views.values())
    assert all(len(q["query"]) <= 1000 and len(q["name"]) <= 200 for q in views.values())


def _run(admin, query: str):
    return admin.get("/v3/devices/", params={"filter": query, "include": "total_count"})


def test_seeded_views_run_through_filter(admin, all_devices):
    views = _seeded(admin)
    site7 = _run(admin, views["Registered in site 7"]["query"])
    assert site7.status_code == 200
    expected = [
        d["id"]
        for d in all_devices
        if d["state"] == "registered" and d["custom_attributes"].get("site") == "7"
    ]
    assert expected
    assert site7.json()["total_count"] == len(expected)
    assert [
        d["id"]
        for d in admin.all("/v3/devices/", {"filter": views["Registered in site 7"]["query"]})
    ] == expected
    order = _run(admin, views["Customer order 4711"]["query"]).json()
    serials = views["Customer order 4711"]["query"].split("=", 1)[1].split(",")
    assert order["total_count"] == len(serials) > 1
    hostile = _run(admin, views[HOSTILE_NAME]["query"]).json()
    assert [d["name"] for d in hostile["data"]] == [HOSTILE_NAME]
    portal = _run(admin, views["Bootstrapped production (Portal syntax)"]["query"]).json()
    assert portal["total_count"] == sum(
        d["state"] == "bootstrapped" and d["deployed_state"] == "production" for d in all_devices
    )


def test_seeded_views_the_api_refuses(admin):
    views = _seeded(admin)
    typo = _run(admin, views["Blocked (typo)"]["query"])
    assert typo.status_code == 400
    assert _fields(typo) == ["filter"]
    assert "suspended" in typo.json()["fields"][0]["message"]
    assert typo.json()["request_id"] == typo.headers["X-Request-ID"]
    like = _run(admin, views["Name contains gateway"]["query"])
    assert like.status_code == 400
    assert "'like' is not an operator of 'name'" in like.json()["fields"][0]["message"]
    # As separate parameters the typo is refused too, the unknown operator ignored.
    assert (
        admin.get("/v3/devices/", params={"lifecycle_status__eq": "suspended"}).status_code == 400
    )
    assert admin.get("/v3/devices/", params={"name__like": "gateway"}).status_code == 200
