"""Checklist D1-D9: the stored API keys. What tests/accounts/test_crypto.py,
test_connections.py and test_key_never_leaks.py already prove is not repeated here (see
CHECKLIST.md); these add the database-level and failure-path cases: a tampered or moved
ciphertext, an unusable key configuration, nothing in the session or cache, the audit trail,
and a property over everything the key field accepts."""

import logging
import pickle
import re
import string

import pytest
import requests
from cryptography.fernet import Fernet
from django.core.cache import caches
from django.core.checks import run_checks
from django.core.exceptions import ValidationError
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmportal.accounts import crypto
from dmportal.accounts.forms import ApiKeyField
from dmportal.accounts.models import ActivityEntry, Connection
from dmportal.accounts.services import normalise_api_key
from tests.conftest import API, SENTINEL_KEY, device, envelope, make_connection
from tests.security.test_platform import production_settings

pytestmark = pytest.mark.django_db
OTHER_KEY = "ak_" + "B" * 40
ACCOUNT = {"id": "a" * 32, "display_name": "Acme Corp", "object": "account"}
ME_KEY = {"id": "b" * 32, "account_id": "a" * 32, "object": "api-key"}


def assert_re_enter_page(response, connection):
    html = response.content.decode()
    assert response.status_code == 409
    assert "must be re-entered" in html
    assert f'href="/connections/{connection.pk}/"' in html
    assert response["X-Request-ID"] in html


# -- D1 / D3: authenticated encryption, failures explicit and contained --------------------------


@pytest.mark.parametrize("htmx", [False, True])
def test_a_tampered_ciphertext_is_refused_and_nothing_is_sent(signed_in, connection, api, htmx):
    token = connection.key_ciphertext
    flipped = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]  # one byte changed
    Connection.objects.filter(pk=connection.pk).update(key_ciphertext=flipped)
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "listing"} if htmx else {}
    response = signed_in.get("/devices/", **headers)
    assert_re_enter_page(response, connection)
    assert ("<html" in response.content.decode()) is not htmx
    assert len(api.calls) == 0
    assert flipped not in response.content.decode()


def test_an_unreadable_key_is_logged_and_the_rest_of_the_dashboard_works(
    signed_in, user, connection, api, caplog
):
    caplog.set_level(logging.WARNING, logger="dmportal.accounts")
    working = make_connection(user, label="Working", key=OTHER_KEY)
    Connection.objects.filter(pk=connection.pk).update(key_ciphertext="gAAAAAgarbage")
    assert_re_enter_page(signed_in.get("/devices/"), connection)
    warnings = [r for r in caplog.records if r.name == "dmportal.accounts"]
    assert len(warnings) == 1
    assert "cannot be decrypted" in warnings[0].getMessage()
    assert connection.key_hint in warnings[0].getMessage()
    assert "gAAAA" not in caplog.text
    # The other pages and the other connection go on working.
    assert signed_in.get("/connections/").status_code == 200
    assert signed_in.get("/activity/").status_code == 200
    api.get(f"{API}/v3/devices/", json=envelope([device(1)], total=1))
    signed_in.post("/connections/switch/", {"connection": working.pk})
    assert signed_in.get("/devices/").status_code == 200
    assert [c.request.headers["Authorization"] for c in api.calls] == [f"Bearer {OTHER_KEY}"]


# -- D2: the configuration fails closed ----------------------------------------------------------


@pytest.mark.parametrize(
    "keys",
    [[], [""], ["short"], ["x" * 44], [Fernet.generate_key().decode(), "not-a-key"]],
)
def test_the_system_check_refuses_a_bad_key_list(keys):
    with override_settings(DMPORTAL_ENCRYPTION_KEYS=keys):
        errors = [m for m in run_checks() if m.id == "dmportal.E001"]
    assert errors
    assert all(m.is_serious() for m in errors)


def test_the_system_check_accepts_good_keys():
    keys = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]
    with override_settings(DMPORTAL_ENCRYPTION_KEYS=keys):
        assert [m for m in run_checks() if m.id.startswith("dmportal.")] == []


def test_without_encryption_keys_nothing_falls_back_to_secret_key(signed_in, connection, api):
    with override_settings(DMPORTAL_ENCRYPTION_KEYS=[]):
        with pytest.raises(crypto.EncryptionNotConfigured):
            crypto.encrypt_api_key(SENTINEL_KEY, owner_id=1)
        assert_re_enter_page(signed_in.get("/devices/"), connection)
    assert len(api.calls) == 0


# -- D5: a ciphertext is bound to its owner ------------------------------------------------------


def test_a_ciphertext_copied_into_another_users_row_does_not_decrypt_there(
    client, user, other_user, api
):
    mine = make_connection(user)  # the sentinel key, user's
    theirs = make_connection(other_user, key=OTHER_KEY)
    Connection.objects.filter(pk=theirs.pk).update(key_ciphertext=mine.key_ciphertext)
    client.force_login(other_user)
    assert_re_enter_page(client.get("/devices/"), theirs)
    assert len(api.calls) == 0  # the sentinel key was never used for bob


