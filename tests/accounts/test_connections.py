"""Adding, replacing, switching and removing connections, and every way a key is refused."""

import json
import time

import pytest
import requests
import responses as responses_lib
import trustme
from django.db import connection as db
from freezegun import freeze_time

from dmportal.accounts.models import ActivityEntry, Connection
from dmportal.accounts.reauth import RECENT_AUTH_SECONDS, carried_post
from dmportal.accounts.signals import SESSION_AUTH_AT
from dmportal.core.redirects import same_site_url
from tests.conftest import API, PASSWORD, SENTINEL_KEY, envelope, error_body, make_connection

pytestmark = pytest.mark.django_db
ACCOUNT = {"id": "a" * 32, "display_name": "Acme Corp", "object": "account", "status": "ACTIVE"}
ME_KEY = {"id": "b" * 32, "account_id": "a" * 32, "object": "api-key", "name": "k"}


@pytest.fixture
def me(client, user):
    client.force_login(user)
    return client


def add(client, key=SENTINEL_KEY, label="Acme production", host=API):
    return client.post("/connections/add/", {"label": label, "api_host": host, "api_key": key})


def test_adding_a_key_checks_it_and_stores_only_ciphertext_and_hint(me, user, api):
    api.get(f"{API}/v3/accounts/me", json=ACCOUNT)
    api.get(f"{API}/v3/api-keys/me", json=ME_KEY)
    response = add(me)
    assert response.status_code == 302
    connection = Connection.objects.get(user=user)
    assert connection.key_hint == "ak_…CRET"
    assert SENTINEL_KEY not in connection.key_ciphertext
    assert (connection.account_id, connection.account_name) == ("a" * 32, "Acme Corp")
    assert connection.key_id == "b" * 32
    page = me.get("/connections/").content.decode()
    assert "ak_…CRET" in page
    assert "Acme Corp" in page
    assert SENTINEL_KEY not in page
    assert ActivityEntry.objects.filter(action="connection.add", result="ok").count() == 1


def test_pasted_whitespace_and_bearer_prefix_are_removed(me, user, api):
    api.get(f"{API}/v3/accounts/me", json=ACCOUNT)
    api.get(f"{API}/v3/api-keys/me", json=ME_KEY)
    assert add(me, key=f"  Bearer {SENTINEL_KEY}\n").status_code == 302
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {SENTINEL_KEY}"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "Enter the API key"),
        ("   ", "Enter the API key"),
        ("sk_live_0123456789abcdefghijklmnopqrstuvwxyz", "start with “ak_”"),
        ("ak_short", "does not look like an API key"),
        ("ak_0123456789abcdef0123456789abcdef\r\nX-Evil: 1", "does not look like an API key"),
        ("ak_0123456789abcdef0123456789abcdef\x00", "does not look like an API key"),
        ("ak_ключ0123456789abcdef0123456789abcdef", "does not look like an API key"),
        ("ak_" + "a" * 10_000, "too long"),
        ('{"key": "ak_0123456789abcdef0123456789abcdef"}', "start with “ak_”"),
    ],
)
def test_things_that_are_not_keys_are_refused_before_any_request(me, user, api, key, message):
    response = add(me, key=key)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert len(api.calls) == 0
    assert not Connection.objects.exists()


def test_a_forged_host_is_refused_without_a_request(me, api):
    response = add(me, host="https://evil.example")
    assert "is not one of the available choices" in response.content.decode()
    assert len(api.calls) == 0
    assert not Connection.objects.exists()


def test_a_rejected_key_says_so_with_the_request_id(me, api):
    api.get(
        f"{API}/v3/accounts/me",
        status=401,
        json=error_body(401, "invalid_apikey", request_id="up-401"),
    )
    html = add(me).content.decode()
    assert "The API rejected this key (HTTP 401, invalid_apikey)" in html
    assert "up-401" in html
    assert SENTINEL_KEY not in html
    assert not Connection.objects.exists()
    entry = ActivityEntry.objects.get(action="connection.add")
    assert (entry.result, entry.upstream_request_id) == ("failed", "up-401")


