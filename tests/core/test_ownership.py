"""Every object a URL, a form field or a cursor names by database id belongs to the signed-in
user (checklist F2, I24): another user gets a 404 (or only their own rows) and changes
nothing, and the fake API never sees the first user's key during the second user's requests.

alice owns the `connection` fixture (the sentinel key, account a…a), her activity, her API
calls and her account's notes; bob signs in with his own connection on account b…b.
"""

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter

from dmportal.accounts.models import ActivityEntry, Connection, Preferences
from dmportal.support.models import ApiCall, DeviceNote
from tests.conftest import API, SENTINEL_KEY, device, envelope, make_connection

pytestmark = pytest.mark.django_db
BOB_KEY = "ak_" + "B0b" * 14
ALICE_ACCOUNT, BOB_ACCOUNT = "a" * 32, "b" * 32
DEVICE_ID = f"{42:032x}"

# The URLs that take a database id; each has its cross-user test below.
URLS_WITH_DATABASE_IDS = {
    "connection_edit",
    "connection_delete",
    "job_detail",
    "job_cancel",
    "job_resume",
    "job_download",
}


@pytest.fixture
def upstream(api):
    """The fake API; after the test, no request it received carried alice's key."""
    yield api
    for call in api.calls:
        assert SENTINEL_KEY not in str(call.request.headers), call.request.url
        assert SENTINEL_KEY not in (call.request.url or "")


@pytest.fixture
def bob(other_user):
    make_connection(other_user, label="Bob's", key=BOB_KEY, account_id=BOB_ACCOUNT)
    client = Client()
    client.force_login(other_user)  # the password was just entered: re-auth passes
    return client


def authorizations(api):
    return {call.request.headers.get("Authorization") for call in api.calls}


def urls_with_int_ids(patterns, namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace or ""
            yield from urls_with_int_ids(pattern.url_patterns, inner or namespace)
        elif isinstance(pattern, URLPattern):
            converters = getattr(pattern.pattern, "converters", {})
            if any(isinstance(c, IntConverter) for c in converters.values()):
                yield f"{namespace}:{pattern.name}" if namespace else pattern.name


def test_every_url_with_a_database_id_is_covered_here():
    # A new URL with an <int:...> id must get its cross-user test in this file.
    assert set(urls_with_int_ids(get_resolver().url_patterns)) == URLS_WITH_DATABASE_IDS


# -- connections ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_users_connection_cannot_be_edited(bob, connection, upstream, method):
    data = {"label": "Taken over", "api_key": BOB_KEY} if method == "post" else None
    response = getattr(bob, method)(f"/connections/{connection.pk}/", data)
    assert response.status_code == 404
    connection.refresh_from_db()
    assert (connection.label, connection.key_hint) == ("Acme production", "ak_…CRET")
    assert SENTINEL_KEY not in response.content.decode()
    assert "Acme production" not in response.content.decode()
    assert len(upstream.calls) == 0  # not even bob's key is checked for someone else's row


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_users_connection_cannot_be_removed(bob, connection, upstream, method):
    response = getattr(bob, method)(f"/connections/{connection.pk}/remove/")
    assert response.status_code == 404
    assert Connection.objects.filter(pk=connection.pk).exists()
    assert not ActivityEntry.objects.filter(action="connection.remove").exists()
    assert len(upstream.calls) == 0


def test_another_users_connection_cannot_be_switched_to(bob, other_user, connection, upstream):
    own = other_user.connections.get()
    response = bob.post("/connections/switch/", {"connection": connection.pk, "next": "/"})
    assert response.status_code == 404
    assert Preferences.objects.get(user=other_user).active_connection_id in (None, own.pk)
    upstream.get(f"{API}/v3/devices/", json=envelope([device(1)], total=1))
    assert bob.get("/devices/").status_code == 200
    assert authorizations(upstream) == {f"Bearer {BOB_KEY}"}


def test_a_stored_preference_for_another_users_connection_is_ignored(
    bob, other_user, connection, upstream
):
    # Even a tampered row cannot make bob's requests use alice's key.
    Preferences.objects.update_or_create(
        user=other_user, defaults={"active_connection": connection}
    )
    upstream.get(f"{API}/v3/devices/", json=envelope([device(1)], total=1))
    response = bob.get("/devices/")
    assert response.status_code == 200
    assert authorizations(upstream) == {f"Bearer {BOB_KEY}"}
    assert "Acme production" not in response.content.decode()


def test_the_connection_list_and_switcher_show_only_ones_own(bob, connection, upstream):
    html = bob.get("/connections/").content.decode()
    assert "Bob&#x27;s" in html or "Bob's" in html
    assert "Acme production" not in html
    assert f'value="{connection.pk}"' not in html
    assert f"/connections/{connection.pk}/" not in html


# -- background jobs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", ""), ("get", "download/"), ("post", "cancel/"), ("post", "resume/")],
)
def test_another_users_job_is_not_found_and_not_changed(
    bob, user, connection, upstream, method, path
):
    from dmportal.jobs.models import Job, State

    job = Job.objects.create(
        user=user,
        connection=connection,
        kind="export",
        title="Export of devices",
        state=State.FAILED,
        checkpoint={"after": "a" * 32},
        file_name="exports/x.csv",
    )
    response = getattr(bob, method)(f"/jobs/{job.pk}/{path}")
    assert response.status_code == 404
    assert "Export of devices" not in response.content.decode()
    job.refresh_from_db()
    assert (job.state, job.cancel_requested) == (State.FAILED, False)
    assert len(upstream.calls) == 0


