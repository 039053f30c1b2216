"""API keys: the table and its flags, the secret shown once, this connection's own key."""

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache

from dmportal.accounts.models import ActivityEntry
from tests.conftest import SENTINEL_KEY, envelope, error_body, joined_ids
from tests.factories import (
    GROUP_ADMINS,
    GROUP_DEVS,
    GROUPS,
    HTMX,
    OWN_KEY_ID,
    activity,
    api_key,
    paths,
    sent_json,
    sent_params,
    url,
    user,
)

pytestmark = pytest.mark.django_db
KEYS = url("/v3/api-keys")
NEW_SECRET = "ak_1PUBLICPART" + "9" * 32 + "SeCrEtSeCrEtSeCrEtSeCrEtSeCrEt42"


def ms(days_ago):
    return int((datetime.now(UTC) - timedelta(days=days_ago)).timestamp() * 1000)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # the one-time tokens' race guard lives in the cache


def test_the_table_flags_unused_keys_inactive_owners_and_this_connection(signed_in, api, own_key):
    keys = [
        api_key(1, name="Fresh", last_login_time=ms(2)),
        api_key(2, name="Stale", last_login_time=ms(120)),
        api_key(3, name="Never", last_login_time=0),
        api_key(4, name="Orphaned", owner=user(4)["id"], last_login_time=ms(1)),
        api_key(5, id=OWN_KEY_ID, name="Mine", last_login_time=ms(0)),
    ]
    api.get(KEYS, json=envelope(keys, total=5))
    api.get(
        url("/v3/users"),
        json=envelope([user(1), user(2), user(3), user(4, status="INACTIVE"), user(5)]),
    )
    api.get(url("/v3/policy-groups"), json=envelope(GROUPS))
    response = signed_in.get("/team/api-keys/")
    html = response.content.decode()
    assert response.status_code == 200
    rows = {
        m.group(1): m.group(0)
        for m in re.finditer(
            r"<tr[^>]*>.*?>(Fresh|Stale|Never|Orphaned|Mine)</a>.*?</tr>", html, re.S
        )
    }
    assert "data-flag" not in rows["Fresh"]
    assert 'data-flag="unused"' in rows["Stale"]
    assert "unused 90+ days" in rows["Stale"]
    assert 'data-flag="unused"' in rows["Never"]  # created in January, never used since
    assert "never used" in rows["Never"]
    assert ">never<" in rows["Never"]
    assert 'data-flag="owner-inactive"' in rows["Orphaned"]
    assert "this connection" in rows["Mine"]
    assert "Deactivate…" in rows["Mine"]  # via the confirmation page, not a one-click button
    assert "user1@example.com" in rows["Fresh"]
    assert ">Developers</a>" in rows["Fresh"]
    # One call for the keys, one for their owners, one for the group names.
    assert paths(api) == ["GET /v3/api-keys", "GET /v3/users", "GET /v3/policy-groups"]
    assert SENTINEL_KEY not in html


def test_owners_are_shown_by_id_when_users_cannot_be_read(signed_in, api):
    api.get(KEYS, json=envelope([api_key(1, groups=[])], total=1))
    api.get(url("/v3/users"), status=403, json=error_body(403, "access_denied"))
    html = signed_in.get("/team/api-keys/").content.decode()
    assert user(1)["id"] in html
    assert "Owners are shown by id" in html
    # Known now: the next page does not ask for the users again.
    api.calls.reset()
    signed_in.get("/team/api-keys/")
    assert paths(api) == ["GET /v3/api-keys"]


def test_the_owner_filter_is_an_equality_on_a_user_id(signed_in, api):
    api.get(KEYS, json=envelope([], total=0))
    signed_in.get(f"/team/api-keys/?owner__eq={user(1)['id']}", **HTMX)
    assert sent_params(api.calls[0])["owner__eq"] == user(1)["id"]
    response = signed_in.get("/team/api-keys/?owner__eq=bob", **HTMX)
    assert response.status_code == 400
    assert "is not a user id" in response.content.decode()
    assert len(api.calls) == 1


