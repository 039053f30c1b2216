"""Every fault of the plan, chosen by header, by control endpoint and in-process."""

from __future__ import annotations

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
