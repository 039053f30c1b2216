"""Operational faults (reliability checklist §2.3), and the API simulator killed mid-request:
a clear page or fragment with dmportal's request id, nothing half-written, and the next request
after the fault works.

Catalogue id, fault, and the tests that cover it (bare names: this module; paths: under tests/).

O1   encryption key variable missing, empty or malformed in production
       test_empty_encryption_keys_stop_start_up;
       accounts/test_crypto.py::test_production_start_up_fails_without_encryption_keys,
       accounts/test_crypto.py::test_start_up_fails_with_a_malformed_encryption_key
O2   wrong encryption key deployed
       test_a_wrong_encryption_key_asks_to_re_enter_the_key_and_sends_nothing;
       core/test_health.py::test_a_wrong_encryption_key_is_503_and_names_no_key (readiness),
       accounts/test_crypto.py::test_a_wrong_encryption_key_is_reported_not_returned
O3   rotation in progress ([new, old] deployed, rotate command running)
       accounts/test_crypto.py::test_rotation_re_encrypts_with_the_newest_key,
       accounts/test_crypto.py::test_rotation_reports_keys_it_cannot_read,
       core/test_health.py::test_a_rotation_keeps_readiness_and_the_canary_follows_the_new_key
O4   encryption key lost
       test_a_wrong_encryption_key_asks_to_re_enter_the_key_and_sends_nothing (what users see:
       the same state as O2); core/test_health.py::test_a_lost_key_is_accepted_only_when_asked
O5   encryption key leaked
       not a behaviour to test: a procedure (README, "Rotating the encryption key": rotate, and
       have users revoke and reissue their keys upstream, which dmportal cannot do for them);
       the rotation it relies on is O3
O6   SECRET_KEY rotated, old one in SECRET_KEY_FALLBACKS
       security/test_platform.py::test_rotating_secret_key_keeps_sessions_through_the_fallback,
       security/test_platform.py::test_stored_keys_do_not_depend_on_secret_key
O7   database unavailable
       test_signing_in_while_the_database_fails_signs_nobody_in_and_writes_nothing,
       test_the_session_saved_after_the_sign_in_failing_signs_nobody_in,
       test_saving_a_connection_while_the_database_fails_writes_nothing,
       test_changing_a_connection_while_the_database_fails_changes_nothing,
       test_the_database_down_on_any_page_is_a_503_page_or_fragment,
       test_the_database_error_text_is_never_shown,
       test_a_bug_in_a_query_is_still_a_500_not_a_database_outage; core/test_health.py::
       test_database_down_is_503_with_a_reason_and_no_detail (the health check fails)
O8   the sign-in throttle's store down
       the throttle (accounts/throttle.py) is kept in the database, so its store down is O7: sign-in
       fails closed (test_signing_in_while_the_database_fails_signs_nobody_in_and_writes_
       nothing); the cache down: core/test_health.py::test_cache_down_is_503
O9   log sink down
       test_a_log_stream_that_fails_does_not_fail_the_page (dmportal logs to a stream; there is
       no Sentry or network log transport to block on)
O10  clock skew
       test_stored_keys_decrypt_whatever_the_clock_says (Fernet's ttl is never used)
--   the simulator killed mid-request
       test_the_api_killed_mid_request_is_unreachable_then_the_next_page_works
"""

import logging
import re
import threading
from contextlib import contextmanager

import pytest
from cryptography.fernet import Fernet
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import OperationalError
from django.db import connection as db
from freezegun import freeze_time

from dmportal.accounts import crypto
from dmportal.accounts.models import ActivityEntry, Connection, PasswordFailures, Preferences
from dmportal.simulator import server as simulator_server
from tests.accounts.test_crypto import start_django
from tests.conftest import (
    API,
    PASSWORD,
    SENTINEL_KEY,
    device,
    envelope,
    error_body,
    make_connection,
    use_simulator,
)

pytestmark = pytest.mark.django_db

ACCOUNT = {"id": "a" * 32, "display_name": "Acme Corp", "object": "account"}
ME_KEY = {"id": "b" * 32, "account_id": "a" * 32, "object": "api-key", "name": "k"}
NEW_KEY = "ak_" + "N" * 40
UNAVAILABLE = "dmportal&#x27;s database is unavailable"
WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


