"""The sentinel key, stored through the form, appears nowhere it must not: in no page or
fragment of a walk over every URL, no header or cookie, no session, no log record, no
database row, no `dumpdata` output, no admin page."""

import io
import logging
import re

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection as db
from django.urls import URLPattern, URLResolver, get_resolver

from dmportal.accounts.models import Connection
from tests.conftest import API, PASSWORD, SENTINEL_KEY, device

pytestmark = pytest.mark.django_db

ANY_API_PATH = re.compile(re.escape(API) + r"/.*")
# One body that reads as a list page and as a single object: enough for every page to render.
GENERIC = {
    **device(1, id="a" * 32),
    "object": "list",
    "data": [device(1, id="a" * 32)],
    "has_more": False,
    "total_count": 1,
    "email": "someone@example.com",
    "status": "ACTIVE",
    "display_name": "Acme",
    "account_id": "a" * 32,
}


def concrete_paths(connection_pk):
    """Every URL of the project, with sample values for its parameters."""
    samples = {"hex32": "a" * 32, "int": str(connection_pk), "str": "x", "path": "x"}

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if route.startswith("admin/"):
                    continue  # the admin is walked separately, as a superuser
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                path = re.sub(
                    r"<(?:(\w+):)?\w+>", lambda m: samples.get(m.group(1) or "str", "x"), route
                )
                yield "/" + path.lstrip("^").rstrip("$")

    return sorted(set(walk(get_resolver().url_patterns)))


@pytest.fixture
def stored_through_the_form(client, user, api):
    client.force_login(user)
    api.get(ANY_API_PATH, json=GENERIC)
    api.post(ANY_API_PATH, json=GENERIC)
    api.put(ANY_API_PATH, json=GENERIC)
    api.delete(ANY_API_PATH, status=204)
    response = client.post(
        "/connections/add/",
        {"label": "Acme production", "api_host": API, "api_key": SENTINEL_KEY},
    )
    assert response.status_code == 302
    return Connection.objects.get(user=user)


def assert_clean(response, where):
    assert SENTINEL_KEY not in response.content.decode(errors="replace"), where
    for name, value in response.items():
        assert SENTINEL_KEY not in value, f"{where}: header {name}"
    for cookie in response.cookies.values():
        assert SENTINEL_KEY not in cookie.OutputString(), f"{where}: cookie"


def test_walk_every_page_and_fragment(client, stored_through_the_form, api, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    paths = concrete_paths(stored_through_the_form.pk)
    assert len(paths) > 15
    for path in paths:
        if "logout" in path:
            continue
        for headers in ({}, {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "listing"}):
            response = client.get(path, **headers)
            assert response.status_code < 500, (path, response.status_code)
            assert_clean(response, f"GET {path} {headers}")
    assert api.calls  # the pages really used the key...
    assert all(c.request.headers["Authorization"] == f"Bearer {SENTINEL_KEY}" for c in api.calls)
    assert all(SENTINEL_KEY not in c.request.url for c in api.calls)  # ...only in the header
    assert SENTINEL_KEY not in caplog.text
    captured = capsys.readouterr()
    assert SENTINEL_KEY not in captured.out + captured.err


def database_text():
    """Every row of every table as text: the whole database, on SQLite and PostgreSQL."""
    lines = []
    with db.cursor() as cursor:
        for table in db.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {db.ops.quote_name(table)}")  # noqa: S608
            lines.append(f"{table}: {cursor.fetchall()!r}")
    return "\n".join(lines)


def test_not_in_the_database_sessions_or_dumpdata(client, stored_through_the_form):
    client.get("/devices/")
    dump = database_text()
    assert "accounts_connection" in dump
    assert SENTINEL_KEY not in dump
    for session in Session.objects.all():
        assert SENTINEL_KEY not in str(session.get_decoded())
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    assert SENTINEL_KEY not in out.getvalue()


def test_not_in_the_admin(client, django_user_model, stored_through_the_form):
    django_user_model.objects.create_superuser("root", password=PASSWORD)
    client.force_login(django_user_model.objects.get(username="root"))
    pk = stored_through_the_form.pk
    for path in (
        "/admin/accounts/connection/",
        f"/admin/accounts/connection/{pk}/change/",
        "/admin/accounts/activityentry/",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_clean(response, path)
    assert (
        "key_ciphertext"
        not in client.get(f"/admin/accounts/connection/{pk}/change/").content.decode()
    )


def test_not_in_an_exception_report(rf, stored_through_the_form):
    from django.views.debug import ExceptionReporter

    from dmportal.accounts.services import api_client

    request = rf.get("/devices/")
    request.user = stored_through_the_form.user
    request._dm_connection = stored_through_the_form
    client = api_client(request)
    try:
        raise RuntimeError(f"boom with {client!r}")
    except RuntimeError:
        import sys

        text = ExceptionReporter(request, *sys.exc_info()).get_traceback_text()
    assert SENTINEL_KEY not in text


def test_failed_key_checks_do_not_echo_the_key(client, user, api, caplog):
    caplog.set_level(logging.DEBUG)
    client.force_login(user)
    api.get(ANY_API_PATH, status=401, json={"type": "invalid_apikey", "message": "no"})
    response = client.post(
        "/connections/add/",
        {"label": "x", "api_host": API, "api_key": SENTINEL_KEY},
    )
    assert response.status_code == 200
    assert_clean(response, "failed add")
    assert SENTINEL_KEY not in caplog.text
