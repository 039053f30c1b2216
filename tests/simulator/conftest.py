"""Simulator fixtures: one shared read-mostly instance, and fresh ones for tests that write."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from dmportal.simulator.server import Simulator

NOW = datetime(2025, 6, 1, tzinfo=UTC)
SHARED_DEVICES = 400


class Client:
    """requests with the simulator's CA and a bearer key; ``verify=`` is passed per request
    because this machine sets REQUESTS_CA_BUNDLE."""

    def __init__(self, sim: Simulator, key: str | None):
        self.sim = sim
        self.key = key
        self.session = requests.Session()

    def request(self, method: str, path: str, *, key: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        token = key if key is not None else self.key
        if token is not None and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {token}"
        kwargs.setdefault("timeout", 10)
        return self.session.request(
            method,
            self.sim.base_url + path,
            headers=headers,
            verify=str(self.sim.ca_cert_path),
            **kwargs,
        )

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def all(self, path: str, params: dict | None = None, limit: int = 1000) -> list[dict]:
        """Every item of a list, by cursor walk."""
        params = dict(params or {}, limit=limit)
        out: list[dict] = []
        for _ in range(1000):
            page = self.get(path, params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            out.extend(body["data"])
            if not body["has_more"]:
                return out
            params["after"] = body["data"][-1]["id"]
        raise AssertionError("cursor walk did not end")


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("simulator-state")


@pytest.fixture(scope="session")
def sim(state_dir):
    """Shared simulator. Tests using it must not change data other tests read."""
    simulator = Simulator(devices=SHARED_DEVICES, seed=7, state_dir=state_dir, now=NOW).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def fresh_sim(state_dir):
    simulator = Simulator(devices=60, seed=3, state_dir=state_dir, now=NOW).start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="session")
def admin(sim):
    return Client(sim, sim.keys.admin)


@pytest.fixture(scope="session")
def developer(sim):
    return Client(sim, sim.keys.developer)


@pytest.fixture(scope="session")
def anonymous(sim):
    return Client(sim, None)


@pytest.fixture
def fresh_admin(fresh_sim):
    return Client(fresh_sim, fresh_sim.keys.admin)


@pytest.fixture(scope="session")
def all_devices(admin):
    return admin.all("/v3/devices/")