def test_upstream_text_echoing_the_key_is_redacted_in_the_page_and_the_activity_log(me, api):
    """Issue 14: upstream error text went into activity entries as it came; an API that
    echoes the key it was sent put the key in the database. Activity entries go through the
    logs' redaction (core.logging.redact), and so does the form's message."""
    echo = f"The key {SENTINEL_KEY} is malformed."
    api.get(f"{API}/v3/accounts/me", status=400, json=error_body(400, "bad_key", echo))
    html = add(me).content.decode()
    assert "The key could not be checked: The key [redacted] is malformed." in html
    assert SENTINEL_KEY not in html
    entry = ActivityEntry.objects.get(action="connection.add")
    assert entry.result == "failed"
    assert entry.detail == "The key could not be checked: The key [redacted] is malformed."


def test_every_text_column_of_an_activity_entry_is_redacted(rf, user):
    from dmportal.accounts.services import activity_record

    request = rf.post("/")
    request.user = user
    entry = activity_record(
        request,
        "api_key.create",
        target=f"key {SENTINEL_KEY}",
        result="failed",
        detail=f"Bearer {SENTINEL_KEY}",
        username=SENTINEL_KEY,
    )
    entry.refresh_from_db()
    for value in (entry.target, entry.detail, entry.username):
        assert SENTINEL_KEY not in value
        assert "[redacted]" in value


def test_a_key_without_rights_says_so(me, api):
    for path in ("accounts/me", "api-keys/me"):
        api.get(
            f"{API}/v3/{path}",
            status=403,
            json=error_body(403, "access_denied", request_id="up-403"),
        )
    html = add(me).content.decode()
    assert "This key has no rights to read its account (HTTP 403)" in html
    assert "up-403" in html
    assert not Connection.objects.exists()


def test_a_key_that_may_read_only_itself_is_accepted(me, user, api):
    api.get(f"{API}/v3/accounts/me", status=403, json=error_body(403, "access_denied"))
    api.get(f"{API}/v3/api-keys/me", json=ME_KEY)
    assert add(me).status_code == 302
    assert Connection.objects.get(user=user).account_id == "a" * 32


def test_an_unreachable_host_says_so(me, api):
    api.get(f"{API}/v3/accounts/me", body=requests.ConnectionError("Connection refused"))
    html = add(me).content.decode()
    assert "could not be reached" in html
    assert not Connection.objects.exists()


def test_a_timeout_says_so(me, api):
    api.get(f"{API}/v3/accounts/me", body=requests.ReadTimeout("slow"))
    html = add(me).content.decode()
    assert "did not answer in time" in html
    assert not Connection.objects.exists()


def test_a_tls_failure_says_so(me, settings, simulator, tmp_path):
    settings.DMPORTAL_API_HOSTS = [simulator.base_url]
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(trustme.CA().cert_pem.bytes())
    settings.DMPORTAL_API_CA_BUNDLE = str(other_ca)
    html = add(me, key=simulator.keys.admin, host=simulator.base_url).content.decode()
    assert "could not be verified" in html
    assert not Connection.objects.exists()


def test_against_the_simulator_an_unknown_key_is_rejected_and_the_real_one_accepted(me, user, sim):
    html = add(me, key=SENTINEL_KEY, host=sim.base_url).content.decode()
    assert "The API rejected this key (HTTP 401" in html
    assert add(me, key=sim.keys.admin, host=sim.base_url).status_code == 302
    connection = Connection.objects.get(user=user)
    assert connection.account_name
    assert len(connection.account_id) == 32


def test_duplicate_labels_are_refused(me, user, api):
    make_connection(user, label="Acme production")
    api.get(f"{API}/v3/accounts/me", json=ACCOUNT)
    api.get(f"{API}/v3/api-keys/me", json=ME_KEY)
    html = add(me).content.decode()
    assert "already have a connection with this label" in html
    assert Connection.objects.count() == 1


def test_adding_a_key_needs_a_recent_password(me, user, api):
    session = me.session
    session[SESSION_AUTH_AT] = time.time() - 3600
    session.save()
    response = add(me)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/confirm-password/")
    assert len(api.calls) == 0
    response = me.post(
        "/accounts/confirm-password/", {"password": "wrong", "next": "/connections/add/"}
    )
    assert "That is not your password" in response.content.decode()
    response = me.post(
        "/accounts/confirm-password/",
        {"password": "correct horse battery staple 42", "next": "/connections/add/"},
    )
    assert response["Location"] == "/connections/add/"


def test_confirm_password_ignores_foreign_next(me):
    response = me.post(
        "/accounts/confirm-password/",
        {"password": "correct horse battery staple 42", "next": "https://evil.example/"},
    )
    assert response["Location"] == "/connections/"


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("http://testserver/connections/add/", "/connections/"),  # over https: not to http
        ("https://testserver/connections/add/", "https://testserver/connections/add/"),
        ("/connections/add/", "/connections/add/"),
    ],
)
def test_confirm_password_over_https_never_sends_back_to_http(me, next_url, expected):
    response = me.post(
        "/accounts/confirm-password/", {"password": PASSWORD, "next": next_url}, secure=True
    )
    assert response["Location"] == expected