# -- the database failing, at the moment of a write -----------------------------------------------


@contextmanager
def database_fails(*, writes_to=None, everything=False, message="database is locked"):
    """Make dmportal's database fail as a locked or stopped one does: every statement
    (`everything`), every write, or only writes to the table `writes_to` (the last write of an
    action, to show that the writes before it are undone). Raised from the database layer, so
    the code sees what the driver would give it."""

    def execute(run, sql, params, many, context):
        if everything or (WRITE.match(sql) and (writes_to is None or writes_to in sql)):
            raise OperationalError(message)
        return run(sql, params, many, context)

    with db.execute_wrapper(execute):
        yield


def snapshot():
    """Every row an action may write: connections, preferences, activity, sessions, the users'
    last sign-in, and the sign-in throttle's records."""
    models = (Connection, Preferences, ActivityEntry, Session, PasswordFailures)
    rows = {m.__name__: sorted(map(repr, m.objects.values())) for m in models}
    rows["last_login"] = sorted(get_user_model().objects.values_list("pk", "last_login"))
    return rows


def unavailable(response, *, page=True):
    """The 503 of a database fault: says so, nothing saved, dmportal's request id."""
    html = response.content.decode()
    assert response.status_code == 503, html[:400]
    assert UNAVAILABLE in html
    assert "Nothing was saved" in html
    assert response["X-Request-ID"] in html
    assert "Traceback" not in html
    assert SENTINEL_KEY not in html
    assert ("<html" in html) is page
    assert "no-store" in response["Cache-Control"]
    return html


FAIL_POINTS = [
    pytest.param({}, id="every-write"),
    pytest.param({"writes_to": "accounts_activityentry"}, id="the-last-write"),
]


@pytest.mark.parametrize("fail", FAIL_POINTS)
def test_signing_in_while_the_database_fails_signs_nobody_in_and_writes_nothing(client, user, fail):
    before = snapshot()
    with database_fails(**fail):
        response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    unavailable(response)
    assert not response.cookies.get("sessionid")
    assert snapshot() == before
    assert client.get("/connections/")["Location"].startswith("/accounts/login/")
    # The database is back: the same sign-in works.
    assert (
        client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})["Location"]
        == "/"
    )
    assert client.get("/connections/").status_code == 200
    assert ActivityEntry.objects.filter(action="signin", result="ok").count() == 1


def test_the_session_saved_after_the_sign_in_failing_signs_nobody_in(client, user, monkeypatch):
    """The session's content (who is signed in) is saved by SessionMiddleware, after the
    sign-in's transaction has committed: that save failing is a 503 without the cookie, and the
    sign-in stays recorded (SignInView.form_valid)."""
    save = SessionStore.save

    def failing(self, must_create=False):
        if not must_create:  # the new row is created inside the transaction; this is the last
            raise OperationalError("database is locked")
        return save(self, must_create)

    monkeypatch.setattr(SessionStore, "save", failing)
    client.raise_request_exception = False
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 503
    assert not response.cookies.get("sessionid")
    assert ActivityEntry.objects.filter(action="signin", result="ok").count() == 1
    user.refresh_from_db()
    assert user.last_login is not None
    monkeypatch.undo()
    assert client.get("/connections/")["Location"].startswith("/accounts/login/")


def signed_in_without_connections(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize("fail", FAIL_POINTS)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_saving_a_connection_while_the_database_fails_writes_nothing(client, user, api, fail, htmx):
    signed_in_without_connections(client, user)
    api.get(f"{API}/v3/accounts/me", json=ACCOUNT)
    api.get(f"{API}/v3/api-keys/me", json=ME_KEY)
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "main"} if htmx else {}
    data = {"label": "Acme", "api_host": API, "api_key": SENTINEL_KEY}
    before = snapshot()
    with database_fails(**fail):
        response = client.post("/connections/add/", data, **headers)
    unavailable(response, page=not htmx)
    assert snapshot() == before
    assert {c.request.method for c in api.calls} == {"GET"}  # the key check, nothing written
    # The database is back: the same form saves it, once.
    assert client.post("/connections/add/", data).status_code == 302
    assert Connection.objects.filter(user=user, label="Acme").count() == 1
    assert ActivityEntry.objects.filter(action="connection.add", result="ok").count() == 1


