"""The seeded data: deterministic, realistic, and covering every state the dashboard must show."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import timedelta

import pytest

from dmportal.simulator import events, facts, ids, seed

from .conftest import NOW

NOW_MS = ids.to_ms(NOW)
DEVICE_FILTERS = facts.operation("GET", "/v3/devices/")["filters"]


@pytest.fixture(scope="module")
def data():
    store, keys = seed.build(1500, 5, NOW_MS)
    return store, keys


def _objs(coll) -> list[dict]:
    return [coll.objs[i] for i in coll.ids]


def test_same_inputs_give_identical_data(data):
    store, keys = data
    again, again_keys = seed.build(1500, 5, NOW_MS)
    assert again_keys == keys
    for name in ("devices", "users", "policy_groups", "api_keys", "applications", "access_keys",
                 "invitations", "device_groups", "device_queries"):  # fmt: skip
        assert _objs(getattr(again, name)) == _objs(getattr(store, name)), name
    assert again.block_categories == store.block_categories
    assert again.events.for_device(store.devices.ids[3]) == store.events.for_device(
        store.devices.ids[3]
    )
    other, _ = seed.build(1500, 6, NOW_MS)
    assert _objs(other.devices) != _objs(store.devices)


def test_ids_are_hex_unique_and_increase_with_creation_time(data):
    store, _ = data
    for name in (
        "devices",
        "device_groups",
        "users",
        "policy_groups",
        "api_keys",
        "applications",
        "access_keys",
        "invitations",
    ):
        objs = _objs(getattr(store, name))
        assert objs, name
        id_list = [o["id"] for o in objs]
        assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in id_list), name
        assert len(set(id_list)) == len(id_list), name
        created = [o["created_at"] for o in objs]
        assert created == sorted(created), name
        assert all(ids.id_ms(o["id"]) // 1000 == _seconds(o["created_at"]) for o in objs), name


def _seconds(stamp: str) -> int:
    return ids.to_ms(ids.parse_datetime(stamp[:19] + "Z")) // 1000


def test_devices_cover_every_enum_and_realistic_fields(data):
    store, _ = data
    devices = _objs(store.devices)
    for field_name, values in [
        ("state", {"unenrolled", "cloud_enrolling", "bootstrapped", "registered", "deregistered"}),
        ("lifecycle_status", {"enabled", "blocked"}),
        ("deployed_state", {"development", "production"}),
        ("mechanism", {"connector", "direct"}),
        ("device_execution_mode", {0, 1, 5}),
    ]:
        assert {d[field_name] for d in devices} == values, field_name
    blocked = [d for d in devices if d["lifecycle_status"] == "blocked"]
    assert any(d["operator_suspended"] for d in blocked)
    assert any(d["system_suspended"] for d in blocked)
    for d in blocked:
        kind = "operator" if d["operator_suspended"] else "system"
        assert d[f"last_{kind}_suspended_category"]
        assert d[f"last_{kind}_suspended_description"]
        assert d[f"last_{kind}_suspended_updated_at"]
    gateways = {d["id"] for d in devices if d["endpoint_type"] == "MBED_GW"}
    children = [d for d in devices if d["host_gateway"]]
    assert gateways
    assert children
    assert all(c["host_gateway"] in gateways for c in children)
    assert all(len(d["custom_attributes"]) <= 5 for d in devices)
    assert any(len(d["custom_attributes"]) == 5 for d in devices)
    assert re.fullmatch(r"[A-Za-z][\w ]+ \d+", devices[0]["name"])
    two_years_ago = ids.iso_us(NOW_MS - 731 * ids.DAY_MS)
    assert all(two_years_ago <= d["created_at"] <= ids.iso_us(NOW_MS) for d in devices)


def test_certificate_expiry_spread(data):
    store, _ = data
    today = NOW.date().isoformat()
    soon = (NOW + timedelta(days=30)).date().isoformat()
    dates = [d["connector_expiration_date"] for d in _objs(store.devices)]
    known = [d for d in dates if d]
    past = sum(d < today for d in known)
    within_30 = sum(today <= d <= soon for d in known)
    later = sum(d > soon for d in known)
    assert past > 0
    assert within_30 > 0
    assert later > past + within_30
    assert None in dates


def test_device_group_counts_agree_with_memberships(data):
    store, _ = data
    counts = Counter(g for d in _objs(store.devices) for g in d["groups"])
    for group in _objs(store.device_groups):
        assert group["devices_count"] == counts[group["id"]]


def test_users_keys_and_groups(data):
    store, keys = data
    users = _objs(store.users)
    assert {u["status"] for u in users} == {"ACTIVE", "INVITED", "ENROLLING", "RESET", "INACTIVE"}
    assert all(len(u["login_history"]) <= 5 for u in users)
    assert any(u["active_sessions"] for u in users)
    assert any(u["is_totp_enabled"] for u in users)
    assert all(isinstance(u["last_login_time"], int) for u in users)
    groups = {g["name"]: g for g in _objs(store.policy_groups)}
    assert {"Administrators", "Developers"} <= set(groups)
    for g in groups.values():
        assert g["user_count"] == sum(g["id"] in u["groups"] for u in users)
        assert g["apikey_count"] == sum(g["id"] in k["groups"] for k in _objs(store.api_keys))
        apps = _objs(store.applications)
        assert g["application_count"] == sum(g["id"] in a["groups"] for a in apps)
    api_keys = _objs(store.api_keys)
    assert {k["status"] for k in api_keys} == {"ACTIVE", "INACTIVE"}
    assert any(k["last_login_time"] == 0 for k in api_keys)
    ninety_days_ago = NOW_MS - 90 * ids.DAY_MS
    assert any(0 < k["last_login_time"] < ninety_days_ago for k in api_keys)
    inactive_users = {u["id"] for u in users if u["status"] == "INACTIVE"}
    assert any(k.get("owner") in inactive_users for k in api_keys)
    assert {k["status"] for k in _objs(store.access_keys)} == {"ACTIVE", "INACTIVE", "EXPIRED"}
    invitations = _objs(store.invitations)
    assert invitations
    assert all(i["expiration"] > i["created_at"] for i in invitations)
    invited = {u["id"] for u in users if u["status"] == "INVITED"}
    assert {i["user_id"] for i in invitations} == invited
    assert store.secrets[keys.admin][0] == "api-key"


def test_every_object_has_an_unknown_field(data):
    store, _ = data
    for name in ("devices", "users", "policy_groups", "api_keys", "applications", "access_keys"):
        assert all(o["sim_revision"] == 1 for o in _objs(getattr(store, name))), name
    assert store.account["sim_revision"] == 1


# --- consistent with the clock, and the cases the next features need ------------------------------
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FUTURE_BY_NATURE = {"expiration", "bootstrap_expiration_date", "connector_expiration_date"}
MS_FIELDS = {"last_login_time", "creation_time", "password_changed_time"}


def _is_late(key, value, now_ms: int) -> bool:
    if isinstance(value, str) and DATE_TIME.match(value):
        return ids.canonical_us(ids.parse_datetime(value)) > ids.iso_us(now_ms)
    if isinstance(value, str) and DATE.match(value):
        return value > ids.iso_date(now_ms)
    return key in MS_FIELDS and isinstance(value, int) and value > now_ms


def _late_timestamps(obj, now_ms: int, where: str = "") -> list[str]:
    """Every timestamp in obj (recursively) that is after now, as 'path: value'."""
    late = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj)
    for key, value in items:
        path = f"{where}.{key}"
        if key in FUTURE_BY_NATURE:
            continue
        if isinstance(value, dict | list):
            late.extend(_late_timestamps(value, now_ms, path))
        elif _is_late(key, value, now_ms):
            late.append(f"{path}: {value}")
    return late


def test_no_seeded_timestamp_is_after_now(data):
    store, _ = data
    late = []
    for name in ("devices", "device_groups", "device_queries", "users", "policy_groups",
                 "api_keys", "applications", "access_keys", "invitations"):  # fmt: skip
        late.extend(_late_timestamps(_objs(getattr(store, name)), NOW_MS, name))
    late.extend(_late_timestamps(store.account, NOW_MS, "account"))
    late.extend(_late_timestamps(store.block_categories, NOW_MS, "block_categories"))
    for device_id in store.devices.ids:
        late.extend(_late_timestamps(store.events.for_device(device_id), NOW_MS, device_id))
    assert not late, late[:10]


def test_the_default_clock_puts_no_timestamp_in_the_future(tmp_path):
    from dmportal.simulator.server import Simulator

    sim = Simulator(devices=300, seed=4, state_dir=tmp_path)  # now: the start of this hour
    real_now = int(time.time() * 1000)
    assert real_now - 3600_000 <= ids.to_ms(sim.now) <= real_now
    stamps = [d.get("bootstrapped_timestamp") for d in _objs(sim.store.devices)]
    assert max(s for s in stamps if s) <= ids.iso_us(real_now)


@pytest.mark.parametrize("count", [12, 60, 1500])
def test_certificate_expiry_buckets_are_all_present(count):
    store, _ = seed.build(count, 9, NOW_MS)
    dates = [d["connector_expiration_date"] for d in _objs(store.devices)]

    def day(offset: int) -> str:
        return ids.iso_date(NOW_MS + offset * ids.DAY_MS)

    assert any(d and d < day(0) for d in dates), "expired"
    assert any(d and day(0) <= d <= day(7) for d in dates), "within 7 days"
    assert any(d and day(8) <= d <= day(30) for d in dates), "within 30 days"
    assert any(d and day(31) <= d <= day(90) for d in dates), "within 90 days"


@pytest.mark.parametrize("count", [12, 60, 1500])
def test_suspension_cases_are_all_present(count):
    store, _ = seed.build(count, 9, NOW_MS)
    devices = _objs(store.devices)
    operator = [d for d in devices if d["operator_suspended"]]
    assert {d["last_operator_suspended_category"] for d in operator} >= {
        "maintenance",
        "lost_or_stolen",
        "suspicious_activity",
    }
    system_only = [d for d in devices if d["system_suspended"] and not d["operator_suspended"]]
    assert len(system_only) >= 2
    assert any(d["system_suspended"] and d["operator_suspended"] for d in devices)
    for d in devices:
        blocked = d["operator_suspended"] or d["system_suspended"]
        assert (d["lifecycle_status"] == "blocked") == blocked, d["id"]
        if d["operator_suspended"]:
            assert d["state"] != "registered"
            assert d["last_operator_suspended_updated_at"] <= d["updated_at"]
        if d["system_suspended"]:
            assert d["last_system_suspended_category"] == "certificate_blocklisted"
    references = {c["reference"] for c in store.block_categories}
    assert {d["last_operator_suspended_category"] for d in operator} <= references
    site7 = [d for d in devices if d["custom_attributes"].get("site") == "7"]
    assert any(d["state"] == "registered" for d in site7)


@pytest.mark.parametrize("count", [12, 1500])
def test_recent_update_failures_within_the_last_day(count):
    store, _ = seed.build(count, 9, NOW_MS)
    day_ago = ids.iso_us(NOW_MS - ids.DAY_MS)
    failures = [
        e
        for device_id in store.devices.ids
        for e in store.events.for_device(device_id)
        if e["event_type"] in events.FAIL_TYPES and e["date_time"] >= day_ago
    ]
    assert len(failures) >= 3
    assert all(e["event_type_description"] == "FAIL" for e in failures)
    assert all(e["event_type_category"].startswith("FAIL_") for e in failures)
    assert all(e["date_time"] < ids.iso_us(NOW_MS) for e in failures)
    failed_devices = {e["device_id"] for e in failures}
    assert all(store.devices.get(d)["state"] == "registered" for d in failed_devices)


def test_every_flag_of_the_access_review(data):
    store, _ = data
    day = ids.DAY_MS
    now_s = ids.iso_s(NOW_MS)
    invitations = _objs(store.invitations)
    pending = [i for i in invitations if i["expiration"] > now_s]
    assert any(i["created_at"] < ids.iso_s(NOW_MS - 7 * day) for i in pending), "pending > 7 d"
    assert any(i["created_at"] > ids.iso_s(NOW_MS - 7 * day) for i in pending), "fresh"
    assert any(i["expiration"] <= now_s for i in invitations), "expired"
    users = {u["id"]: u for u in _objs(store.users)}
    admins = [u for u in users.values() if store.admin_group_id in u["groups"]]
    assert any(u["status"] == "ACTIVE" and not u["is_totp_enabled"] for u in admins)
    keys = _objs(store.api_keys)
    assert any(
        k["status"] == "ACTIVE" and users[k["owner"]]["status"] == "INACTIVE"
        for k in keys
        if k.get("owner")
    )
    assert any(k["status"] == "ACTIVE" and k["last_login_time"] == 0 for k in keys)
    assert any(
        k["status"] == "ACTIVE" and 0 < k["last_login_time"] < NOW_MS - 90 * day for k in keys
    )
    access = _objs(store.access_keys)
    active = [k for k in access if k["status"] == "ACTIVE"]
    assert any("last_used_at" not in k for k in active), "access key never used"
    assert any(k.get("last_used_at", now_s) < ids.iso_s(NOW_MS - 90 * day) for k in active)
    per_app = Counter(k["application_id"] for k in active)
    old = ids.iso_s(NOW_MS - 14 * day)
    doubled = {
        app: [k for k in active if k["application_id"] == app]
        for app, n in per_app.items()
        if n >= 2
    }
    assert any(all(k["created_at"] < old for k in ks) for ks in doubled.values()), "> 14 days"
    assert any(any(k["created_at"] > old for k in ks) for ks in doubled.values()), "rotating"
    secrets = [kind for kind, _ in store.secrets.values()]
    assert secrets.count("access-key") == len(access)


def test_device_queries_are_seeded_for_any_fleet():
    for count in (1, 5, 1500):
        store, _ = seed.build(count, 2, NOW_MS)
        queries = _objs(store.device_queries)
        assert len(queries) >= 8
        assert all(len(q["query"]) <= 1000 and 0 < len(q["name"]) <= 200 for q in queries)