def test_switching_over_https_never_sends_back_to_http(me, user):
    connection = make_connection(user)
    for back, expected in (("http://testserver/devices/", "/"), ("/devices/", "/devices/")):
        response = me.post(
            "/connections/switch/", {"connection": connection.pk, "next": back}, secure=True
        )
        assert response["Location"] == expected
    response = me.post(
        "/connections/switch/",
        {"connection": connection.pk},
        HTTP_REFERER="http://testserver/devices/",
        secure=True,
    )
    assert response["Location"] == "/"


@pytest.mark.parametrize(
    ("secure", "url", "kept"),
    [
        (True, "http://testserver/devices/", False),
        (True, "https://testserver/devices/", True),
        (True, "/devices/", True),
        (False, "http://testserver/devices/", True),
        (False, "https://evil.example/", False),
        (False, "//evil.example/", False),
        (False, "", False),
    ],
)
def test_same_site_url_keeps_this_sites_urls_and_https(rf, secure, url, kept):
    """What every `next` and "come back to" URL of accounts goes through (the password page,
    switching connections, the password step of a guarded view)."""
    request = rf.get("/", secure=secure)
    assert same_site_url(request, url, "/fallback/") == (url if kept else "/fallback/")


def test_replacing_a_key_is_checked_first(me, user, api):
    connection = make_connection(user, key="ak_" + "O" * 40)
    api.get(f"{API}/v3/accounts/me", status=401, json=error_body(401, "invalid_apikey"))
    response = me.post(
        f"/connections/{connection.pk}/", {"label": "Renamed", "api_key": SENTINEL_KEY}
    )
    assert "The API rejected this key" in response.content.decode()
    connection.refresh_from_db()
    assert (connection.label, connection.key_hint) == ("Acme production", "ak_…OOOO")


def test_replacing_a_key(me, user, api):
    connection = make_connection(user, key="ak_" + "O" * 40)
    api.get(f"{API}/v3/accounts/me", json=ACCOUNT)
    api.get(f"{API}/v3/api-keys/me", json=ME_KEY)
    response = me.post(f"/connections/{connection.pk}/", {"label": "New", "api_key": SENTINEL_KEY})
    assert response.status_code == 302
    connection.refresh_from_db()
    assert (connection.label, connection.key_hint) == ("New", "ak_…CRET")


def test_renaming_keeps_the_key_without_a_request(me, user, api):
    connection = make_connection(user)
    response = me.post(f"/connections/{connection.pk}/", {"label": "Renamed", "api_key": ""})
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.label == "Renamed"
    assert len(api.calls) == 0


def key_check_watched(api, during=None):
    """The key check's two answers, each noting whether a database transaction was open when
    the request came in (and running `during`, if given, while it is "in flight")."""
    open_transaction = []

    def answer(body):
        def callback(request):
            open_transaction.append(db.in_atomic_block)
            if during is not None:
                during()
            return 200, {}, json.dumps(body)

        return callback

    for path, body in (("accounts/me", ACCOUNT), ("api-keys/me", ME_KEY)):
        api.add_callback(
            "GET", f"{API}/v3/{path}", callback=answer(body), content_type="application/json"
        )
    return open_transaction


@pytest.mark.django_db(transaction=True)  # no test-wide transaction: only dmportal's own count
def test_no_transaction_is_open_while_a_key_is_checked(me, user, api):
    """The check takes seconds (retries): a transaction open meanwhile would hold SQLite's
    write lock (IMMEDIATE) and stall every sign-in and session save on every worker."""
    open_transaction = key_check_watched(api)
    assert add(me, label="Added").status_code == 302
    connection = make_connection(user, label="Replaced", key="ak_" + "O" * 40)
    response = me.post(f"/connections/{connection.pk}/", {"label": "New", "api_key": SENTINEL_KEY})
    assert response.status_code == 302
    assert open_transaction == [False] * 4  # two calls to add, two to replace
    connection.refresh_from_db()
    assert (connection.label, connection.key_hint, connection.key_id) == (
        "New",
        "ak_…CRET",
        "b" * 32,
    )
    assert Connection.objects.get(label="Added").account_name == "Acme Corp"
    assert ActivityEntry.objects.filter(action__startswith="connection.").count() == 2