def test_the_key_filter_looks_the_key_up_by_its_id_and_never_sends_the_key(signed_in, api):
    key = api_key(1, groups=[])
    api.get(url(f"/v3/api-keys/{key['id']}"), json=key)
    api.get(url("/v3/users"), json=envelope([user(1)]))
    response = signed_in.get(f"/team/api-keys/?key__eq={key['key']}", **HTMX)
    html = response.content.decode()
    assert "<strong>1</strong> API key" in html
    assert "Key 1" in html
    assert paths(api) == [f"GET /v3/api-keys/{key['id']}", "GET /v3/users"]
    assert not any("ak_" in c.request.url for c in api.calls)


@pytest.mark.parametrize(
    ("answer", "query"),
    [
        ({"status": 404, "json": error_body(404, "not_found")}, ""),
        ({"json": api_key(1, key="ak_1OTHERPUBLICPART" + api_key(1)["id"])}, ""),
        ({"json": api_key(1)}, f"&owner__eq={user(7)['id']}"),
    ],
)
def test_the_key_filter_finds_nothing_when_the_key_does_not_match(signed_in, api, answer, query):
    key = api_key(1)
    api.get(url(f"/v3/api-keys/{key['id']}"), **answer)
    html = signed_in.get(f"/team/api-keys/?key__eq={key['key']}{query}", **HTMX).content.decode()
    assert "No API keys match these filters" in html


