"""Resource functions for device queries, lifecycle, device-group writes and metrics: what they
send (against `responses`), what they refuse before sending, and a round trip against the
simulator."""

import json
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from dmportal.dmapi import ApiClient, CircuitBreaker, SessionPool, resources
from dmportal.dmapi import errors as api
from tests.conftest import SENTINEL_KEY

BASE = "https://api.example.test"
DEVICE = "0158d38771f70000000000010010038c"
GROUP = "015c3029f6f7000000000001001000c3"
QUERY = "015c30671894000000000001001001e9"


def make_client():
    return ApiClient(BASE, SENTINEL_KEY, pool=SessionPool(), sleep=lambda s: None)


def envelope(items=(), **extra):
    return {"object": "list", "limit": 50, "has_more": False, "data": list(items), **extra}


def sent():
    request = responses.calls[-1].request
    query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
    body = json.loads(request.body) if request.body else None
    return request.method, urlsplit(request.url).path, query, body


# -- what is sent --------------------------------------------------------------------------------


@responses.activate
@pytest.mark.parametrize(
    ("call", "method", "path", "body"),
    [
        (
            lambda c: resources.device_query_get(c, QUERY),
            "GET",
            f"/v3/device-queries/{QUERY}/",
            None,
        ),
        (
            lambda c: resources.device_query_create(c, name="Site 7", query="state__eq=registered"),
            "POST",
            "/v3/device-queries/",
            {"name": "Site 7", "query": "state__eq=registered"},
        ),
        (
            lambda c: resources.device_query_update(c, QUERY, name="n", query="q=1"),
            "PUT",
            f"/v3/device-queries/{QUERY}/",
            {"name": "n", "query": "q=1"},
        ),
        (
            lambda c: resources.device_query_delete(c, QUERY),
            "DELETE",
            f"/v3/device-queries/{QUERY}/",
            None,
        ),
        (
            lambda c: resources.block_category_get(c, "lost_or_stolen"),
            "GET",
            "/v3/device-block-categories/lost_or_stolen",
            None,
        ),
        (
            lambda c: resources.device_suspend(c, DEVICE, category="maintenance", description="Q"),
            "POST",
            f"/v3/devices/{DEVICE}/suspend",
            {"category": "maintenance", "description": "Q"},
        ),
        (lambda c: resources.device_resume(c, DEVICE), "POST", f"/v3/devices/{DEVICE}/resume", {}),
        (
            lambda c: resources.device_resume(c, DEVICE, category="maintenance", description=""),
            "POST",
            f"/v3/devices/{DEVICE}/resume",
            {"category": "maintenance", "description": ""},
        ),
        (
            lambda c: resources.device_group_create(
                c, name="Leeds", description="d", custom_attributes={"site": "7"}
            ),
            "POST",
            "/v3/device-groups/",
            {"name": "Leeds", "description": "d", "custom_attributes": {"site": "7"}},
        ),
        (
            lambda c: resources.device_group_create(c, name="Bare"),
            "POST",
            "/v3/device-groups/",
            {"name": "Bare"},
        ),
        (
            lambda c: resources.device_group_update(c, GROUP, {"custom_attributes": {}}),
            "PUT",
            f"/v3/device-groups/{GROUP}/",
            {"custom_attributes": {}},
        ),
        (
            lambda c: resources.device_group_delete(c, GROUP),
            "DELETE",
            f"/v3/device-groups/{GROUP}/",
            None,
        ),
        (
            lambda c: resources.device_group_devices_add(c, GROUP, DEVICE),
            "POST",
            f"/v3/device-groups/{GROUP}/devices/add/",
            {"device_id": DEVICE},
        ),
        (
            lambda c: resources.device_group_devices_remove(c, GROUP, DEVICE),
            "POST",
            f"/v3/device-groups/{GROUP}/devices/remove/",
            {"device_id": DEVICE},
        ),
    ],
)
def test_paths_and_bodies(call, method, path, body):
    status = (
        204
        if method == "DELETE" or path.endswith(("/add/", "/remove/", "suspend", "resume"))
        else 200
    )
    if status == 204:
        responses.add(method, BASE + path, status=204)
    else:
        responses.add(method, BASE + path, json={"id": "x"}, status=200)
    call(make_client())
    got_method, got_path, _, got_body = sent()
    assert (got_method, got_path, got_body) == (method, path, body)
    assert responses.calls[-1].request.headers["Authorization"] == f"Bearer {SENTINEL_KEY}"
    assert SENTINEL_KEY not in responses.calls[-1].request.url
    assert SENTINEL_KEY not in (responses.calls[-1].request.body or b"").decode()