# -- D7: decrypted for one request; nothing in the session or the cache --------------------------


def cache_contents():
    """Every value of every cache: local memory, or the shared Redis of CACHE_URL (make
    pytest-postgres), unpickled where possible."""
    found = []
    for cache in caches.all():
        store = getattr(cache, "_cache", {})
        if hasattr(store, "get_client"):  # Django's RedisCache
            client = store.get_client()
            values = [client.get(key) for key in client.scan_iter()]
        else:
            values = store.values()
        for value in values:
            try:
                found.append(repr(pickle.loads(value)))  # noqa: S301 - our own cache
            except Exception:
                found.append(repr(value))
    return found


def test_nothing_keeps_the_key_after_a_request(signed_in, connection, api):
    from django.contrib.sessions.models import Session

    api.get(f"{API}/v3/devices/", json=envelope([device(1)], total=1))
    api.get(f"{API}/v3/devices/{'0' * 31}1/", json=device(1))
    for path in ("/devices/", f"/devices/{'0' * 31}1/", "/connections/"):
        assert signed_in.get(path).status_code == 200
    assert api.calls  # the key was used...
    assert not [c for c in cache_contents() if SENTINEL_KEY in c]  # ...and not kept
    for session in Session.objects.all():
        assert SENTINEL_KEY not in repr(session.get_decoded())
    assert SENTINEL_KEY not in repr(vars(Connection.objects.get(pk=connection.pk)))


@pytest.mark.parametrize("cache_url", ["", "redis://127.0.0.1:6379/0"])
def test_sessions_live_on_the_server_not_in_signed_cookies(cache_url):
    engine = production_settings("SESSION_ENGINE", CACHE_URL=cache_url)["SESSION_ENGINE"]
    assert engine in (
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cached_db",
    )


# -- D8: the key's lifecycle is audited, never with the key ---------------------------------------


def test_adding_replacing_and_removing_a_key_is_audited_with_the_hint(me_recent, user, api):
    client = me_recent
    api.get(f"{API}/v3/accounts/me", json=ACCOUNT)
    api.get(f"{API}/v3/api-keys/me", json=ME_KEY)
    added = client.post(
        "/connections/add/", {"label": "Acme", "api_host": API, "api_key": SENTINEL_KEY}
    )
    connection = Connection.objects.get(user=user)
    replaced = client.post(
        f"/connections/{connection.pk}/", {"label": "Acme", "api_key": OTHER_KEY}
    )
    removed = client.post(f"/connections/{connection.pk}/remove/")
    assert [r.status_code for r in (added, replaced, removed)] == [302, 302, 302]
    assert not Connection.objects.filter(pk=connection.pk).exists()  # the ciphertext is gone
    entries = list(ActivityEntry.objects.filter(action__startswith="connection.").order_by("pk"))
    assert [(e.action, e.result, e.detail) for e in entries] == [
        ("connection.add", "ok", "key ak_…CRET"),
        ("connection.replace_key", "ok", "key ak_…BBBB"),
        ("connection.remove", "ok", "key ak_…BBBB"),
    ]
    for entry, response in zip(entries, (added, replaced, removed), strict=True):
        assert entry.user == user
        assert entry.request_id == response["X-Request-ID"]
        assert entry.created_at.utcoffset().total_seconds() == 0  # UTC
        assert SENTINEL_KEY not in repr(vars(entry))
        assert OTHER_KEY not in repr(vars(entry))


@pytest.fixture
def me_recent(client, user):
    """Signed in through the form: the password was just entered (re-authentication)."""
    from tests.conftest import PASSWORD

    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    return client


# -- D9: only a key can be stored, and only a key can reach a header ------------------------------

KEY_ALPHABET = string.ascii_letters + string.digits
ODD = " \t\r\n\x00\x0b\x7f\u00a0\u2028é€😀:,;\"'<>/\\"
candidates = st.one_of(
    st.text(max_size=300),
    st.builds(
        lambda prefix, body, suffix: prefix + "ak_" + body + suffix,
        st.sampled_from(["", " ", "\n", "Bearer ", "bearer  ", "\t"]),
        st.text(alphabet=KEY_ALPHABET + ODD, min_size=0, max_size=300),
        st.sampled_from(["", " ", "\r\n", "\x00", "\n\n"]),
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=candidates)
def test_every_accepted_key_is_a_safe_header_value(value):
    try:
        key = normalise_api_key(value)
    except ValueError:
        with pytest.raises(ValidationError):  # the form refuses it as well
            ApiKeyField().clean(value)
        return
    assert ApiKeyField().clean(value) == key
    assert re.fullmatch(r"ak_[A-Za-z0-9]+", key)
    assert len(key) <= 256
    assert key.isascii()
    assert key.isprintable()
    assert not any(c.isspace() for c in key)
    prepared = requests.Request(
        "GET", "https://api.example.test/", headers={"Authorization": f"Bearer {key}"}
    ).prepare()
    assert prepared.headers["Authorization"] == f"Bearer {key}"