def test_a_whole_key_in_the_filter_is_not_searched_for_nor_shown_back(signed_in, api):
    response = signed_in.get("/team/api-keys/", {"key__eq": NEW_SECRET}, **HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert NEW_SECRET not in html
    assert "looks like a whole key" in html
    assert NEW_SECRET not in response["HX-Push-Url"]
    # A plain submit goes to the list without it (out of the address bar), saying why.
    plain = signed_in.get("/team/api-keys/", {"key__eq": NEW_SECRET})
    assert plain["Location"] == "/team/api-keys/"
    assert len(api.calls) == 0
    api.get(KEYS, json=envelope([], total=0))
    assert "looks like a whole key" in signed_in.get("/team/api-keys/").content.decode()


# -- the secret, shown once --------------------------------------------------------------------


def create_page(client, api):
    api.get(url("/v3/users"), json=envelope([user(1), user(2)]))
    api.get(url("/v3/policy-groups"), json=envelope(GROUPS))
    html = client.get("/team/api-keys/new/").content.decode()
    return re.search(r'name="once" value="([^"]+)"', html).group(1)


def created_body(**fields):
    return {**api_key(9, id="9" * 32, name="Robot"), "key": NEW_SECRET, **fields}


def test_create_shows_the_secret_once_in_a_fragment(signed_in, api, caplog):
    caplog.set_level(logging.DEBUG)
    once = create_page(signed_in, api)
    api.post(KEYS, status=201, json=created_body())
    response = signed_in.post(
        "/team/api-keys/new/",
        {"once": once, "name": "Robot", "owner": user(2)["id"], "groups": [GROUP_DEVS]},
        **HTMX,
    )
    assert response.status_code == 201
    html = response.content.decode()
    assert "<html" not in html  # the fragment replaces the form; the URL stays the form's
    assert 'id="create-panel"' in html
    assert NEW_SECRET in html
    assert "you will not see it again" in html
    assert 'data-copy-from="new-secret"' in html
    assert "HX-Push-Url" not in response
    assert "no-store" in response["Cache-Control"]
    assert sent_json(api.calls[-1]) == {
        "name": "Robot",
        "owner": user(2)["id"],
        "groups": [GROUP_DEVS],
    }
    # Never kept: not in the session, the activity log, messages, the cache or a log line.
    for session in Session.objects.all():
        assert NEW_SECRET not in str(session.get_decoded())
    assert not any(NEW_SECRET in str(v) for v in ActivityEntry.objects.values_list())
    assert not list(response.wsgi_request._messages)
    assert NEW_SECRET not in caplog.text
    entry = activity().get()
    assert (entry.action, entry.target, entry.result) == ("api_key.create", "Robot", "ok")


def test_reloading_the_create_post_creates_nothing_and_shows_no_secret(signed_in, api):
    once = create_page(signed_in, api)
    api.post(KEYS, status=201, json=created_body())
    first = signed_in.post("/team/api-keys/new/", {"once": once, "name": "Robot"})
    assert first.status_code == 201
    assert NEW_SECRET in first.content.decode()
    # A reload re-sends the same POST (the page without JavaScript).
    again = signed_in.post("/team/api-keys/new/", {"once": once, "name": "Robot"})
    assert again.status_code == 409
    html = again.content.decode()
    assert NEW_SECRET not in html
    assert "This key was already created" in html
    assert "cannot be shown again" in html
    assert [c.request.method for c in api.calls].count("POST") == 1


def test_a_form_that_was_never_issued_creates_nothing(signed_in, api):
    create_page(signed_in, api)
    response = signed_in.post("/team/api-keys/new/", {"once": "forged", "name": "Robot"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "nothing was created" in html
    assert 'value="Robot"' in html
    assert not any(c.request.method == "POST" for c in api.calls)


def test_a_refused_create_keeps_what_was_typed_and_gives_a_fresh_form(signed_in, api):
    once = create_page(signed_in, api)
    api.post(
        KEYS,
        status=400,
        json=error_body(400, "validation_error", "Bad.", "up-400", fields=[("name", "Too odd.")]),
    )
    response = signed_in.post(
        "/team/api-keys/new/",
        {"once": once, "name": "Odd", "groups": [GROUP_ADMINS]},
        **HTMX,
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Too odd." in html
    assert 'value="Odd"' in html
    assert f'value="{GROUP_ADMINS}" class="checklist" id="id_groups_0" checked' in html
    fresh = re.search(r'name="once" value="([^"]+)"', html).group(1)
    assert fresh != once
    # The failed attempt created nothing: trying again with the fresh form works.
    api.replace("POST", KEYS, status=201, json=created_body())
    retry = signed_in.post("/team/api-keys/new/", {"once": fresh, "name": "Odd"}, **HTMX)
    assert retry.status_code == 201
    assert [e.result for e in activity()] == ["failed", "ok"]


def test_a_developer_key_is_refused_and_the_create_action_disappears(signed_in, api):
    once = create_page(signed_in, api)
    api.post(KEYS, status=403, json=error_body(403, "access_denied", "Admins only.", "up-403"))
    response = signed_in.post("/team/api-keys/new/", {"once": once, "name": "Mine"}, **HTMX)
    assert response.status_code == 403
    html = response.content.decode()
    assert "Admins only." in html
    assert "up-403" in html
    assert 'value="Mine"' in html
    api.get(KEYS, json=envelope([], total=0))
    assert "Create an API key" not in signed_in.get("/team/api-keys/").content.decode()


def test_the_create_form_needs_the_csrf_token(user, connection, api):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/team/api-keys/new/", {"once": "x", "name": "Robot"}, **HTMX)
    assert response.status_code == 403
    assert len(api.calls) == 0


# -- status, rename, delete ----------------------------------------------------------------------


def test_deactivating_or_reactivating_a_key_names_what_changes_first(signed_in, api, own_key):
    """Issue 15: a key is deactivated through the one confirmation page, which says when it was
    last used; reactivating it (a privilege given back) is confirmed too, naming its groups."""
    key = api_key(1, last_login_time=ms(2), groups=[GROUP_ADMINS])
    api.get(url(f"/v3/api-keys/{key['id']}"), json=key)
    api.get(url("/v3/policy-groups"), json=envelope([{"id": GROUP_ADMINS, "name": "Admins"}]))
    html = signed_in.get(f"/team/api-keys/{key['id']}/status/?status=INACTIVE").content.decode()
    assert "Deactivate the API key “Key 1”?" in html
    assert "This key was last used 2 days ago: whatever uses it" in html
    assert 'class="danger">Deactivate the key</button>' in html
    html = signed_in.get(f"/team/api-keys/{key['id']}/status/?status=ACTIVE").content.decode()
    assert "Reactivate the API key “Key 1”?" in html
    assert "with the rights of its policy groups (“Admins”)" in html
    assert 'class="primary">Reactivate the key</button>' in html
    assert [c.request.method for c in api.calls] == ["GET"] * 3  # nothing changed


def test_deactivating_another_key_is_one_post(signed_in, api, own_key):
    key = api_key(1)
    api.get(url(f"/v3/api-keys/{key['id']}"), json=key)
    api.put(url(f"/v3/api-keys/{key['id']}"), json={**key, "status": "INACTIVE"})
    response = signed_in.post(
        f"/team/api-keys/{key['id']}/status/", {"status": "INACTIVE", "next": "/team/api-keys/"}
    )
    assert response["Location"] == "/team/api-keys/"
    assert sent_json(api.calls[-1]) == {"status": "INACTIVE"}
    message = str(next(iter(response.wsgi_request._messages)))
    assert message == "API key “Key 1” deactivated. You can reactivate it at any time."
    assert activity().get().action == "api_key.deactivate"


@pytest.mark.parametrize("sent", [{}, {"status": ""}, {"status": "EXPIRED"}, {"status": "on"}])
def test_a_status_post_without_a_known_status_is_refused_and_changes_nothing(signed_in, api, sent):
    """Second reading of issue 14: a POST with no status, or one that is neither ACTIVE nor
    INACTIVE, used to deactivate the key. It is a 400 that says so, with no call at all."""
    key = api_key(1)
    response = signed_in.post(f"/team/api-keys/{key['id']}/status/", sent)
    assert response.status_code == 400
    assert "either activated or deactivated" in response.content.decode()
    assert len(api.calls) == 0
    assert not activity().exists()
    # The same for the confirmation page and for an HTMX request.
    page = signed_in.get(f"/team/api-keys/{key['id']}/status/?status=bogus")
    assert page.status_code == 400
    assert signed_in.post(f"/team/api-keys/{key['id']}/status/", sent, **HTMX).status_code == 400
    assert len(api.calls) == 0


def test_next_may_not_leave_dmportal(signed_in, api):
    key = api_key(1)
    api.get(url(f"/v3/api-keys/{key['id']}"), json=key)
    api.put(url(f"/v3/api-keys/{key['id']}"), json=key)
    response = signed_in.post(
        f"/team/api-keys/{key['id']}/status/",
        {"status": "ACTIVE", "next": "https://evil.example/"},
    )
    assert response["Location"] == f"/team/api-keys/{key['id']}/"


def test_deactivating_this_connections_key_needs_the_tick(signed_in, api, own_key):
    key = api_key(1, id=OWN_KEY_ID, name="Mine")
    api.get(url(f"/v3/api-keys/{OWN_KEY_ID}"), json=key)
    page = signed_in.get(f"/team/api-keys/{OWN_KEY_ID}/status/?status=INACTIVE")
    html = page.content.decode()
    assert "Deactivate the API key “Mine”?" in html
    assert "will stop working" in html
    assert 'name="understood"' in html
    # Without the tick nothing is changed.
    response = signed_in.post(f"/team/api-keys/{OWN_KEY_ID}/status/", {"status": "INACTIVE"})
    assert response.status_code == 400
    assert "Tick this box" in response.content.decode()
    assert not any(c.request.method == "PUT" for c in api.calls)
    # With it, the key is deactivated and the person is sent to the connections.
    api.put(url(f"/v3/api-keys/{OWN_KEY_ID}"), json={**key, "status": "INACTIVE"})
    response = signed_in.post(
        f"/team/api-keys/{OWN_KEY_ID}/status/", {"status": "INACTIVE", "understood": "on"}
    )
    assert response["Location"] == "/connections/"
    assert "Acme production" in str(next(iter(response.wsgi_request._messages)))
    assert sent_json(api.calls[-1]) == {"status": "INACTIVE"}


def test_deleting_this_connections_key_needs_the_tick(signed_in, api, own_key):
    key = api_key(1, id=OWN_KEY_ID, name="Mine")
    api.get(url(f"/v3/api-keys/{OWN_KEY_ID}"), json=key)
    response = signed_in.post(f"/team/api-keys/{OWN_KEY_ID}/delete/")
    assert response.status_code == 400
    assert not any(c.request.method == "DELETE" for c in api.calls)
    api.delete(url(f"/v3/api-keys/{OWN_KEY_ID}"), status=204)
    response = signed_in.post(f"/team/api-keys/{OWN_KEY_ID}/delete/", {"understood": "on"})
    assert response["Location"] == "/connections/"
    assert paths(api)[-1] == f"DELETE /v3/api-keys/{OWN_KEY_ID}"


def test_delete_another_key_after_confirmation(signed_in, api, own_key):
    key = api_key(1)
    api.get(url(f"/v3/api-keys/{key['id']}"), json=key)
    html = signed_in.get(f"/team/api-keys/{key['id']}/delete/").content.decode()
    assert "Delete the API key “Key 1”?" in html
    assert 'name="understood"' not in html
    api.delete(url(f"/v3/api-keys/{key['id']}"), status=204)
    response = signed_in.post(f"/team/api-keys/{key['id']}/delete/")
    assert response["Location"] == "/team/api-keys/"
    assert activity().get().action == "api_key.delete"


def test_a_key_deleted_meanwhile_is_not_found(signed_in, api):
    key_id = api_key(1)["id"]
    api.get(url(f"/v3/api-keys/{key_id}"), status=404, json=error_body(404, "not_found"))
    response = signed_in.post(f"/team/api-keys/{key_id}/delete/")
    assert response.status_code == 404
    assert "That API key does not exist" in response.content.decode()
    assert not any(c.request.method == "DELETE" for c in api.calls)


def test_rename(signed_in, api):
    key = api_key(1)
    api.get(url(f"/v3/api-keys/{key['id']}"), json=key)
    api.put(url(f"/v3/api-keys/{key['id']}"), json={**key, "name": "Renamed"})
    response = signed_in.post(f"/team/api-keys/{key['id']}/edit/", {"name": "Renamed"})
    assert response.status_code == 302
    assert sent_json(api.calls[-1]) == {"name": "Renamed"}
    assert "renamed to “Renamed”" in str(next(iter(response.wsgi_request._messages)))


def test_a_developer_may_still_manage_its_own_key(signed_in, api, own_key):
    # The API refused the other keys to this key...
    other = api_key(1)
    api.get(url(f"/v3/api-keys/{other['id']}"), status=403, json=error_body(403, "x"))
    assert signed_in.get(f"/team/api-keys/{other['id']}/").status_code == 403
    # ...but its own page still offers what a key may do to itself, and using it keeps the
    # refusal of the others.
    mine = api_key(2, id=OWN_KEY_ID, groups=[])
    api.get(url(f"/v3/api-keys/{OWN_KEY_ID}"), json=mine)
    html = signed_in.get(f"/team/api-keys/{OWN_KEY_ID}/").content.decode()
    assert "Rename</a>" in html
    assert "not allowed to manage API keys" in html


def test_the_detail_page(signed_in, api):
    key = api_key(1, groups=[GROUP_ADMINS], last_login_time=ms(3))
    api.get(url(f"/v3/api-keys/{key['id']}"), json=key)
    api.get(url("/v3/policy-groups"), json=envelope(GROUPS))
    api.get(url("/v3/users"), json=envelope([user(1)]))
    html = joined_ids(signed_in.get(f"/team/api-keys/{key['id']}/").content.decode())
    assert ">Administrators</a>" in html
    assert "user1@example.com" in html
    assert key["key"] in html  # the public part only; the API never returns the secret again