@responses.activate
def test_lists_and_the_query_sent_verbatim_as_filter():
    responses.get(f"{BASE}/v3/device-queries/", json=envelope(total_count=0))
    responses.get(f"{BASE}/v3/device-block-categories/", json=envelope())
    responses.get(f"{BASE}/v3/devices/", json=envelope())
    client = make_client()
    resources.device_query_page(client, limit=10, filters={"name__eq": "x"}, include_total=True)
    assert sent()[2] == {"limit": "10", "name__eq": "x", "include": "total_count"}
    resources.block_category_page(client)
    assert sent()[1] == "/v3/device-block-categories/"
    query = "state__eq=registered&custom_attributes__site__eq=7&name__eq=a b&c"
    resources.device_page_for_query(client, query, limit=50, include_total=True)
    assert sent()[2] == {"filter": query, "limit": "50", "include": "total_count"}
    resources.device_page_for_query(
        client, "state=registered", filters={"lifecycle_status__eq": "enabled"}
    )
    assert sent()[2] == {"filter": "state=registered", "lifecycle_status__eq": "enabled"}


@responses.activate
def test_metrics_parameters():
    responses.get(f"{BASE}/v3/metrics", json=envelope([{"id": "a" * 32, "timestamp": "t"}]))
    client = make_client()
    page = resources.metrics_page(
        client,
        include=["full_registrations", "bootstraps_failed"],
        interval="1d",
        start=date(2025, 5, 1),
        end=datetime(2025, 6, 1, 12, 30, tzinfo=UTC),
        limit=31,
        include_total=True,
    )
    assert sent()[2] == {
        "include": "full_registrations,bootstraps_failed,total_count",
        "interval": "1d",
        "start": "20250501",
        "end": "2025-06-01T12:30:00Z",
        "limit": "31",
    }
    assert page.items[0]["id"] == "a" * 32
    resources.metrics_page(client, include="transactions", interval="1h", period="2d", order="DESC")
    assert sent()[2] == {
        "include": "transactions",
        "interval": "1h",
        "period": "2d",
        "order": "DESC",
    }


# -- refused before sending ----------------------------------------------------------------------


@responses.activate
@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: resources.device_query_create(c, name="", query="q"), "name"),
        (lambda c: resources.device_query_create(c, name="n" * 201, query="q"), "name"),
        (lambda c: resources.device_query_create(c, name="n", query="q" * 1001), "query"),
        (lambda c: resources.device_query_update(c, QUERY, name="n", query=None), "query"),
        (lambda c: resources.device_page_for_query(c, "  "), "query"),
        (lambda c: resources.device_suspend(c, DEVICE, category="Lost!"), "category"),
        (lambda c: resources.device_suspend(c, DEVICE, category=None), "category"),
        (
            lambda c: resources.device_suspend(c, DEVICE, category="x", description="d" * 2001),
            "description",
        ),
        (lambda c: resources.block_category_get(c, "../devices"), "category"),
        (lambda c: resources.device_group_create(c, name="n" * 129), "name"),
        (
            lambda c: resources.device_group_create(c, name="n", description="d" * 1025),
            "description",
        ),
        (
            lambda c: resources.device_group_create(
                c, name="n", custom_attributes={f"k{i}": "v" for i in range(11)}
            ),
            "custom_attributes",
        ),
        (
            lambda c: resources.device_group_update(c, GROUP, {"custom_attributes": {"1a": "v"}}),
            "custom_attributes",
        ),
        (
            lambda c: resources.metrics_page(
                c, include="registrations", interval="1d", period="1d"
            ),
            "include",
        ),
        (
            lambda c: resources.metrics_page(
                c, include="transactions", interval="1 day", period="1d"
            ),
            "interval",
        ),
        (lambda c: resources.metrics_page(c, include="transactions", interval="1d"), "period"),
        (
            lambda c: resources.metrics_page(
                c, include="transactions", interval="1d", period="1d", start=date(2025, 1, 1)
            ),
            "period",
        ),
    ],
)
def test_refused_before_any_call_naming_the_field(call, field):
    with pytest.raises(api.InvalidRequest) as caught:
        call(make_client())
    assert [name for name, _ in caught.value.fields] == [field]
    assert len(responses.calls) == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda c: resources.device_query_get(c, "../users"),
        lambda c: resources.device_query_delete(c, "x"),
        lambda c: resources.device_suspend(c, "not-an-id", category="maintenance"),
        lambda c: resources.device_group_devices_add(c, GROUP, "../../users"),
        lambda c: resources.device_group_update(c, GROUP, {"devices_count": 3}),
    ],
)
def test_ids_and_fields_are_checked(call):
    with pytest.raises(api.InvalidRequest):
        call(make_client())