# -- activity, API calls, notes ------------------------------------------------------------------


def test_activity_entries_are_ones_own_even_with_a_forged_cursor(bob, user, upstream):
    entries = [
        ActivityEntry.objects.create(
            user=user, username="alice", action="connection.add", target=f"alice-secret-{n}"
        )
        for n in range(3)
    ]
    html = bob.get("/activity/").content.decode()
    assert "alice-secret" not in html
    # A cursor pointing just after alice's newest entry still walks bob's rows only.
    newest = entries[-1]
    micros = int(newest.created_at.timestamp() * 1_000_000) + 1
    html = bob.get(f"/activity/?after={micros}-{newest.pk + 1}").content.decode()
    assert "alice-secret" not in html
    fragment = bob.get(f"/activity/?after={micros}-{newest.pk + 1}", HTTP_HX_REQUEST="true")
    assert "alice-secret" not in fragment.content.decode()
    assert len(upstream.calls) == 0


def make_call(user, n, **fields):
    values = {
        "user": user,
        "connection_label": "Acme production",
        "account_id": ALICE_ACCOUNT,
        "method": "GET",
        "path": f"/v3/devices/{DEVICE_ID}?alice_marker={n}",
        "status": 200,
        "upstream_request_id": f"up-alice-{n:024d}",
        "request_id": f"dm-alice-{n:023d}",
    }
    values.update(fields)
    return ApiCall.objects.create(**values)


def test_api_calls_are_ones_own_even_by_request_id_or_cursor(bob, user, upstream):
    calls = [make_call(user, n) for n in range(3)]
    newest = calls[-1]
    for query in (
        "",
        "?status=errors",
        f"?q={newest.upstream_request_id}",
        f"?q={newest.request_id}",
        f"?after={newest.pk + 1}",
    ):
        html = bob.get(f"/support/calls/{query}").content.decode()
        assert "alice_marker" not in html, query  # the search box echoes the query only
    assert "alice_marker" not in bob.get("/support/").content.decode()
    assert len(upstream.calls) == 0


def alice_note(user, body):
    return DeviceNote.objects.create(
        account_id=ALICE_ACCOUNT, device_id=DEVICE_ID, author=user, author_name="alice", body=body
    )


def test_the_dossier_lists_ones_own_calls_and_ones_accounts_notes(bob, user, upstream):
    make_call(user, 7)
    alice_note(user, "alice's private note")
    upstream.get(f"{API}/v3/devices/{DEVICE_ID}/", json=device(42, groups=[]))
    upstream.get(f"{API}/v3/device-events/", json=envelope([]))
    response = bob.get(f"/support/devices/{DEVICE_ID}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "alice_marker" not in html
    assert "private note" not in html
    notes = bob.get(f"/support/devices/{DEVICE_ID}/notes/").content.decode()
    assert "private note" not in notes
    assert authorizations(upstream) == {f"Bearer {BOB_KEY}"}


def test_a_note_goes_to_the_writers_own_account(bob, other_user, user, upstream):
    alice_note(user, "alice's note")
    # A forged account field is not a field: the account is the active connection's.
    response = bob.post(
        f"/support/devices/{DEVICE_ID}/notes/",
        {"body": "bob's note", "account_id": ALICE_ACCOUNT, "author": user.pk},
    )
    assert response.status_code == 302
    note = DeviceNote.objects.get(body="bob's note")
    assert (note.account_id, note.author) == (BOB_ACCOUNT, other_user)
    assert DeviceNote.objects.filter(account_id=ALICE_ACCOUNT).count() == 1
    assert len(upstream.calls) == 0
