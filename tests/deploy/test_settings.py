"""The production profile's settings: DATABASE_URL and CACHE_URL select the shared services.

Settings are read once, at start-up, so each case starts Django in a subprocess with its own
environment (as tests/accounts/test_crypto.py does). These run on every database.
"""

import json
import subprocess
import sys

import pytest
from django.core.cache import caches

from tests.benchmarks.processes import ROOT, free_port
from tests.conftest import PASSWORD

LOCMEM = "django.core.cache.backends.locmem.LocMemCache"
REDIS = "django.core.cache.backends.redis.RedisCache"
SHOW = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'caches': s.CACHES, 'sessions': s.SESSION_ENGINE, "
    "'database': s.DATABASES['default'], 'hashers': s.PASSWORD_HASHERS}, default=str))"
)


def start(**variables):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "dmportal.settings",
        "DMPORTAL_ENV_FILE": "/nonexistent",
        "DEBUG": "false",
        "SECRET_KEY": "s" * 50,
        "DMPORTAL_ENCRYPTION_KEYS": "Z9RqWO8WxlRsMnFGnUsfw6uYRhjfx9f5jUdhGpS4blI=",
        **variables,
    }
    return subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=env, capture_output=True, text=True
    )


def settings_with(**variables):
    result = start(**variables)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_one_machine_by_default_sqlite_and_a_cache_per_process():
    shown = settings_with()
    assert shown["caches"]["default"]["BACKEND"] == LOCMEM
    assert shown["sessions"] == "django.contrib.sessions.backends.db"
    assert shown["database"]["ENGINE"] == "django.db.backends.sqlite3"
    assert shown["database"]["NAME"].endswith("var/dmportal.sqlite3")
    assert "journal_mode=WAL" in shown["database"]["OPTIONS"]["init_command"]
    # Write transactions wait for each other instead of failing with "database is locked".
    assert shown["database"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    # Passwords are hashed with Argon2, a few at a time (accounts/hashers.py); failures are
    # counted in the database whichever cache is configured (accounts/throttle.py).
    assert shown["hashers"][0] == "dmportal.accounts.hashers.BoundedArgon2PasswordHasher"


def test_database_url_selects_postgresql_with_kept_connections():
    shown = settings_with(DATABASE_URL="postgres://dmportal:pw@db.internal:5432/dmportal")
    database = shown["database"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["NAME"], database["HOST"], database["PORT"]) == (
        "dmportal",
        "db.internal",
        5432,
    )
    assert database["USER"] == "dmportal"
    assert database["CONN_MAX_AGE"] == 60
    assert database["CONN_HEALTH_CHECKS"] is True
    assert "init_command" not in database.get("OPTIONS", {})  # SQLite's PRAGMAs only


def test_cache_url_selects_djangos_redis_cache_for_what_servers_share():
    url = "redis://:cache-password@cache.internal:6379/2"
    shown = settings_with(CACHE_URL=url)
    assert shown["caches"]["default"] == {
        "BACKEND": REDIS,
        "LOCATION": url,
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
    # Rendered filter forms stay in each process; sessions stay in the shared database.
    assert shown["caches"]["template_fragments"]["BACKEND"] == LOCMEM
    assert shown["sessions"] == "django.contrib.sessions.backends.db"
    tls = settings_with(CACHE_URL="rediss://cache.internal:6380/0")
    assert tls["caches"]["default"]["LOCATION"] == "rediss://cache.internal:6380/0"


@pytest.mark.parametrize(
    "url", ["memcache://cache-user:hunter2-secret@cache.internal:11211", "locmemcache://", "x"]
)
def test_a_cache_url_that_is_not_redis_stops_start_up_without_echoing_it(url):
    result = start(CACHE_URL=url)
    assert result.returncode != 0
    assert "CACHE_URL must be a Redis URL" in result.stderr
    assert "hunter2" not in result.stderr


def test_the_former_redis_url_stops_start_up_and_names_cache_url():
    result = start(REDIS_URL="redis://:hunter2-secret@cache.internal:6379/0")
    assert result.returncode != 0
    assert "REDIS_URL is no longer read: set CACHE_URL" in result.stderr
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("AXES_FAILURE_LIMIT", "DMPORTAL_SIGNIN_FAILURES"),
        ("AXES_COOLOFF_MINUTES", "DMPORTAL_SIGNIN_COOLOFF_MINUTES"),
    ],
)
def test_a_former_django_axes_variable_stops_start_up_and_names_its_replacement(old, new):
    """django-axes is gone (issue 14): a deployment still setting its variables would silently
    lose the limit it chose; it is told which variable to set instead."""
    result = start(**{old: "3"})
    assert result.returncode != 0
    assert f"{old} is no longer read: set {new} instead." in result.stderr


@pytest.mark.django_db
def test_pages_sign_out_and_sign_in_work_while_the_shared_cache_is_down(signed_in, settings):
    # Nothing listens on this port: every cache operation fails at once.
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": REDIS, "LOCATION": f"redis://127.0.0.1:{free_port()}/0"},
    }
    with pytest.raises(Exception, match="Connection refused"):
        caches["default"].get("anything")

    page = signed_in.get("/connections/")
    assert page.status_code == 200
    assert "Acme production" in page.content.decode()
    assert signed_in.post("/accounts/logout/").status_code == 302
    after = signed_in.get("/connections/")
    assert after.status_code == 302
    assert after["Location"].startswith("/accounts/login/")
    again = signed_in.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert again.status_code == 302
    assert signed_in.get("/connections/").status_code == 200