def test_a_connection_removed_while_its_new_key_is_checked_is_not_found(me, user, api):
    connection = make_connection(user, key="ak_" + "O" * 40)
    key_check_watched(api, during=lambda: Connection.objects.filter(pk=connection.pk).delete())
    response = me.post(f"/connections/{connection.pk}/", {"label": "New", "api_key": SENTINEL_KEY})
    assert response.status_code == 404
    assert not Connection.objects.exists()
    assert not ActivityEntry.objects.filter(action="connection.replace_key").exists()


def test_the_edit_form_never_renders_the_key(me, user):
    connection = make_connection(user)
    html = me.get(f"/connections/{connection.pk}/").content.decode()
    assert SENTINEL_KEY not in html
    assert 'type="password"' in html


def test_removing_asks_first_and_then_erases(me, user):
    connection = make_connection(user)
    page = me.get(f"/connections/{connection.pk}/remove/").content.decode()
    assert "Remove the connection" in page
    assert Connection.objects.filter(pk=connection.pk).exists()
    assert me.post(f"/connections/{connection.pk}/remove/").status_code == 302
    assert not Connection.objects.filter(pk=connection.pk).exists()
    assert ActivityEntry.objects.filter(action="connection.remove").count() == 1


def test_switching_the_active_connection(me, user, api):
    make_connection(user, label="A", account_name="Alpha")
    second = make_connection(user, label="B", key="ak_" + "B" * 40, account_name="Beta")
    api.get(f"{API}/v3/devices/", json=envelope([]))
    me.post("/connections/switch/", {"connection": second.pk, "next": "/devices/"})
    me.get("/devices/")
    assert api.calls[0].request.headers["Authorization"] == "Bearer ak_" + "B" * 40


@responses_lib.activate
def test_a_rejected_key_on_a_later_page_links_to_replacing_it(me, user):
    connection = make_connection(user)
    responses_lib.get(
        f"{API}/v3/devices/",
        status=401,
        json=error_body(401, "invalid_apikey", request_id="up-rej"),
    )
    response = me.get("/devices/")
    html = response.content.decode()
    assert response.status_code == 502 or response.status_code == 403
    assert "The API key was rejected" in html
    assert f'href="/connections/{connection.pk}/"' in html
    assert "up-rej" in html
    connection.refresh_from_db()
    assert connection.key_rejected_at is not None
    assert "key rejected" in me.get("/connections/").content.decode()


def test_an_unreadable_stored_key_asks_to_re_enter_it_and_sends_nothing(me, user, api, settings):
    from cryptography.fernet import Fernet

    connection = make_connection(user)
    settings.DMPORTAL_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    response = me.get("/devices/")
    html = response.content.decode()
    assert "must be re-entered" in html
    assert f'href="/connections/{connection.pk}/"' in html
    assert len(api.calls) == 0


