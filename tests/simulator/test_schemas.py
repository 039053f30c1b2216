"""Every simulated operation answers with the body its spec declares.

The schemas under tests/fixtures/dm_api/ were derived from the official 2020-10-26 spec by
scripts/derive_api_facts.py (nothing here reads /work/shared). For each operation: the success
response (list page or single object) validates against the declared schema with the declared
status, and the error responses (401 without a key, 404 for an unknown ID) validate against
ErrorResponse.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from dmportal.simulator.metrics import METRICS
from dmportal.simulator.server import Simulator

from .conftest import NOW, Client

FIXTURES = Path(__file__).parents[1] / "fixtures" / "dm_api"
ENDPOINTS = json.loads((FIXTURES / "endpoints.json").read_text())["endpoints"]
MISSING_ID = "0000000000000000000000000000dead"
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

formats = FormatChecker(formats=())


@formats.checks("date-time")
def _date_time(value) -> bool:
    return not isinstance(value, str) or bool(DATE_TIME.match(value))


@formats.checks("date", raises=ValueError)
def _date(value) -> bool:
    return not isinstance(value, str) or date.fromisoformat(value) is not None


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((FIXTURES / "schemas" / f"{name}.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=formats)


def assert_valid(name: str, body) -> None:
    errors = sorted(validator(name).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A simulator of our own, and the IDs the calls below need (created up front)."""
    sim = Simulator(
        devices=80, seed=11, state_dir=tmp_path_factory.mktemp("schemas"), now=NOW
    ).start()
    admin = Client(sim, sim.keys.admin)
    devices = admin.all("/v3/devices/")
    users = admin.all("/v3/users")
    groups = admin.all("/v3/policy-groups")
    app = admin.post("/v3/applications", json={"name": "Schema app"}).json()
    key = admin.post("/v3/api-keys", json={"name": "Schema key"}).json()
    user_id = next(u["id"] for u in users if u["status"] == "INACTIVE")
    members = {"users": [user_id], "apikeys": [key["id"]], "applications": [app["id"]]}
    spare_group = admin.post(
        "/v3/policy-groups", json={"name": "Schema group", "members": members}
    ).json()
    device_group = admin.post("/v3/device-groups/", json={"name": "Schema"}).json()
    admin.post(
        f"/v3/device-groups/{device_group['id']}/devices/add/", json={"device_id": devices[1]["id"]}
    )
    ids = {
        "id": devices[0]["id"],
        "deletable": next(d["id"] for d in devices if d["device_execution_mode"] != 5),
        "device_event_id": admin.get("/v3/device-events/").json()["data"][0]["id"],
        "device-group-id": device_group["id"],
        "user_id": user_id,
        "invitation_id": admin.get("/v3/user-invitations").json()["data"][0]["id"],
        "group_id": spare_group["id"],
        "auditors": next(g["id"] for g in groups if g["name"] == "Auditors"),
        "apikey_id": key["id"],
        "application_id": app["id"],
        "access_key_id": admin.post(
            f"/v3/applications/{app['id']}/access-keys", json={"name": "k"}
        ).json()["id"],
        "device_id": devices[1]["id"],
        "query_id": admin.post(
            "/v3/device-queries/", json={"name": "Schema view", "query": "state__eq=registered"}
        ).json()["id"],
        "block_category_reference": "maintenance",
    }
    yield sim, admin, ids
    sim.stop()


def _path(template: str, ids: dict) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: ids[m.group(1)], template)


def _body(operation: str, ids: dict):
    """A valid request body for each write operation."""
    method, template = operation.split(" ", 1)
    if template.endswith("/devices/add/") or template.endswith("/devices/remove/"):
        return {"device_id": ids["device_id"]}
    if template.endswith(("/groups/add", "/groups/remove")):
        return [ids["auditors"]]
    for member, field, id_name in (
        ("users", "users", "user_id"),
        ("api-keys", "apikeys", "apikey_id"),
        ("applications", "applications", "application_id"),
    ):
        if template.endswith((f"/{member}/add", f"/{member}/remove")):
            return {field: [ids[id_name]]}
    if template.endswith(("/suspend", "/resume")):
        return {"category": "maintenance", "description": "schema test"}
    if method == "POST":
        return {
            "/v3/devices/": {"endpoint_name": "schema-test-device", "state": "registered"},
            "/v3/device-queries/": {"name": "Another view", "query": "state__eq=bootstrapped"},
            "/v3/device-groups/": {"name": "Created by schema test"},
            "/v3/users": {"email": "schema.user@example.com"},
            "/v3/user-invitations": {"email": "schema.invite@example.com"},
            "/v3/policy-groups": {"name": "Another schema group"},
            "/v3/api-keys": {"name": "Another key"},
            "/v3/applications": {"name": "Another app"},
            "/v3/applications/{application_id}/access-keys": {"name": "Another access key"},
        }[template]
    if method == "PUT":
        return {
            "/v3/devices/{id}/": {"description": "Checked against the schema"},
            "/v3/device-queries/{query_id}/": {"name": "Renamed view", "query": "state__eq=x"},
            "/v3/device-groups/{device-group-id}/": {"description": "schema"},
            "/v3/users/{user_id}": {"full_name": "Schema User"},
            "/v3/policy-groups/{group_id}": {"name": "Schema group renamed"},
            "/v3/api-keys/{apikey_id}": {"name": "Renamed key"},
            "/v3/applications/{application_id}": {"description": "renamed"},
            "/v3/applications/{application_id}/access-keys/{access_key_id}": {"name": "k2"},
        }[template]
    return None


