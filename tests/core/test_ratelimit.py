"""The per-user rate limit (core/ratelimit.py, checklist E9 and O8): counted once per request
that reaches the API, per user, in the shared cache; over it, our own 429 page or fragment
with Retry-After and the request id, nothing sent upstream; off when configured off; open when
the cache is down."""

import logging
import re
import runpy
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from freezegun import freeze_time

from dmportal.core import ratelimit
from tests.conftest import API, SENTINEL_KEY, device, envelope, make_connection

pytestmark = pytest.mark.django_db

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "dmportal" / "settings.py"
TITLE = "Too many requests from your account in dmportal"


@pytest.fixture(autouse=True)
def fresh_counters(settings):
    """Each test starts with no counts (tests reuse user ids) and no cache-down memory."""
    caches["default"].clear()
    ratelimit._cache_down_logged_at = None


@pytest.fixture
def limited(settings):
    settings.DMPORTAL_USER_RATE_LIMIT = (3, 60)


@pytest.fixture
def devices_api(api):
    api.get(f"{API}/v3/devices/", json=envelope([device(1)], total=1))
    return api


def upstream_calls(api):
    return len(api.calls)


def test_over_the_limit_is_our_own_429_page_with_retry_after_and_ids(
    signed_in, limited, devices_api
):
    for _ in range(3):
        assert signed_in.get("/devices/").status_code == 200
    assert upstream_calls(devices_api) == 3

    response = signed_in.get("/devices/")
    html = response.content.decode()
    assert response.status_code == 429
    assert upstream_calls(devices_api) == 3  # nothing sent for the refused request
    assert 1 <= int(response["Retry-After"]) <= 60
    assert TITLE in html
    assert f"wait {response['Retry-After']} second" in html
    assert response["X-Request-ID"] in html  # dmportal's own request id
    assert "<html" in html
    assert "Traceback" not in html
    assert SENTINEL_KEY not in html
    assert SENTINEL_KEY[-32:] not in html


def test_over_the_limit_a_load_more_gets_the_fragment_in_the_status_line(
    signed_in, limited, devices_api
):
    for _ in range(3):
        signed_in.get("/devices/")
    response = signed_in.get(
        f"/devices/?after={1:032x}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="devices-pager"
    )
    html = response.content.decode()
    assert response.status_code == 429
    assert response["HX-Retarget"] == "#devices-status"  # the "load more" button stays
    assert "<html" not in html
    assert TITLE in html
    assert response["X-Request-ID"] in html
    assert int(response["Retry-After"]) >= 1
    assert upstream_calls(devices_api) == 3


def test_only_requests_that_reach_the_api_count(signed_in, settings, devices_api):
    settings.DMPORTAL_USER_RATE_LIMIT = (2, 60)
    anonymous = Client()
    for _ in range(3):
        assert anonymous.get("/accounts/login/").status_code == 200
        assert anonymous.get("/devices/").status_code == 302  # to the sign-in page
    for url in ("/connections/", "/preferences/", "/activity/", "/healthz", "/readyz"):
        for _ in range(3):
            assert signed_in.get(url).status_code == 200, url
    for _ in range(3):
        assert signed_in.get("/static/dmportal.css").status_code == 200
    assert upstream_calls(devices_api) == 0
    # None of that was counted: the whole limit is still there for pages that call the API.
    assert [signed_in.get("/devices/").status_code for _ in range(3)] == [200, 200, 429]


def test_after_the_limit_other_pages_still_work(signed_in, limited, devices_api):
    for _ in range(4):
        signed_in.get("/devices/")
    assert signed_in.get("/connections/").status_code == 200  # no API: not refused


def test_a_request_counts_once_however_many_api_calls_it_makes(sim_client, settings, sim):
    settings.DMPORTAL_USER_RATE_LIMIT = (1, 60)
    response = sim_client.get("/team/users/")  # the users and their groups' names
    assert response.status_code == 200
    assert len(response.wsgi_request.api_calls) == 2
    assert sim_client.get("/devices/").status_code == 429


def test_each_user_has_a_limit_of_their_own(client, signed_in, other_user, limited, devices_api):
    make_connection(other_user)
    for _ in range(4):
        signed_in.get("/devices/")
    assert signed_in.get("/devices/").status_code == 429
    client.force_login(other_user)
    assert client.get("/devices/").status_code == 200


