"""`/healthz` and `/readyz` (checklist O2, O7): anonymous, never cached, no session, cheap;
readiness fails with 503 and a short reason, never a secret, when the database, the cache or
the encryption keys do not work."""

import json
import logging
import runpy
import socket
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import OperationalError, connections

from dmportal.accounts import crypto
from dmportal.accounts.models import Connection, EncryptionCanary
from dmportal.support.models import ApiCall
from tests.conftest import SENTINEL_KEY, make_connection

pytestmark = pytest.mark.django_db

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "dmportal" / "settings.py"
KEY_1 = Fernet.generate_key().decode()
KEY_2 = Fernet.generate_key().decode()


@pytest.fixture
def keys(settings):
    """Switch DMPORTAL_ENCRYPTION_KEYS while the test runs: `keys(KEY_2, KEY_1)`."""

    def use(*values):
        settings.DMPORTAL_ENCRYPTION_KEYS = list(values)

    use(KEY_1)
    return use


def readiness(client):
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.content)


def never_cached(response):
    cache_control = response["Cache-Control"]
    return "no-store" in cache_control and "max-age=0" in cache_control


# -- liveness --------------------------------------------------------------------------------


def test_liveness_answers_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert never_cached(response)
    assert not response.cookies


def test_liveness_with_a_session_cookie_touches_no_database(
    signed_in, database_down, django_assert_num_queries
):
    # A probe that kept a cookie (or a signed-in person) must not make liveness depend on the
    # session, the user or their preferences.
    with django_assert_num_queries(0):
        assert signed_in.get("/healthz").status_code == 200
    database_down()
    response = signed_in.get("/healthz")
    assert (response.status_code, response.content) == (200, b"ok\n")


def test_liveness_answers_head_and_refuses_post(client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


# -- readiness -------------------------------------------------------------------------------


def test_ready_writes_the_canary_once_and_creates_no_session(client, keys):
    status, body = readiness(client)
    assert (status, body) == (
        200,
        {"status": "ready", "checks": {"database": "ok", "cache": "ok", "encryption": "ok"}},
    )
    assert readiness(client)[0] == 200
    [canary] = EncryptionCanary.objects.all()
    assert crypto.canary_readable(canary.token)
    assert Session.objects.count() == 0
    response = client.get("/readyz")
    assert not response.cookies
    assert never_cached(response)


def test_readiness_is_neither_counted_nor_logged_as_an_api_call(signed_in, settings, user):
    settings.DMPORTAL_USER_RATE_LIMIT = (1, 60)
    for _ in range(3):
        assert signed_in.get("/readyz").status_code == 200
    assert ApiCall.objects.count() == 0


@pytest.fixture
def database_down(monkeypatch):
    """Every new query fails as when the database server is down (an open connection's
    queries start with ensure_connection)."""

    def refuse(self):
        raise OperationalError('connection to "db.internal" failed: password "hunter2" rejected')

    return lambda: monkeypatch.setattr(type(connections["default"]), "ensure_connection", refuse)


def test_database_down_is_503_with_a_reason_and_no_detail(client, keys, database_down, caplog):
    readiness(client)  # the canary exists
    database_down()
    with caplog.at_level(logging.WARNING, logger="dmportal"):
        status, body = readiness(client)
    assert status == 503
    assert body == {
        "status": "not ready",
        "checks": {"database": "unavailable", "cache": "ok", "encryption": "not checked"},
    }
    assert any("database is unavailable" in r.getMessage() for r in caplog.records)


def test_the_database_is_checked_even_when_no_app_registers_a_check(
    client, database_down, monkeypatch
):
    monkeypatch.setattr("dmportal.core.health.READINESS_CHECKS", {})
    assert readiness(client) == (
        200,
        {"status": "ready", "checks": {"database": "ok", "cache": "ok"}},
    )
    database_down()
    status, body = readiness(client)
    assert (status, body["checks"]["database"]) == (503, "unavailable")


def test_database_down_never_shows_the_error_text(client, keys, database_down):
    database_down()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert b"hunter2" not in response.content
    assert b"db.internal" not in response.content


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cache_down_is_503(client, keys, settings):
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        },
    }
    status, body = readiness(client)
    assert status == 503
    assert body["checks"] == {"database": "ok", "cache": "unavailable", "encryption": "ok"}


def test_a_cache_that_does_not_store_is_503(client, keys, settings):
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
    }
    status, body = readiness(client)
    assert status == 503
    assert body["checks"]["cache"] == "not storing"


