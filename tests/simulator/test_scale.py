"""100,000 devices: load, filtered pages, the overview's counts, and a whole cursor walk.

Timings are printed (``-s`` or the captured output shows them), never asserted, except the
two generous bounds of the original load test; correctness is asserted against a scan.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from dmportal.simulator import facts
from dmportal.simulator.filters import parse_list_query
from dmportal.simulator.server import Simulator

from .conftest import NOW, Client

DEVICES = 100_000
DEVICE_FILTERS = facts.operation("GET", "/v3/devices/")["filters"]


def _day(days: int) -> str:
    return (NOW + timedelta(days=days)).date().isoformat()


# The overview's count calls (issue 19): by state, by lifecycle status, certificate expiry.
OVERVIEW = {
    **{f"state {s}": {"state__eq": s} for s in
       ("unenrolled", "cloud_enrolling", "bootstrapped", "registered", "deregistered")},
    "lifecycle enabled": {"lifecycle_status__eq": "enabled"},
    "lifecycle blocked": {"lifecycle_status__eq": "blocked"},
    "cert expired": {"connector_expiration_date__lte": _day(-1)},
    "cert within 7 days": {"connector_expiration_date__gte": _day(0),
                           "connector_expiration_date__lte": _day(7)},
    "cert within 30 days": {"connector_expiration_date__gte": _day(0),
                            "connector_expiration_date__lte": _day(30)},
    "cert within 90 days": {"connector_expiration_date__gte": _day(0),
                            "connector_expiration_date__lte": _day(90)},
    "operator suspended": {"operator_suspended__eq": "true"},
    "not registered": {"state__neq": "registered"},
}  # fmt: skip


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    sim = Simulator(devices=DEVICES, seed=1, state_dir=tmp_path_factory.mktemp("big"), now=NOW)
    sim.start()
    yield sim
    sim.stop()


def _scan(sim, params: dict) -> int:
    query = parse_list_query(params, filters=DEVICE_FILTERS, clamp_limit=True)
    objs = sim.store.devices.objs
    return sum(all(p.test(o) for p in query.predicates) for o in objs.values())


def test_load_and_filtered_page_speed(big, capsys):
    devices = big.store.devices
    cursor = devices.ids[len(devices) // 3]
    params = {"state__in": "registered,deregistered", "limit": "1000", "after": cursor}
    timings = []
    for _ in range(5):  # the first run also serialises the 1000 objects, later ones reuse it
        t = time.perf_counter()
        query = parse_list_query(params, filters=DEVICE_FILTERS, clamp_limit=True)
        page = devices.page(query)
        body = b",".join(page.items)
        timings.append(time.perf_counter() - t)
    assert len(page.items) == 1000
    assert page.has_more
    assert b'"state":"registered"' in body
    cold, warm = timings[0], min(timings[1:])
    with capsys.disabled():
        print(
            f"\n100k devices: load {big.load_seconds:.2f} s; filtered page of 1000: "
            f"{cold * 1000:.1f} ms cold, {warm * 1000:.1f} ms warm"
        )
    assert big.load_seconds < 15  # target: a few seconds; generous for slow CI machines
    assert warm < 0.1  # target: well under 20 ms; generous for slow CI machines


def test_overview_counts_are_right_and_timed(big, capsys):
    client = Client(big, big.keys.admin)
    client.get("/v3/accounts/me")  # the TLS connection, outside the measurements
    rows = []
    for label, params in OVERVIEW.items():
        call = {**params, "limit": 2, "include": "total_count"}
        started = time.perf_counter()
        body = client.get("/v3/devices/", params=call).json()
        first = time.perf_counter() - started
        started = time.perf_counter()
        client.get("/v3/devices/", params=call)
        again = time.perf_counter() - started
        started = time.perf_counter()
        expected = _scan(big, params)
        scan = time.perf_counter() - started
        assert body["total_count"] == expected, label
        assert len(body["data"]) == min(2, expected)
        rows.append((label, expected, first, again, scan))
    assert all(r[1] > 0 for r in rows)

    clients = [Client(big, big.keys.admin) for _ in OVERVIEW]
    for c in clients:
        c.get("/v3/accounts/me")

    def one(pair):
        c, params = pair
        return c.get("/v3/devices/", params={**params, "limit": 2, "include": "total_count"})

    started = time.perf_counter()
    with ThreadPoolExecutor(len(OVERVIEW)) as pool:
        answers = list(pool.map(one, zip(clients, OVERVIEW.values(), strict=True)))
    together = time.perf_counter() - started
    assert [a.json()["total_count"] for a in answers] == [r[1] for r in rows]
    with capsys.disabled():
        print("\n100k devices, overview counts (limit=2&include=total_count) over HTTPS:")
        print(f"  {'count':<22} {'total':>7} {'first':>9} {'again':>9} {'scan':>9}")
        for label, total, first, again, scan in rows:
            print(
                f"  {label:<22} {total:>7} {first * 1000:>7.1f}ms {again * 1000:>7.1f}ms "
                f"{scan * 1000:>7.1f}ms"
            )
        print(
            f"  all {len(OVERVIEW)} at once, {len(OVERVIEW)} connections: {together * 1000:.1f} ms"
        )


def test_a_whole_walk_at_limit_1000_with_devices_created_during_it(big, capsys):
    """Ascending cursors: devices created during the walk come at its end; every device that
    existed when it started is seen exactly once, in order."""
    client, writer = Client(big, big.keys.admin), Client(big, big.keys.admin)
    before = list(big.store.devices.ids)
    big.latency_ms = 20
    big.reset_stats()
    created, seen, pages = [], [], 0
    params = {"limit": 1000, "order": "ASC"}
    started = time.perf_counter()
    try:
        while True:
            body = client.get("/v3/devices/", params=params).json()
            pages += 1
            seen.extend(d["id"] for d in body["data"])
            if pages % 10 == 0:
                r = writer.post("/v3/devices/", json={"name": f"Created during walk {pages}"})
                assert r.status_code == 201
                created.append(r.json()["id"])
            if not body["has_more"]:
                break
            params["after"] = body["data"][-1]["id"]
    finally:
        big.latency_ms = 0
    wall = time.perf_counter() - started
    assert len(seen) == len(set(seen))
    assert seen[: len(before)] == before
    assert seen[len(before) :] == created[: len(seen) - len(before)]
    stats = big.stats()
    assert stats["requests"]["GET /v3/devices/"] == pages
    assert stats["writes_total"] == len(created)
    with capsys.disabled():
        print(
            f"\n100k walk at limit=1000 and 20 ms latency: {pages} pages in {wall:.2f} s "
            f"(latency alone {pages * 0.02 + len(created) * 0.02:.2f} s), "
            f"{len(created)} devices created during it"
        )