def test_the_next_window_starts_a_new_count(signed_in, limited, devices_api):
    minute = (int(time.time()) // 60 + 1) * 60  # the start of the next whole minute
    with freeze_time(datetime.fromtimestamp(minute + 5, UTC)) as frozen:
        for _ in range(3):
            assert signed_in.get("/devices/").status_code == 200
        refused = signed_in.get("/devices/")
        assert refused.status_code == 429
        assert refused["Retry-After"] == "55"  # the seconds left in this minute's window
        frozen.move_to(datetime.fromtimestamp(minute + 60, UTC))
        assert signed_in.get("/devices/").status_code == 200


def test_going_over_is_logged_once_per_window(signed_in, limited, devices_api, caplog, user):
    with caplog.at_level(logging.WARNING, logger="dmportal.ratelimit"):
        for _ in range(6):
            signed_in.get("/devices/")
    [record] = [r for r in caplog.records if r.name == "dmportal.ratelimit"]
    assert f"User {user.pk} went over the rate limit of 3 requests in 60 s" in record.getMessage()
    assert record.event == "rate_limited"


def test_turned_off_it_never_counts(signed_in, settings, devices_api, monkeypatch):
    settings.DMPORTAL_USER_RATE_LIMIT = None
    counted = []
    monkeypatch.setattr(ratelimit, "window_hit", lambda *a: counted.append(a))
    for _ in range(5):
        assert signed_in.get("/devices/").status_code == 200
    assert counted == []


# -- the cache down (O8): fail open ------------------------------------------------------------


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def cache_down(settings):
    """The default cache is a Redis server that is not there (connections are refused)."""
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        },
    }


def test_with_the_cache_down_requests_are_served_uncounted_and_it_is_logged(
    signed_in, limited, devices_api, cache_down, caplog
):
    with caplog.at_level(logging.WARNING, logger="dmportal.ratelimit"):
        for _ in range(5):  # over the limit of 3, had it been counted
            assert signed_in.get("/devices/").status_code == 200
    assert upstream_calls(devices_api) == 5
    warnings = [r.getMessage() for r in caplog.records if r.name == "dmportal.ratelimit"]
    assert warnings == [
        "The cache is unavailable (ConnectionError): rate limits are not applied until it is back"
    ]  # once, not once per request


def test_a_failing_cache_operation_fails_open(monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("cache unreachable")

    monkeypatch.setattr(ratelimit, "_count", broken)
    assert ratelimit.window_hit("user:1", 60) is None


# -- the counter itself ---------------------------------------------------------------------------


def test_the_counter_counts_in_the_shared_cache():
    hits = [ratelimit.window_hit("user:42", 60).count for _ in range(3)]
    assert hits == [1, 2, 3]
    assert ratelimit.window_hit("user:43", 60).count == 1


@pytest.mark.skipif(
    not isinstance(caches["default"], RedisCache), reason="the default cache is not Redis"
)
def test_on_redis_a_count_is_one_round_trip(monkeypatch):
    import redis

    executed, direct = [], []
    pipeline_execute = redis.client.Pipeline.execute
    redis_command = redis.Redis.execute_command

    def count_pipeline(self, *args, **kwargs):
        executed.append(1)
        return pipeline_execute(self, *args, **kwargs)

    def count_command(self, *args, **kwargs):
        direct.append(args[0])
        return redis_command(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", count_pipeline)
    monkeypatch.setattr(redis.Redis, "execute_command", count_command)
    assert ratelimit.window_hit("user:7", 60).count == 1
    assert ratelimit.window_hit("user:7", 60).count == 2
    assert executed == [1, 1]
    assert direct == []
    key = caches["default"].make_and_validate_key("dmportal:rate:user:7:60:0")
    assert key.startswith(":1:dmportal:rate:")  # Django's key prefix and version apply


# -- the setting -----------------------------------------------------------------------------------


def settings_with(monkeypatch, value):
    monkeypatch.setenv("DMPORTAL_USER_RATE_LIMIT", value)
    return runpy.run_path(str(SETTINGS_FILE))["DMPORTAL_USER_RATE_LIMIT"]


@pytest.mark.parametrize(("value", "parsed"), [("300/60", (300, 60)), ("0", None), ("", None)])
def test_the_setting_reads_requests_per_seconds_or_off(monkeypatch, value, parsed):
    assert settings_with(monkeypatch, value) == parsed


@pytest.mark.parametrize("value", ["300", "300/0", "-1/60", "lots/60", "300/60s", "²/60"])
def test_a_malformed_setting_stops_start_up_with_its_name(monkeypatch, value):
    with pytest.raises(ImproperlyConfigured, match=re.escape("DMPORTAL_USER_RATE_LIMIT")):
        settings_with(monkeypatch, value)


def test_the_default_is_300_a_minute(monkeypatch):
    monkeypatch.delenv("DMPORTAL_USER_RATE_LIMIT", raising=False)
    assert runpy.run_path(str(SETTINGS_FILE))["DMPORTAL_USER_RATE_LIMIT"] == (300, 60)