# -- against the simulator -----------------------------------------------------------------------


@pytest.fixture
def sim_client(fresh_simulator):
    def client(key):
        return ApiClient(
            fresh_simulator.base_url,
            key,
            ca_bundle=str(fresh_simulator.ca_cert_path),
            pool=SessionPool(),
            breaker=CircuitBreaker(),
            sleep=lambda s: None,
        )

    return client(fresh_simulator.keys.admin), client(fresh_simulator.keys.developer)


def test_round_trip_against_the_simulator(sim_client, fresh_simulator):
    admin, developer = sim_client
    views = resources.device_query_page(admin, limit=1000).items
    site7 = next(v for v in views if v["name"] == "Registered in site 7")
    page = resources.device_page_for_query(admin, site7["query"], include_total=True)
    assert page.total_count
    assert all(d["custom_attributes"]["site"] == "7" for d in page.items)
    typo = next(v for v in views if v["name"] == "Blocked (typo)")
    with pytest.raises(api.BadRequest) as refused:
        resources.device_page_for_query(admin, typo["query"])
    assert refused.value.request_id
    assert [name for name, _ in refused.value.fields] == ["filter"]

    made = resources.device_query_create(admin, name="Mine", query="state__eq=registered")
    assert made.request_id
    renamed = resources.device_query_update(admin, made["id"], name="Ours", query=made["query"])
    assert renamed["name"] == "Ours"
    with pytest.raises(api.PermissionDenied):
        resources.device_query_delete(developer, made["id"])
    assert resources.device_query_delete(admin, made["id"]) == {}
    with pytest.raises(api.NotFound):
        resources.device_query_get(admin, made["id"])

    categories = [c["reference"] for c in resources.block_category_page(admin).items]
    assert "maintenance" in categories
    device = resources.device_page(admin, filters={"lifecycle_status__eq": "enabled"}).items[0]
    resources.device_suspend(admin, device["id"], category="maintenance", description="Test")
    assert resources.device_get(admin, device["id"])["operator_suspended"] is True
    resources.device_resume(admin, device["id"], category="maintenance")
    assert resources.device_get(admin, device["id"])["lifecycle_status"] == "enabled"
    system = resources.device_page(
        admin, filters={"system_suspended__eq": True, "operator_suspended__eq": False}
    ).items[0]
    with pytest.raises(api.BadRequest):
        resources.device_resume(admin, system["id"])

    group = resources.device_group_create(admin, name="Fleet test", custom_attributes={"a": "b"})
    resources.device_group_devices_add(admin, group["id"], device["id"])
    resources.device_group_devices_add(admin, group["id"], device["id"])  # again: no change
    assert resources.device_group_get(admin, group["id"])["devices_count"] == 1
    resources.device_group_devices_remove(admin, group["id"], device["id"])
    updated = resources.device_group_update(admin, group["id"], {"description": "Done"})
    assert (updated["description"], updated["devices_count"]) == ("Done", 0)
    with pytest.raises(api.Conflict):
        resources.device_group_create(admin, name="Fleet test")
    resources.device_group_delete(admin, group["id"])

    metrics = resources.metrics_page(
        admin, include=["full_registrations"], interval="1d", period="7d", include_total=True
    )
    assert metrics.total_count in (7, 8)
    assert all(item["full_registrations"] > 0 for item in metrics.items[:-1])
    with pytest.raises(api.PermissionDenied):
        resources.metrics_page(developer, include="transactions", interval="1d", period="7d")
    stats = fresh_simulator.stats()
    assert stats["writes_total"] == 14
    assert stats["writes_applied_total"] == 11  # not the 403, the 400 and the 409