# Query parameters an operation cannot do without.
PARAMS = {"GET /v3/metrics": {"include": "full_registrations,total_count", "interval": "1d",
                              "period": "7d"}}  # fmt: skip


def _order(operation: str) -> tuple[int, int, str]:
    # Reads first, deletes last and children before parents, so every call finds its objects.
    method, template = operation.split(" ", 1)
    rank = {"GET": 0, "PUT": 1, "POST": 2, "DELETE": 3}[method]
    return (rank, -len(template) if method == "DELETE" else 0, operation)


OPERATIONS = sorted(ENDPOINTS, key=_order)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_success_response_matches_the_spec(world, operation):
    _sim, admin, ids = world
    method, template = operation.split(" ", 1)
    call_ids = dict(ids)
    if operation == "DELETE /v3/devices/{id}/":
        call_ids["id"] = ids["deletable"]
    # Membership changes: make sure the member is out before an add and in before a remove.
    for suffix, opposite in (("/add", "/remove"), ("/remove", "/add")):
        if template.endswith(suffix) or template.endswith(suffix + "/"):
            other = template.replace(suffix, opposite)
            admin.request("POST", _path(other, call_ids), json=_body(operation, ids))
    r = admin.request(
        method, _path(template, call_ids), json=_body(operation, ids), params=PARAMS.get(operation)
    )
    declared = ENDPOINTS[operation]
    success = next(code for code in declared if code.startswith("2"))
    assert str(r.status_code) == success, r.text
    assert r.headers["X-Request-ID"]
    schema = declared[success]
    if schema is None:
        assert r.content == b""
        return
    body = r.json()
    assert_valid(schema, body)
    if schema.endswith(("Page", "List")):
        assert body["data"], f"{operation}: an empty page proves little"


@pytest.mark.parametrize("operation", OPERATIONS)
def test_error_responses_match_the_spec(world, operation):
    sim, admin, ids = world
    method, template = operation.split(" ", 1)
    anonymous = Client(sim, None)
    r = anonymous.request(method, _path(template, ids), json=_body(operation, ids))
    assert r.status_code == 401
    assert_valid("ErrorResponse", r.json())
    if "{" in template:
        missing = dict.fromkeys(ids, MISSING_ID)
        r = admin.request(method, _path(template, missing), json=_body(operation, ids))
        assert r.status_code == 404
        assert "404" in ENDPOINTS[operation]
        assert_valid("ErrorResponse", r.json())


def test_validation_error_matches_the_spec(world):
    _sim, admin, _ids = world
    r = admin.get("/v3/devices/", params={"state__eq": "nope"})
    assert r.status_code == 400
    body = r.json()
    assert_valid("ErrorResponse", body)
    assert body["fields"]


def test_every_seeded_object_matches_its_schema(world):
    _sim, admin, _ids = world
    for path, item in [
        ("/v3/devices/", "DeviceData"),
        ("/v3/device-events/", "DeviceEventData"),
        ("/v3/device-groups/", "DeviceGroup"),
        ("/v3/device-queries/", "DeviceQuery"),
        ("/v3/device-block-categories/", "DeviceBlockCategory"),
        ("/v3/users", "UserInfoResp"),
        ("/v3/user-invitations", "UserInvitationResp"),
        ("/v3/policy-groups", "GroupSummary"),
        ("/v3/api-keys", "ApiKeyInfoResp"),
        ("/v3/applications", "Application"),
        ("/v3/access-keys", "AccessKey"),
    ]:
        check = validator(item)
        for obj in admin.all(path):
            problems = list(check.iter_errors(obj))
            assert not problems, f"{path} {obj.get('id')}: {problems[0].message}"
    assert_valid("AccountInfo", admin.get("/v3/accounts/me?include=limits,policies").json())
    metrics = admin.get(
        "/v3/metrics",
        params={"include": ",".join(METRICS) + ",total_count", "interval": "1h", "period": "2d"},
    )
    assert_valid("successful-response", metrics.json())
    assert len(metrics.json()["data"]) in (48, 49)  # 2 days back to the hour, and this hour
    assert all(item["transactions"] > 0 for item in metrics.json()["data"][:-1])


def test_schema_check_is_not_vacuous():
    bad_device = {"id": 5, "state": "flying", "created_at": "yesterday"}
    assert len(list(validator("DeviceData").iter_errors(bad_device))) == 3
    assert list(validator("ErrorResponse").iter_errors({"object": "error"}))
