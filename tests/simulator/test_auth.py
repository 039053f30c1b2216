"""Bearer keys: administrator, developer, unknown, missing; admin-only operations."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

FACTS = json.loads((Path(__file__).parents[2] / "dmportal/simulator/api_facts.json").read_text())[
    "operations"
]
SOME_ID = "0123456789abcdef0123456789abcdef"


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", SOME_ID, template)


ADMIN_ONLY = sorted(k for k, v in FACTS.items() if v["admin_only"])


def test_seeded_keys_look_like_real_keys(sim):
    for key in (sim.keys.admin, sim.keys.developer):
        assert re.fullmatch(r"ak_[A-Za-z0-9]{32,}", key)
        # A repository check flags ak_ + 32 lower-case hex as a leaked secret.
        assert not re.search(r"ak_[0-9a-f]{32}(?![0-9A-Za-z])", key)
    assert sim.keys.admin != sim.keys.developer


def test_seeded_keys_are_deterministic(sim, state_dir):
    from dmportal.simulator.server import Simulator

    from .conftest import NOW, SHARED_DEVICES

    again = Simulator(devices=SHARED_DEVICES, seed=7, state_dir=state_dir, now=NOW)
    assert again.keys == sim.keys
    # Stable from day to day and whatever the device count, so a demo .env keeps working.
    later = Simulator(devices=10, seed=7, state_dir=state_dir, now=NOW + timedelta(days=45))
    assert later.keys == sim.keys
    other = Simulator(devices=10, seed=8, state_dir=state_dir, now=NOW)
    assert other.keys.admin != sim.keys.admin


@pytest.mark.parametrize("client", ["admin", "developer"])
@pytest.mark.parametrize(
    "path",
    ["/v3/devices/", "/v3/device-events/", "/v3/device-groups/", "/v3/accounts/me",
     "/v3/api-keys/me", "/v3/api-keys/me/groups", "/v3/policy-groups"],
)  # fmt: skip
def test_both_keys_read_device_apis_and_self_service(request, client, path):
    assert request.getfixturevalue(client).get(path).status_code == 200


def test_api_keys_me_names_the_caller(admin, developer, sim):
    me = developer.get("/v3/api-keys/me").json()
    assert sim.keys.developer.startswith(me["key"])
    assert len(sim.keys.developer) - len(me["key"]) == 32  # the secret tail is never shown
    assert admin.get("/v3/api-keys/me").json()["id"] != me["id"]


@pytest.mark.parametrize("operation", ADMIN_ONLY)
def test_developer_gets_403_on_admin_only_operations(developer, operation):
    method, template = operation.split(" ", 1)
    body = [] if template.endswith(("/add", "/remove")) and "/groups/" in template else {}
    r = developer.request(method, _concrete(template), json=body)
    assert r.status_code == 403, r.text
    assert r.json()["type"] == "access_denied"


@pytest.mark.parametrize(
    "path", ["/v3/users", "/v3/api-keys", "/v3/applications", "/v3/user-invitations"]
)
def test_admin_reads_admin_only_lists(admin, path):
    assert admin.get(path).status_code == 200


def test_developer_sees_only_its_own_api_key(developer, admin):
    mine = developer.get("/v3/api-keys").json()["data"]
    assert len(mine) == 1
    assert len(admin.get("/v3/api-keys").json()["data"]) > 1
    other = next(k for k in admin.all("/v3/api-keys") if k["id"] != mine[0]["id"])
    r = developer.get(f"/v3/api-keys/{other['id']}")
    assert r.status_code == 403


def test_unknown_key_is_401_invalid_apikey(anonymous, sim):
    garbled = sim.keys.admin[:-1] + ("A" if sim.keys.admin[-1] != "A" else "B")
    for key in ("ak_unknown", garbled):
        r = anonymous.get("/v3/devices/", key=key)
        assert r.status_code == 401
        assert r.json()["type"] == "invalid_apikey"


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer a b"]
)
def test_missing_or_malformed_authorization_is_401_invalid_auth(anonymous, header):
    headers = {} if header is None else {"Authorization": header}
    r = anonymous.get("/v3/devices/", headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["type"] == "invalid_auth"
    assert body["request_id"] == r.headers["X-Request-ID"]


def test_wrong_trailing_slash_is_404(admin):
    assert admin.get("/v3/devices").status_code == 404
    assert admin.get("/v3/users/").status_code == 404


def test_unsupported_method_is_405(admin):
    r = admin.request("PATCH", "/v3/devices/")
    assert r.status_code == 405
    assert r.json()["type"] == "method_not_supported"