@pytest.mark.parametrize(
    ("action", "path", "data"),
    [
        ("replace the key", "/connections/{pk}/", {"label": "Renamed", "api_key": NEW_KEY}),
        ("rename", "/connections/{pk}/", {"label": "Renamed", "api_key": ""}),
        ("remove", "/connections/{pk}/remove/", {}),
    ],
)
def test_changing_a_connection_while_the_database_fails_changes_nothing(
    signed_in, connection, api, action, path, data
):
    api.get(f"{API}/v3/accounts/me", json=ACCOUNT)
    api.get(f"{API}/v3/api-keys/me", json=ME_KEY)
    before = snapshot()
    with database_fails(writes_to="accounts_activityentry"):
        response = signed_in.post(path.format(pk=connection.pk), data)
    unavailable(response)
    assert snapshot() == before
    connection.refresh_from_db()
    assert (connection.label, connection.key_hint) == ("Acme production", "ak_…CRET")
    assert signed_in.post(path.format(pk=connection.pk), data).status_code == 302


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_the_database_down_on_any_page_is_a_503_page_or_fragment(signed_in, api, htmx):
    """Down before any view runs (loading the session): Django's 500 handler gives the same
    503, drawn without a query."""
    api.get(f"{API}/v3/devices/", json=envelope([device(1)], total=1))
    signed_in.raise_request_exception = False
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "listing"} if htmx else {}
    with database_fails(everything=True, message="unable to open database file"):
        response = signed_in.get("/devices/", **headers)
    unavailable(response, page=not htmx)
    assert len(api.calls) == 0
    assert signed_in.get("/devices/", **headers).status_code == 200  # back


def test_the_database_error_text_is_never_shown(signed_in, api):
    message = 'connection to server at "db.internal.example" (10.9.8.7), port 5432 failed'
    signed_in.raise_request_exception = False
    with database_fails(everything=True, message=message):
        html = unavailable(signed_in.get("/devices/"))
    assert "db.internal.example" not in html
    assert "10.9.8.7" not in html
    assert "OperationalError" not in html


def test_a_database_refusing_writes_after_the_api_call_still_serves_the_page(
    signed_in, api, monkeypatch, caplog
):
    """The connection's "last used" mark is written after the view; a locked database at that
    moment costs the mark, not the page."""
    api.get(f"{API}/v3/devices/", json=envelope([device(1)], total=1))

    def locked(request):
        raise OperationalError("database is locked")

    monkeypatch.setattr("dmportal.accounts.middleware.connection_note_usage", locked)
    response = signed_in.get("/devices/")
    assert response.status_code == 200
    assert UNAVAILABLE not in response.content.decode()
    assert "last use could not be recorded" in caplog.text


def test_a_bug_in_a_query_is_still_a_500_not_a_database_outage(signed_in, monkeypatch):
    from django.db import IntegrityError

    def broken(*args, **kwargs):
        raise IntegrityError("UNIQUE constraint failed")

    monkeypatch.setattr("dmportal.accounts.views.render", broken)
    signed_in.raise_request_exception = False
    response = signed_in.get("/connections/")
    assert response.status_code == 500
    assert UNAVAILABLE not in response.content.decode()


# -- encryption keys (O1, O2, O4, O10) ------------------------------------------------------------