def test_without_a_connection_people_are_sent_to_add_one(client, user, api):
    client.force_login(user)
    response = client.get("/devices/")
    assert response.status_code == 302
    assert response["Location"] == "/connections/add/"
    response = client.get("/devices/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/connections/add/"


# -- re-entering the password (checklist B6) ---------------------------------------------------


def password_long_ago(client):
    session = client.session
    session[SESSION_AUTH_AT] = time.time() - RECENT_AUTH_SECONDS - 1
    session.save()


def test_the_password_counts_for_five_minutes(me, user, api):
    with freeze_time("2026-03-02 09:00:00") as clock:
        password_long_ago(me)
        response = me.post(
            "/accounts/confirm-password/", {"password": PASSWORD, "next": "/connections/add/"}
        )
        assert response["Location"] == "/connections/add/"
        clock.tick(RECENT_AUTH_SECONDS - 1)
        assert me.get("/connections/add/").status_code == 200
        clock.tick(2)
        response = me.get("/connections/add/")
        assert response.status_code == 302
        assert response["Location"] == "/accounts/confirm-password/?next=%2Fconnections%2Fadd%2F"
    assert len(api.calls) == 0


def test_removing_a_connection_needs_a_recent_password(me, user):
    connection = make_connection(user)
    path = f"/connections/{connection.pk}/remove/"
    password_long_ago(me)
    response = me.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/confirm-password/?next=")
    refused = me.post(path)
    assert refused.status_code == 403
    assert 'name="reauth-password"' in refused.content.decode()
    wrong = me.post(path, {"reauth-password": "not my password"})
    assert wrong.status_code == 400
    assert "That is not your password" in wrong.content.decode()
    assert Connection.objects.filter(pk=connection.pk).exists()
    assert not ActivityEntry.objects.filter(action="connection.remove").exists()
    # The password, in place: the removal that was asked for goes on.
    done = me.post(path, {"reauth-password": PASSWORD})
    assert done.status_code == 302
    assert done["Location"] == "/connections/"
    assert not Connection.objects.filter(pk=connection.pk).exists()
    assert ActivityEntry.objects.filter(action="connection.remove").count() == 1


def test_a_late_rename_is_done_after_the_password(me, user, api):
    connection = make_connection(user)
    password_long_ago(me)
    path = f"/connections/{connection.pk}/"
    refused = me.post(path, {"label": "Renamed", "api_key": ""})
    assert refused.status_code == 403
    html = refused.content.decode()
    assert '<input type="hidden" name="label" value="Renamed">' in html
    connection.refresh_from_db()
    assert connection.label == "Acme production"
    done = me.post(path, {"label": "Renamed", "api_key": "", "reauth-password": PASSWORD})
    assert done.status_code == 302
    connection.refresh_from_db()
    assert connection.label == "Renamed"
    assert len(api.calls) == 0


def test_a_late_key_is_never_written_back_into_a_page(me, user, api):
    connection = make_connection(user, key="ak_" + "O" * 40)
    password_long_ago(me)
    for path in ("/connections/add/", f"/connections/{connection.pk}/"):
        response = me.post(path, {"label": "New", "api_host": API, "api_key": SENTINEL_KEY})
        # A pasted key is a secret: not carried in the password page, asked for again after.
        assert response.status_code == 302
        assert response["Location"] == "/accounts/confirm-password/?next=" + path.replace(
            "/", "%2F"
        )
        page = me.get(response["Location"]).content.decode()
        assert "paste the key again" in page
        assert SENTINEL_KEY not in page
    assert len(api.calls) == 0
    assert Connection.objects.get().key_hint == "ak_…OOOO"


def test_htmx_asks_for_the_password_from_the_page_it_is_on(me, user):
    connection = make_connection(user)
    password_long_ago(me)
    response = me.get(
        f"/connections/{connection.pk}/remove/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/connections/",
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/confirm-password/?next=%2Fconnections%2F"
    evil = me.get(
        f"/connections/{connection.pk}/remove/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="https://evil.example/",
    )
    assert evil["HX-Redirect"] == "/accounts/confirm-password/?next=%2F"


@pytest.mark.parametrize(
    ("marked", "carried"),
    [
        ("__ALL__", {}),  # a bare @sensitive_post_parameters(): every field is a secret
        (["api_key"], {"label": ["New"], "_": ["x"]}),
        (None, {"label": ["New"], "_": ["x"]}),  # unmarked, but shaped like a key: never
    ],
)
def test_only_fields_not_marked_secret_are_carried_through_the_password(rf, marked, carried):
    request = rf.post(
        "/",
        {
            "label": "New",
            "api_key": SENTINEL_KEY,
            "_": "x",
            "csrfmiddlewaretoken": "t",
            "reauth-password": PASSWORD,
        },
    )
    if marked is not None:
        request.sensitive_post_parameters = marked
    assert dict(carried_post(request).lists()) == carried


def test_guessing_the_password_signs_the_session_out(me, user):
    connection = make_connection(user)
    remove = f"/connections/{connection.pk}/remove/"

    def wrong(n):
        for _ in range(n):
            response = me.post("/accounts/confirm-password/", {"password": "guess", "next": "/"})
            assert response.status_code == 200
            assert me.post(remove, {"reauth-password": "guess"}).status_code == 400

    password_long_ago(me)
    wrong(2)  # four wrong passwords, in both forms...
    response = me.post("/accounts/confirm-password/", {"password": PASSWORD, "next": "/"})
    assert response["Location"] == "/"  # ...then the right one: the count starts again
    password_long_ago(me)
    wrong(2)
    response = me.post(remove, {"reauth-password": "guess"})  # the fifth in a row
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert me.get("/connections/").status_code == 302  # signed out
    assert Connection.objects.filter(pk=connection.pk).exists()
    failed = ActivityEntry.objects.filter(action="password.confirm", result="failed")
    assert failed.count() == 9
    assert ActivityEntry.objects.filter(action="signout").count() == 1
