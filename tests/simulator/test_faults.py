"""Every fault of the plan, chosen by header, by control endpoint and in-process."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from dmportal.simulator.server import Simulator

from .conftest import NOW, Client


def _fault(client: Client, name: str, path: str = "/v3/devices/", **kw):
    return client.get(path, headers={"X-Simulator-Fault": name}, **kw)


@pytest.mark.parametrize(
    ("name", "status", "type_"),
    [
        ("500", 500, "internal_server_error"),
        ("503", 503, "system_unavailable"),
        ("429", 429, "rate_limit_exceeded"),
        ("401", 401, "invalid_auth"),
        ("403", 403, "access_denied"),
        ("404", 404, "not_found"),
    ],
)
def test_error_object_faults(admin, name, status, type_):
    r = _fault(admin, name)
    assert r.status_code == status
    body = r.json()
    assert body["object"] == "error"
    assert body["type"] == type_
    assert body["code"] == status
    assert body["request_id"] == r.headers["X-Request-ID"]
    if name in ("429", "503"):
        assert r.headers["Retry-After"] == "1"
    else:
        assert "Retry-After" not in r.headers


def test_retry_after_can_be_chosen(admin):
    r = _fault(admin, "429:3600")
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "3600"
    assert _fault(admin, "503:7").headers["Retry-After"] == "7"


def test_502_html_from_a_load_balancer(admin):
    r = _fault(admin, "502_html")
    assert r.status_code == 502
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.text.lstrip().startswith("<html>")
    assert r.headers["X-Request-ID"]


def test_non_json_wrong_content_type_and_empty(admin):
    r = _fault(admin, "non_json")
    assert r.status_code == 200
    assert "html" in r.headers["Content-Type"]
    with pytest.raises(requests.exceptions.JSONDecodeError):
        r.json()
    r = _fault(admin, "wrong_content_type")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html"
    assert r.json()["object"] == "list"  # the real body, mislabelled
    r = _fault(admin, "empty")
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["Content-Length"] == "0"


def test_truncated_body(admin):
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        _fault(admin, "truncated")
    assert admin.get("/v3/devices/").status_code == 200  # the server carries on


def test_reset(admin):
    with pytest.raises(requests.ConnectionError):
        _fault(admin, "reset")
    assert admin.get("/v3/devices/").status_code == 200


def test_stall_until_the_client_gives_up(admin):
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        _fault(admin, "stall", timeout=(3, 0.5))
    assert time.monotonic() - started < 3
    assert admin.get("/v3/devices/").status_code == 200


def test_stall_does_not_block_shutdown(state_dir):
    sim = Simulator(devices=5, state_dir=state_dir, now=NOW).start()
    client = Client(sim, sim.keys.admin)
    outcome = []

    def call():
        try:
            _fault(client, "stall", timeout=(3, 30))
            outcome.append("answered")
        except requests.RequestException as exc:
            outcome.append(type(exc).__name__)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.3)
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 3
    caller.join(5)
    assert outcome
    assert outcome != ["answered"]


def test_control_endpoint_fault_with_count_and_prefix(fresh_sim, fresh_admin):
    control = Client(fresh_sim, None)
    rule = {"fault": "503", "path_prefix": "/v3/devices/", "method": "GET", "count": 2}
    r = control.post("/_simulator/faults", json=rule)
    assert r.status_code == 201
    assert fresh_admin.get("/v3/users").status_code == 200  # other paths untouched
    assert fresh_admin.get("/v3/devices/").status_code == 503
    assert fresh_admin.get("/v3/devices/").status_code == 503
    assert fresh_admin.get("/v3/devices/").status_code == 200
    control.post("/_simulator/faults", json={"fault": "500", "count": None})
    assert fresh_admin.get("/v3/users").status_code == 500
    assert fresh_admin.get("/v3/users").status_code == 500
    assert control.delete("/_simulator/faults").status_code == 204
    assert fresh_admin.get("/v3/users").status_code == 200
    assert fresh_sim.stats()["faults"] == {"503": 2, "500": 2}


@pytest.mark.parametrize(
    "rule", [{"fault": "teapot"}, {}, {"fault": "500", "count": 0}, {"fault": "500", "rate": 2}]
)
def test_control_endpoint_rejects_bad_rules(fresh_sim, rule):
    r = Client(fresh_sim, None).post("/_simulator/faults", json=rule)
    assert r.status_code == 400
    assert r.json()["type"] == "validation_error"


def test_in_process_fault_plan(fresh_sim, fresh_admin):
    fresh_sim.faults.add(fault="404", path_prefix="/v3/accounts/me", count=1)
    assert fresh_admin.get("/v3/accounts/me").status_code == 404
    assert fresh_admin.get("/v3/accounts/me").status_code == 200
    fresh_sim.faults.add(fault="500", method="POST")
    assert fresh_admin.get("/v3/accounts/me").status_code == 200
    assert fresh_admin.post("/v3/device-groups/", json={"name": "x"}).status_code == 500
    fresh_sim.faults.clear()
    assert fresh_admin.post("/v3/device-groups/", json={"name": "x"}).status_code == 201


def test_fault_rate(fresh_sim, fresh_admin):
    fresh_sim.faults.add(fault="500", rate=0.25)
    codes = [fresh_admin.get("/v3/accounts/me").status_code for _ in range(200)]
    assert 20 < codes.count(500) < 80
    assert codes.count(200) + codes.count(500) == 200


def test_faults_never_touch_control_endpoints(fresh_sim):
    fresh_sim.faults.add(fault="reset")
    r = Client(fresh_sim, None).get("/_simulator/stats")
    assert r.status_code == 200


def test_control_endpoints_need_no_key(fresh_sim):
    assert Client(fresh_sim, None).get("/_simulator/faults").json() == {"rules": []}


def test_latency_and_jitter(state_dir):
    with Simulator(devices=5, state_dir=state_dir, now=NOW, latency_ms=150, jitter_ms=20) as sim:
        client = Client(sim, sim.keys.admin)
        client.get("/v3/accounts/me")  # connection set-up outside the measurement
        started = time.monotonic()
        assert client.get("/v3/accounts/me").status_code == 200
        assert time.monotonic() - started >= 0.125
        started = time.monotonic()
        client.get("/_simulator/stats")
        assert time.monotonic() - started < 0.1


# --- faults at the Nth call or write, applied faults, write counters -----------------------------
def test_fault_at_the_nth_call_of_a_walk(fresh_sim, fresh_admin):
    control = Client(fresh_sim, None)
    rule = {"fault": "503", "path_prefix": "/v3/devices/", "method": "GET", "at_call": 3}
    assert control.post("/_simulator/faults", json=rule).json()["count"] == 1
    assert fresh_admin.get("/v3/users").status_code == 200  # not matching: not counted
    codes = [fresh_admin.get("/v3/devices/", params={"limit": 2}).status_code for _ in range(5)]
    assert codes == [200, 200, 503, 200, 200]
    assert control.get("/_simulator/faults").json() == {"rules": []}  # retired


def test_fault_on_the_nth_write_for_count_writes(fresh_sim, fresh_admin):
    fresh_sim.faults.add(fault="500", on_write=3, count=2)
    device = fresh_admin.get("/v3/devices/", params={"limit": 2}).json()["data"][0]
    path = f"/v3/devices/{device['id']}/"
    codes = []
    for n in range(6):
        fresh_admin.get(path)  # reads are neither hit nor counted
        codes.append(fresh_admin.put(path, json={"description": f"write {n}"}).status_code)
    assert codes == [200, 200, 500, 500, 200, 200]
    # A faulted write changed nothing; the others did.
    stats = fresh_sim.stats()
    assert stats["writes_total"] == 6
    assert stats["writes"] == {"PUT /v3/devices/{id}/": 6}
    assert stats["writes_applied"] == {"PUT /v3/devices/{id}/": 4}
    assert stats["requests"]["GET /v3/devices/{id}/"] == 6


def test_positional_rules_count_calls_that_other_rules_answered(fresh_sim, fresh_admin):
    fresh_sim.faults.add(fault="404", count=2)
    fresh_sim.faults.add(fault="503", at_call=3)
    codes = [fresh_admin.get("/v3/accounts/me").status_code for _ in range(4)]
    assert codes == [404, 404, 503, 200]


def test_an_applied_fault_makes_the_change_and_loses_the_answer(fresh_sim, fresh_admin):
    fresh_sim.faults.add(fault="reset", on_write=1, applied=True)
    with pytest.raises(requests.ConnectionError):
        fresh_admin.post("/v3/device-groups/", json={"name": "Outcome unknown"})
    names = [g["name"] for g in fresh_admin.all("/v3/device-groups/")]
    assert "Outcome unknown" in names  # it was created although the client saw no answer
    fresh_sim.faults.add(fault="502_html", on_write=1, applied=True)
    r = fresh_admin.post("/v3/device-groups/", json={"name": "Also made"})
    assert r.status_code == 502
    assert "Also made" in [g["name"] for g in fresh_admin.all("/v3/device-groups/")]
    assert fresh_sim.stats()["writes_applied"] == {"POST /v3/device-groups/": 2}


@pytest.mark.parametrize(
    "rule",
    [
        {"fault": "500", "at_call": 0},
        {"fault": "500", "at_call": "3"},
        {"fault": "500", "on_write": True},
        {"fault": "500", "at_call": 2, "on_write": 2},
        {"fault": "500", "at_call": 2, "rate": 0.5},
        {"fault": "truncated", "applied": True},
        {"fault": "500", "applied": "yes"},
    ],
)
def test_bad_positional_rules_are_400(fresh_sim, rule):
    r = Client(fresh_sim, None).post("/_simulator/faults", json=rule)
    assert r.status_code == 400
    assert r.json()["type"] == "validation_error"


def test_dry_run_style_assertion_on_zero_writes_and_the_call_log(fresh_sim, fresh_admin):
    control = Client(fresh_sim, None)
    fresh_admin.get("/v3/devices/")
    assert control.post("/_simulator/stats/reset").status_code == 204
    walk = fresh_admin.all("/v3/devices/", limit=25)
    stats = control.get("/_simulator/stats").json()
    assert stats["writes_total"] == 0
    assert stats["requests_total"] == stats["requests"]["GET /v3/devices/"] == 3
    calls = control.get("/_simulator/calls").json()
    assert calls["dropped"] == 0
    assert [c["n"] for c in calls["calls"]] == [1, 2, 3]
    assert calls["calls"][1]["query"] == f"limit=25&after={walk[24]['id']}"
    assert {c["status"] for c in calls["calls"]} == {200}
    fresh_sim.faults.add(fault="429:7", at_call=1)
    fresh_admin.request("DELETE", "/v3/device-groups/0000000000000000000000000000dead/")
    last = fresh_sim.calls()["calls"][-1]
    assert (last["method"], last["template"], last["status"], last["fault"]) == (
        "DELETE",
        "/v3/device-groups/{device-group-id}/",
        429,
        "429:7",
    )
    assert fresh_sim.stats()["writes_applied_total"] == 0
    # The log and the counters hold paths and queries, never a key.
    shown = json.dumps(
        [fresh_sim.calls(), fresh_sim.stats(), control.get("/_simulator/calls").text]
    )
    assert fresh_sim.keys.admin not in shown
    assert fresh_sim.keys.admin[-32:] not in shown