def test_a_wrong_encryption_key_is_503_and_names_no_key(client, keys, caplog):
    assert readiness(client)[0] == 200  # the canary is written with KEY_1
    keys(KEY_2)  # e.g. the staging key deployed to production
    with caplog.at_level(logging.WARNING, logger="dmportal"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert json.loads(response.content)["checks"] == {
        "database": "ok",
        "cache": "ok",
        "encryption": "wrong keys",
    }
    for key in (KEY_1, KEY_2):
        assert key.encode() not in response.content
        assert all(key not in r.getMessage() for r in caplog.records)
    assert any("cannot decrypt the canary" in r.getMessage() for r in caplog.records)


def test_missing_encryption_keys_are_503(client, keys):
    keys()
    status, body = readiness(client)
    assert status == 503
    assert body["checks"]["encryption"] == "keys missing"


def test_a_rotation_keeps_readiness_and_the_canary_follows_the_new_key(client, keys, user):
    assert readiness(client)[0] == 200  # the canary is written in the empty database
    make_connection(user)  # a stored key, encrypted with KEY_1
    assert readiness(client)[0] == 200
    keys(KEY_2, KEY_1)  # step 2 of the rotation: the new key first, the old one kept
    assert readiness(client)[0] == 200
    call_command("rotate_encryption_keys")  # step 3
    keys(KEY_2)  # step 4: the old key dropped
    assert readiness(client)[0] == 200
    connection_row = Connection.objects.get()
    assert crypto.decrypt_api_key(connection_row.key_ciphertext, owner_id=user.pk) == SENTINEL_KEY


def test_dropping_the_old_key_before_rotating_fails_readiness(client, keys, user):
    readiness(client)
    make_connection(user)
    keys(KEY_2, KEY_1)
    keys(KEY_2)  # the rotation command was skipped: stored keys are unreadable, and so is this
    assert readiness(client)[1]["checks"]["encryption"] == "wrong keys"


def test_a_lost_key_is_accepted_only_when_asked(client, keys):
    readiness(client)
    keys(KEY_2)  # KEY_1 is lost for good
    with pytest.raises(CommandError, match="--reset-canary"):
        call_command("rotate_encryption_keys")
    assert readiness(client)[0] == 503
    call_command("rotate_encryption_keys", "--reset-canary")
    assert readiness(client)[0] == 200


def test_a_missing_canary_beside_stored_keys_is_not_ready_and_not_rewritten(client, keys, user):
    """Issue 14: the canary was trusted on first use. Missing in a database that holds keys
    (deleted, or never written), the first probe wrote one with whatever keys were deployed,
    wrong ones included. Now it is not ready until the rotation command, which reads every
    stored key, has written it."""
    make_connection(user)  # encrypted with KEY_1
    EncryptionCanary.objects.all().delete()  # deleted, or a database older than the canary
    keys(KEY_2)  # the wrong keys are deployed
    status, body = readiness(client)
    assert (status, body["checks"]["encryption"]) == (503, "canary missing")
    assert not EncryptionCanary.objects.exists()
    keys(KEY_1)  # the right keys: still not ready, nothing proved them yet
    assert readiness(client)[1]["checks"]["encryption"] == "canary missing"
    keys(KEY_2)
    with pytest.raises(CommandError):
        call_command("rotate_encryption_keys")  # cannot read the stored key: no canary
    assert not EncryptionCanary.objects.exists()
    keys(KEY_2, KEY_1)
    call_command("rotate_encryption_keys")  # reads every stored key: writes the canary
    assert readiness(client)[0] == 200


def test_the_first_stored_key_writes_the_canary(client, keys, user):
    from dmportal.accounts.services import KeyFacts, connection_create

    facts = KeyFacts(account_id="a" * 32, account_name="Acme", key_id="1" * 32)
    connection_create(user=user, label="A", api_host="h", api_key=SENTINEL_KEY, facts=facts)
    [canary] = EncryptionCanary.objects.all()
    connection_create(user=user, label="B", api_host="h", api_key=SENTINEL_KEY, facts=facts)
    assert list(EncryptionCanary.objects.all()) == [canary]
    assert readiness(client)[0] == 200


# -- reachable the way load balancers probe ----------------------------------------------------


PROBE_HOST = "10.0.0.5:8000"  # balancers often send the server's own address, not a name


def test_probes_over_plain_http_are_not_redirected_in_production(client, settings, monkeypatch):
    monkeypatch.setenv("DMPORTAL_HTTPS", "true")
    production = runpy.run_path(str(SETTINGS_FILE))
    settings.SECURE_SSL_REDIRECT = production["SECURE_SSL_REDIRECT"]
    settings.SECURE_REDIRECT_EXEMPT = production["SECURE_REDIRECT_EXEMPT"]
    assert client.get("/accounts/login/").status_code == 301  # pages: to https
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz", HTTP_HOST=PROBE_HOST).status_code == 200
    assert client.get("/readyz", HTTP_HOST=PROBE_HOST).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_are_answered_whatever_host_they_send(client, keys, path):
    assert client.head(path, HTTP_HOST=PROBE_HOST).status_code == 200
    response = client.get(path, HTTP_HOST=PROBE_HOST)
    assert response.status_code == 200, response.content[:300]
    assert never_cached(response)
    # The middlewares outside the probes' still mark the response.
    assert len(response["X-Request-ID"]) == 32
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_other_paths_with_an_address_as_host_are_still_refused(client):
    for path in ("/accounts/login/", "/healthz/", "/readyz/x", "/"):
        assert client.get(path, HTTP_HOST=PROBE_HOST).status_code == 400, path
    assert client.post("/healthz", HTTP_HOST=PROBE_HOST).status_code == 400  # probes only GET
