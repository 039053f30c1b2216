"""The production profile's shared services: PostgreSQL (DATABASE_URL) and Redis (CACHE_URL).

The tests that need them run in `make pytest-postgres`, where scripts/services.sh starts a
throw-away PostgreSQL and Redis and points DATABASE_URL and CACHE_URL at them. Elsewhere they
are skipped with the reason (or fail, with DMPORTAL_REQUIRE_SERVICES=1, as that target sets).
Each test that starts dmportal processes gives them a database of their own, created here
from empty and dropped afterwards; pytest-django's test database is never touched.
"""

import contextlib
import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import environ
import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def services_missing():
    """Why the PostgreSQL + Redis tests cannot run in this run, or None."""
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "DATABASE_URL is not PostgreSQL (`make pytest-postgres` runs this test)"
    if settings.CACHES["default"]["BACKEND"] != "django.core.cache.backends.redis.RedisCache":
        return "CACHE_URL is not Redis (`make pytest-postgres` runs this test)"
    return None


@pytest.fixture(scope="session")
def shared_services():
    reason = services_missing()
    if reason:
        if os.environ.get("DMPORTAL_REQUIRE_SERVICES") == "1":
            pytest.fail(f"DMPORTAL_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
        pytest.skip(reason)


def connect(database_url=None, *, dbname=None):
    """A psycopg connection as DATABASE_URL's role: to `database_url`'s database, or to
    `dbname` (autocommit: "postgres", the maintenance database, to create and drop others)."""
    config = environ.Env.db_url_config(database_url or os.environ["DATABASE_URL"])
    return psycopg.connect(
        host=config["HOST"],
        port=config["PORT"],
        user=config["USER"],
        password=config["PASSWORD"],
        dbname=dbname or config["NAME"],
        autocommit=dbname is not None,
    )


@contextlib.contextmanager
def scratch_database(prefix):
    """An empty PostgreSQL database; yields its URL (DATABASE_URL with another name)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with connect(dbname="postgres") as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}").geturl()
    finally:
        with connect(dbname="postgres") as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def table_names(database_url):
    with connect(database_url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def manage(database_url, *arguments):
    """`manage.py <arguments>` with the production settings on `database_url`."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dmportal.settings",
        "DATABASE_URL": database_url,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
