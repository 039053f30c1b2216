"""Every operator of every device filter the spec's x-filter declares, as query parameters and
inside the legacy filter= string; attribute maps; unknown filters."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from dmportal.simulator import facts

DEVICE_FILTERS = facts.operation("GET", "/v3/devices/")["filters"]
CASES = [(name, op) for name, spec in sorted(DEVICE_FILTERS.items()) for op in spec["ops"]]


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _values(all_devices, name: str) -> list:
    """Two different values of a field that devices have (the commonest first)."""
    seen: dict = {}
    for d in all_devices:
        value = d.get(name)
        if value is not None:
            seen[value] = seen.get(value, 0) + 1
    ranked = sorted(seen, key=lambda v: (-seen[v], _text(v)))
    assert ranked, f"no device has {name}"
    return ranked[:2] if len(ranked) > 1 else ranked * 2


def _expected(all_devices, name: str, op: str, a, b) -> list[str]:
    def keep(d) -> bool:
        actual = d.get(name)
        if op == "eq":
            return actual == a
        if op == "neq":
            return actual != a
        if op == "in":
            return actual in (a, b)
        if op == "nin":
            return actual not in (a, b)
        if actual is None:
            return False
        return actual <= a if op == "lte" else actual >= a

    return [d["id"] for d in all_devices if keep(d)]


def _ids(admin, params) -> list[str]:
    return [d["id"] for d in admin.all("/v3/devices/", params)]


def test_every_field_and_operator_is_covered():
    assert len(CASES) > 100
    ops = {op for _, op in CASES}
    assert ops == {"eq", "neq", "in", "nin", "lte", "gte"}


@pytest.mark.parametrize(("name", "op"), CASES)
def test_each_declared_filter_matches_a_brute_force_scan(admin, all_devices, name, op):
    a, b = _values(all_devices, name)
    raw = f"{_text(a)},{_text(b)}" if op in ("in", "nin") else _text(a)
    expected = _expected(all_devices, name, op, a, b)
    assert _ids(admin, {f"{name}__{op}": raw}) == expected
    # The same filter inside filter=, URL-encoded as a whole, gives the same devices.
    assert _ids(admin, {"filter": urlencode({f"{name}__{op}": raw})}) == expected


def test_legacy_filter_takes_bare_equality_on_every_field(admin, all_devices):
    pivot = all_devices[77]
    for name in ("state", "created_at", "connector_expiration_date", "operator_suspended"):
        value = _text(pivot[name])
        expected = [d["id"] for d in all_devices if _text(d[name]) == value]
        assert _ids(admin, {"filter": f"{name}={value}"}) == expected, name
    combined = {"filter": f"state={pivot['state']}&created_at__lte={pivot['created_at']}"}
    assert _ids(admin, combined) == [
        d["id"]
        for d in all_devices
        if d["state"] == pivot["state"] and d["created_at"] <= pivot["created_at"]
    ]


def test_legacy_filter_and_parameters_combine_and_the_parameter_wins(admin, all_devices):
    params = {"filter": "state=registered", "deployed_state__eq": "production"}
    assert _ids(admin, params) == [
        d["id"]
        for d in all_devices
        if d["state"] == "registered" and d["deployed_state"] == "production"
    ]
    params = {"filter": "state__eq=registered", "state__eq": "bootstrapped"}
    assert _ids(admin, params) == [d["id"] for d in all_devices if d["state"] == "bootstrapped"]


@pytest.mark.parametrize(
    ("params", "want"),
    [
        ({"custom_attributes__site__eq": "7"}, lambda c: c.get("site") == "7"),
        ({"custom_attributes__site": "Leeds"}, lambda c: c.get("site") == "Leeds"),
        ({"custom_attributes__site__neq": "7"}, lambda c: c.get("site") != "7"),
        ({"custom_attributes__site__in": "7,Leeds"}, lambda c: c.get("site") in ("7", "Leeds")),
        ({"custom_attributes__floor__nin": "1,2"}, lambda c: c.get("floor") not in ("1", "2")),
        ({"filter": "custom_attributes__site__eq=7"}, lambda c: c.get("site") == "7"),
        ({"filter": "custom_attributes__owner=energy"}, lambda c: c.get("owner") == "energy"),
    ],
)
def test_custom_attribute_filters(admin, all_devices, params, want):
    expected = [d["id"] for d in all_devices if want(d["custom_attributes"])]
    assert expected
    assert _ids(admin, params) == expected


def test_component_attribute_filter(admin, all_devices):
    assert _ids(admin, {"filter": "component_attributes__mbed-os=6.2.0"}) == [
        d["id"] for d in all_devices
    ]
    assert _ids(admin, {"component_attributes__mbed-os__neq": "6.2.0"}) == []


@pytest.mark.parametrize(
    ("inner", "fragment"),
    [
        ("colour=red", "'colour' is not a field"),
        ("name__like=gateway", "'like' is not an operator of 'name'"),
        ("created_at__eqq=2024-01-01T00:00:00Z", "'eqq' is not an operator of 'created_at'"),
        ("custom_attributes__site__lte=7", "attributes take the operators"),
        ("state=registered&flavour__eq=x", "'flavour' is not a field"),
        ("state=flying", "not one of"),
        ("created_at__gte=yesterday", "created_at__gte"),
    ],
)
def test_unknown_or_bad_filters_inside_filter_are_400_naming_filter(admin, inner, fragment):
    r = admin.get("/v3/devices/", params={"filter": inner})
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "validation_error"
    assert [f["name"] for f in body["fields"]] == ["filter"]
    assert fragment in body["fields"][0]["message"]


def test_unknown_top_level_parameters_stay_ignored(admin):
    plain = admin.get("/v3/devices/", params={"limit": 4}).json()["data"]
    for params in ({"colour": "red"}, {"flavour__eq": "x"}, {"custom_attributes__site__lte": "7"}):
        r = admin.get("/v3/devices/", params={"limit": 4, **params})
        assert r.status_code == 200
        assert r.json()["data"] == plain


def test_filter_on_the_other_lists_that_declare_it(admin):
    groups = admin.all("/v3/device-groups/")
    name = groups[3]["name"]
    got = admin.all("/v3/device-groups/", {"filter": urlencode({"name": name})})
    assert [g["id"] for g in got] == [groups[3]["id"]]
    owned = admin.all("/v3/device-groups/", {"filter": "custom_attributes__owner=facilities"})
    assert owned
    assert all(g["custom_attributes"].get("owner") == "facilities" for g in owned)
    events = admin.get(
        "/v3/device-events/", params={"filter": "event_type=update.device.device-created"}
    ).json()["data"]
    assert events
    assert {e["event_type"] for e in events} == {"update.device.device-created"}
    assert admin.get("/v3/device-events/", params={"filter": "colour=red"}).status_code == 400


def test_a_group_s_devices_take_the_device_filters_but_not_filter(admin, all_devices):
    group = max(admin.all("/v3/device-groups/"), key=lambda g: g["devices_count"])
    path = f"/v3/device-groups/{group['id']}/devices/"
    members = [d["id"] for d in all_devices if group["id"] in d["groups"]]
    got = [d["id"] for d in admin.all(path, {"state__neq": "registered"})]
    assert got == [
        d["id"] for d in all_devices if group["id"] in d["groups"] and d["state"] != "registered"
    ]
    assert got != members
    # The spec declares no filter= on this list: it is ignored like any unknown parameter.
    assert [d["id"] for d in admin.all(path, {"filter": "state__neq=registered"})] == members
