"""GET /v3/metrics: parameters, paging, consistent seeded series, access."""

from __future__ import annotations

import statistics
from datetime import timedelta

import pytest

from dmportal.simulator.ids import iso_s
from dmportal.simulator.metrics import METRICS

from .conftest import NOW

PATH = "/v3/metrics"
MAY = {"include": "full_registrations,total_count", "interval": "1d", "start": "20250501",
       "end": "20250601"}  # fmt: skip


def _get(client, **params):
    return client.get(PATH, params=params)


def _fields(r) -> list[str]:
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "validation_error"
    return [f["name"] for f in r.json()["fields"]]


def test_a_month_of_days(admin):
    body = _get(admin, **MAY).json()
    assert body["object"] == "list"
    assert "order" not in body  # successful-response has none
    assert body["total_count"] == 31
    assert body["limit"] == 50
    assert body["after"] is None
    assert body["has_more"] is False
    stamps = [item["timestamp"] for item in body["data"]]
    assert stamps[0] == "2025-05-01T00:00:00Z"
    assert stamps[-1] == "2025-05-31T00:00:00Z"
    assert all(set(item) == {"id", "timestamp", "full_registrations"} for item in body["data"])
    assert all(item["full_registrations"] > 0 for item in body["data"])
    assert _get(admin, **MAY).json() == body  # deterministic


def test_every_metric_of_the_spec_is_served(admin):
    body = _get(admin, **{**MAY, "include": ",".join(METRICS)}).json()
    assert "total_count" not in body
    assert set(body["data"][0]) == {"id", "timestamp", *METRICS}
    assert len(METRICS) == 16


def test_hours_add_up_to_their_day(admin):
    day = _get(admin, include="registration_updates", interval="1d", start="20250520",
               end="20250521").json()["data"]  # fmt: skip
    hours = _get(admin, include="registration_updates", interval="1h", start="20250520",
                 end="20250521", limit="100").json()["data"]  # fmt: skip
    assert len(hours) == 24
    assert sum(h["registration_updates"] for h in hours) == day[0]["registration_updates"]
    five = _get(admin, include="registration_updates", interval="5m", start="20250520T100000Z",
                end="20250520T110000Z").json()["data"]  # fmt: skip
    assert len(five) == 12
    assert sum(f["registration_updates"] for f in five) == hours[10]["registration_updates"]
    # Working hours are busier than the night.
    assert hours[10]["registration_updates"] > hours[3]["registration_updates"]


def test_the_seeded_story_yesterday_registrations_dropped_and_errors_spiked(admin):
    include = "full_registrations,connect_rest_api_error,connect_rest_api_success"
    data = _get(admin, **{**MAY, "include": include}).json()["data"]
    usual = statistics.median(d["full_registrations"] for d in data[:-1])
    assert data[-1]["timestamp"] == "2025-05-31T00:00:00Z"  # the day before the data's now
    assert data[-1]["full_registrations"] < usual * 0.5
    errors = [d["connect_rest_api_error"] for d in data]
    assert errors.index(max(errors)) == len(data) - 3
    assert max(errors) > 4 * statistics.median(errors)


def test_paging_with_after_and_order(admin):
    everything = _get(admin, **MAY).json()["data"]
    walked, params = [], {**MAY, "limit": "7"}
    while True:
        body = _get(admin, **params).json()
        assert body["total_count"] == 31
        walked.extend(body["data"])
        if not body["has_more"]:
            break
        # The envelope's after is the cursor bucket's timestamp, as in the spec's example.
        last = body["data"][-1]
        params["after"] = last["id"]
        assert _get(admin, **params).json()["after"] == last["timestamp"]
    assert walked == everything
    desc = _get(admin, **{**MAY, "order": "DESC", "limit": "5"}).json()
    assert [d["timestamp"] for d in desc["data"]] == [d["timestamp"] for d in everything[::-1][:5]]
    more = _get(admin, **{**MAY, "order": "DESC", "limit": "5", "after": desc["data"][-1]["id"]})
    assert more.json()["data"][0]["timestamp"] == everything[::-1][5]["timestamp"]


