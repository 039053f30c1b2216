"""Structural performance budgets (issue 8), pinned by regular, untimed tests.

The timed figures come from the benchmark (`make benchmark`); what can be counted is pinned
here so that it cannot regress silently: API calls per page view and per "load more" (one,
never one per row), one pooled and kept-alive TLS connection reused across requests,
clients and keys, the size of a 50-row "load more", static files with hashed names,
long-term caching and compression, and the documented gunicorn settings.
"""

import re
import runpy
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from dmportal.dmapi import ApiClient, SessionPool, resources
from tests.conftest import SENTINEL_KEY, make_connection, start_simulator, use_simulator

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent
HTMX = {"HTTP_HX_REQUEST": "true"}
FRAGMENT_BUDGET = 40_000  # bytes of HTML per "load more" of 50 rows


@pytest.fixture(scope="module")
def budget_sim(tmp_path_factory):
    """A simulator of this module's own: its counters are read and reset here."""
    sim = start_simulator(tmp_path_factory, devices=300, seed=11)
    yield sim
    sim.stop()


@pytest.fixture
def portal(client, settings, user, budget_sim):
    """Signed in, administrator key active, developer key as a second connection."""
    use_simulator(settings, budget_sim)
    make_connection(user, label="Admin", key=budget_sim.keys.admin, host=budget_sim.base_url)
    make_connection(user, label="Dev", key=budget_sim.keys.developer, host=budget_sim.base_url)
    client.force_login(user)
    client.get("/devices/?limit=2")  # opens the pooled connection to this simulator
    budget_sim.reset_stats()
    return client


def calls_of(sim):
    return sim.stats()["requests"]


def newest_ids(sim, count):
    client = ApiClient(sim.base_url, sim.keys.admin, ca_bundle=str(sim.ca_cert_path))
    return [d["id"] for d in resources.device_page(client, limit=count, order="DESC").items]


# -- API calls per page view -------------------------------------------------------------------


@pytest.mark.parametrize(("url", "limit"), [("/devices/", 50), ("/devices/?limit=300", 300)])
def test_device_list_is_one_call_with_its_count_whatever_the_rows(portal, budget_sim, url, limit):
    response = portal.get(url)
    assert response.status_code == 200
    assert calls_of(budget_sim) == {"GET /v3/devices/": 1}
    [call] = response.wsgi_request.api_calls
    assert "include=total_count" in call.path  # the count comes in the same call
    assert response.content.decode().count('<td class="id">') == limit


def test_load_more_is_one_call_without_a_count(portal, budget_sim):
    cursor = newest_ids(budget_sim, 50)[-1]
    budget_sim.reset_stats()
    response = portal.get(f"/devices/?after={cursor}", **HTMX)
    assert response.status_code == 200
    assert calls_of(budget_sim) == {"GET /v3/devices/": 1}
    [call] = response.wsgi_request.api_calls
    assert "include" not in call.path


def test_device_detail_shell_and_each_panel_are_one_call(portal, budget_sim):
    device = next(
        d
        for d in resources.device_page(
            ApiClient(
                budget_sim.base_url, budget_sim.keys.admin, ca_bundle=str(budget_sim.ca_cert_path)
            ),
            limit=300,
        ).items
        if len(d.get("groups") or []) >= 2
    )
    budget_sim.reset_stats()
    shell = portal.get(f"/devices/{device['id']}/")
    assert shell.status_code == 200
    assert calls_of(budget_sim) == {"GET /v3/devices/{id}/": 1}

    panel = re.search(r'hx-get="([^"]+/groups/\?id__in=[^"]+)"', shell.content.decode()).group(1)
    budget_sim.reset_stats()
    groups = portal.get(panel.replace("&amp;", "&"), **HTMX)
    assert groups.status_code == 200
    assert calls_of(budget_sim) == {"GET /v3/device-groups/": 1}  # all names in one call

    budget_sim.reset_stats()
    events = portal.get(f"/devices/{device['id']}/events/", **HTMX)
    assert events.status_code == 200
    assert calls_of(budget_sim) == {"GET /v3/device-events/": 1}
    for response in (shell, groups, events):
        html = response.content.decode()
        assert budget_sim.keys.admin not in html  # the key that made the calls
        assert budget_sim.keys.admin[-32:] not in html


# -- one pooled, kept-alive connection ---------------------------------------------------------


def test_page_views_reuse_one_kept_alive_tls_connection(portal, budget_sim, user):
    cursor = newest_ids(budget_sim, 50)[-1]
    budget_sim.reset_stats()
    for _ in range(3):
        assert portal.get("/devices/").status_code == 200
        assert portal.get(f"/devices/?after={cursor}", **HTMX).status_code == 200
    # The other connection (another key, another ApiClient) rides the same pooled session.
    dev = user.connections.get(label="Dev")
    portal.post("/connections/switch/", {"connection": dev.pk})
    assert portal.get("/devices/").status_code == 200
    stats = budget_sim.stats()
    assert stats["requests_total"] == 7
    assert stats["tls_handshakes"] == 0  # all on the connection opened before the reset
    assert stats["connections"] == 0