@pytest.mark.parametrize("value", ["", " ", ","])
def test_empty_encryption_keys_stop_start_up(value):
    result = start_django(DEBUG="false", SECRET_KEY="s" * 50, DMPORTAL_ENCRYPTION_KEYS=value)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DMPORTAL_ENCRYPTION_KEYS" in result.stderr


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_wrong_encryption_key_asks_to_re_enter_the_key_and_sends_nothing(
    client, user, settings, fresh_simulator, htmx
):
    sim = fresh_simulator
    use_simulator(settings, sim)
    connection = make_connection(user, key=sim.keys.admin, host=sim.base_url)
    client.force_login(user)
    settings.DMPORTAL_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # not the one it used
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "listing"} if htmx else {}
    response = client.get("/devices/", **headers)
    html = response.content.decode()
    assert response.status_code == 409
    assert "This connection must be re-entered" in html
    assert f'href="/connections/{connection.pk}/">Re-enter the key' in html
    assert response["X-Request-ID"] in html
    assert ("<html" in html) is not htmx
    assert sim.stats()["requests_total"] == 0  # not even the ciphertext was tried upstream
    # Re-entering the key (checked against the API) stores it with today's key, and it works.
    edit = client.post(
        f"/connections/{connection.pk}/", {"label": connection.label, "api_key": sim.keys.admin}
    )
    assert edit.status_code == 302
    assert client.get("/devices/?limit=2").status_code == 200


def test_stored_keys_decrypt_whatever_the_clock_says(user):
    token = crypto.encrypt_api_key(SENTINEL_KEY, owner_id=user.pk)
    for moment in ("2099-12-31", "1999-01-01"):
        with freeze_time(moment):
            assert crypto.decrypt_api_key(token, owner_id=user.pk) == SENTINEL_KEY


# -- the log sink (O9) ----------------------------------------------------------------------------


class BrokenStream:
    def write(self, text):
        raise BrokenPipeError("the log collector went away")

    def flush(self):
        raise BrokenPipeError("the log collector went away")


def test_a_log_stream_that_fails_does_not_fail_the_page(signed_in, api, monkeypatch):
    monkeypatch.setattr(logging, "raiseExceptions", False)  # as with python -O; else stderr
    handler = logging.StreamHandler(BrokenStream())
    logging.getLogger().addHandler(handler)
    try:
        api.get(f"{API}/v3/devices/", json=envelope([device(1)], total=1))
        assert signed_in.get("/devices/").status_code == 200  # logs the API call
        api.get(f"{API}/v3/devices/{device(2)['id']}/", status=500, json=error_body(500, "x"))
        failed = signed_in.get(f"/devices/{device(2)['id']}/")  # logs a warning
        assert failed.status_code == 502
        assert failed["X-Request-ID"] in failed.content.decode()
    finally:
        logging.getLogger().removeHandler(handler)


# -- the API simulator killed while dmportal waits for it --------------------------------------


def test_the_api_killed_mid_request_is_unreachable_then_the_next_page_works(
    client, user, settings, fresh_simulator, monkeypatch
):
    sim = fresh_simulator
    use_simulator(settings, sim)
    make_connection(user, key=sim.keys.admin, host=sim.base_url)
    client.force_login(user)
    port = int(sim.base_url.rsplit(":", 1)[1])
    stalled, stopped = threading.Event(), threading.Event()
    hold = simulator_server._ApiHandler._drop

    def stall(handler, simulator, fault):
        # The simulator's own stall, which tells the killer when dmportal is waiting, and
        # keeps the socket until the whole simulator is gone (as when its process dies).
        stalled.set()
        hold(handler, simulator, fault)
        stopped.wait(30)

    monkeypatch.setattr(simulator_server._ApiHandler, "_drop", stall)

    def kill():
        stalled.wait(30)
        sim.stop()
        stopped.set()

    sim.faults.add(fault="stall", path_prefix="/v3/devices/", count=1)
    killer = threading.Thread(target=kill, name="simulator-killer")
    killer.start()
    try:
        response = client.get("/devices/")
    finally:
        stopped.set()
        killer.join()
    html = response.content.decode()
    assert response.status_code == 502, html[:400]
    assert "The Device Management API could not be reached" in html
    assert "none: the service sent no request id" in html
    assert response["X-Request-ID"] in html
    assert sim.stats()["faults"] == {"stall": 1}
    # It comes back on the same address: the next page is served, from a new connection.
    sim.start(port=port)
    assert client.get("/devices/?limit=2").status_code == 200
    assert sim.stats()["statuses"] == {"200": 1}