def test_period_ends_at_the_clock_and_nothing_is_in_the_future(admin, sim):
    body = _get(admin, include="transactions,total_count", interval="1d", period="30d").json()
    assert body["total_count"] in (30, 31)
    now = sim._api.now_ms()
    assert all(d["timestamp"] <= iso_s(now) for d in body["data"])
    assert all(d["transactions"] > 0 for d in body["data"][:-1])
    week = _get(admin, include="transactions", interval="1w", period="8w").json()["data"]
    assert all(d["timestamp"].endswith("T00:00:00Z") for d in week)
    start, end = (
        (NOW + timedelta(days=days)).strftime("%Y%m%d") for days in (3000, 3010)
    )  # years after the live clock
    beyond = _get(admin, include="transactions,total_count", interval="1d", start=start, end=end)
    beyond = beyond.json()
    assert beyond["total_count"] == 0
    assert beyond["data"] == []


@pytest.mark.parametrize(
    "value",
    ["2025", "20250501", "2025-05-01", "20250501T000000Z", "20250501T000000000Z",
     "2025-05-01T00:00:00Z", "2025-05-01T00:00:00.000Z"],
)  # fmt: skip
def test_start_formats_of_the_spec(admin, value):
    body = _get(admin, **{**MAY, "start": value}).json()
    first = "2025-01-01T00:00:00Z" if value == "2025" else "2025-05-01T00:00:00Z"
    assert body["data"][0]["timestamp"] == first


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"include": None}, ["include"]),
        ({"include": ""}, ["include"]),
        ({"include": "total_count"}, ["include"]),
        ({"include": "registrations"}, ["include"]),
        ({"interval": None}, ["interval"]),
        ({"interval": "1y"}, ["interval"]),
        ({"interval": "4m"}, ["interval"]),
        ({"interval": "366d"}, ["interval"]),
        ({"interval": "54w"}, ["interval"]),
        ({"interval": "8761h"}, ["interval"]),
        ({"start": None}, ["start"]),
        ({"start": None, "end": None}, ["start", "end"]),
        ({"end": "yesterday"}, ["end"]),
        ({"end": "20250401"}, ["end"]),
        ({"start": "20240101", "end": "20250301"}, ["end"]),
        ({"period": "7d"}, ["period"]),
        ({"start": None, "end": None, "period": "400d"}, ["period"]),
        ({"start": None, "end": None, "period": "soon"}, ["period"]),
        ({"limit": "1"}, ["limit"]),
        ({"limit": "1001"}, ["limit"]),
        ({"limit": "ten"}, ["limit"]),
        ({"order": "UP"}, ["order"]),
        ({"after": "not-an-id"}, ["after"]),
        ({"after": "0" * 32}, ["after"]),
    ],
)
def test_missing_or_bad_parameters_are_400_naming_them(admin, change, fields):
    params = {**MAY, **change}
    params = {k: v for k, v in params.items() if v is not None}
    assert _fields(_get(admin, **params)) == fields


def test_limits_of_the_grammar_are_accepted(admin):
    for interval in ("5m", "525600m", "8760h", "365d", "53w"):
        params = {**MAY, "interval": interval, "start": "20250101", "end": "20250102"}
        assert _get(admin, **params).status_code == 200, interval
    whole_year = {**MAY, "start": "20240601", "end": "20250601"}
    assert _get(admin, **whole_year).json()["total_count"] == 365


def test_the_developer_key_gets_403(developer):
    r = _get(developer, **MAY)
    assert r.status_code == 403
    body = r.json()
    assert body["type"] == "access_denied"
    assert body["request_id"] == r.headers["X-Request-ID"]


def test_without_a_key_401(anonymous):
    assert _get(anonymous, **MAY).status_code == 401