def test_threads_open_at_most_one_connection_each(budget_sim):
    pool = SessionPool()
    budget_sim.reset_stats()
    errors = []

    def work(key):
        client = ApiClient(
            budget_sim.base_url, key, ca_bundle=str(budget_sim.ca_cert_path), pool=pool
        )
        try:
            for _ in range(5):
                resources.device_page(client, limit=2)
        except Exception as exc:  # reported below, with the thread's key kept out
            errors.append(type(exc).__name__)

    keys = [budget_sim.keys.admin, budget_sim.keys.developer] * 2
    threads = [threading.Thread(target=work, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stats = budget_sim.stats()
    assert stats["requests_total"] == 20
    assert 1 <= stats["tls_handshakes"] <= len(threads)
    assert len(pool) == 1


# -- HTML size ---------------------------------------------------------------------------------


def test_a_load_more_of_50_rows_stays_under_40_kb(portal, budget_sim):
    cursor = newest_ids(budget_sim, 50)[-1]
    response = portal.get(f"/devices/?after={cursor}", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('<td class="id">') == 50
    assert 'id="devices-pager"' in html
    assert "<html" not in html
    assert len(response.content) <= FRAGMENT_BUDGET, len(response.content)


# -- static files ------------------------------------------------------------------------------


def test_static_files_have_hashed_names_long_cache_and_compression(settings, tmp_path):
    settings.STATIC_ROOT = str(tmp_path)
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    settings.WHITENOISE_USE_FINDERS = False
    settings.WHITENOISE_AUTOREFRESH = False
    call_command("collectstatic", interactive=False, verbosity=0)
    browser = Client()  # a new handler: WhiteNoise reads the collected files at start-up

    page = browser.get("/accounts/login/").content.decode()
    css = re.search(r'href="(/static/dmportal\.[0-9a-f]{12}\.css)"', page)
    js = re.search(r'src="(/static/dmportal\.[0-9a-f]{12}\.js)"', page)
    assert css, "pages must link the hashed stylesheet"
    assert js, "pages must link the hashed script"
    for url in (css.group(1), js.group(1)):
        response = browser.get(url, HTTP_ACCEPT_ENCODING="gzip, br")
        assert response.status_code == 200
        cache = response["Cache-Control"]
        assert "max-age=315360000" in cache
        assert "public" in cache
        assert "immutable" in cache
        assert response["Content-Encoding"] in ("gzip", "br")
        assert "Accept-Encoding" in response["Vary"]
        assert (tmp_path / (url.removeprefix("/static/") + ".gz")).is_file()
    plain = browser.get("/static/dmportal.css")  # the unhashed name is not cached for long
    assert "immutable" not in plain.get("Cache-Control", "")


# -- the documented server settings ------------------------------------------------------------


def gunicorn_settings(monkeypatch, **env):
    for name in ("DMPORTAL_WORKERS", "DMPORTAL_THREADS", "DMPORTAL_WORKER_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_gunicorn_settings_are_threaded_and_outlast_the_api_deadline(monkeypatch, settings):
    conf = gunicorn_settings(monkeypatch)
    assert conf["worker_class"] == "gthread"
    assert conf["workers"] >= 2
    assert conf["threads"] >= 4
    assert conf["reuse_port"] is True
    assert conf["wsgi_app"] == "dmportal.wsgi:application"
    # A slow API must end in an error page, never in a killed worker: the worker timeout is
    # above the client's deadline with its retries, and above htmx's own request timeout.
    client = ApiClient("https://api.example.test", SENTINEL_KEY)
    attempts = client.max_retries + 1
    waits = client.max_retries * max(client.backoff_cap, client.retry_after_cap)
    worst_api = attempts * settings.DMPORTAL_API_TIMEOUT + waits
    htmx = int(re.search(r'"timeout":(\d+)', (ROOT / "templates/_base.html").read_text())[1])
    assert conf["timeout"] > worst_api
    assert conf["timeout"] > htmx / 1000


def test_gunicorn_settings_come_from_the_environment(monkeypatch):
    conf = gunicorn_settings(
        monkeypatch, DMPORTAL_WORKERS="3", DMPORTAL_THREADS="5", DMPORTAL_WORKER_TIMEOUT="90"
    )
    assert (conf["workers"], conf["threads"], conf["timeout"]) == (3, 5, 90)
    with pytest.raises(SystemExit, match="DMPORTAL_THREADS"):
        gunicorn_settings(monkeypatch, DMPORTAL_THREADS="many")
