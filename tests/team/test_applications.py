"""Applications and access keys: list, detail, writes, the secret once, rotation, checks."""

import logging
import re

import pytest
from django.core.cache import cache

from dmportal.accounts.models import ActivityEntry, Connection
from tests.conftest import SENTINEL_KEY, envelope, error_body
from tests.factories import (
    GROUP_ADMINS,
    GROUP_DEVS,
    GROUPS,
    HTMX,
    access_key,
    activity,
    application,
    paths,
    sent_json,
    sent_params,
    url,
)

pytestmark = pytest.mark.django_db
APPS = url("/v3/applications")
APP = application(1)
APP_URL = url(f"/v3/applications/{APP['id']}")
KEYS_URL = url(f"/v3/applications/{APP['id']}/access-keys")
PAGE = f"/team/applications/{APP['id']}/"
NEW_SECRET = "ak_1PUBLICPART" + "8" * 32 + "NeWsEcReTnEwSeCrEtNeWsEcReTnEw77"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


def test_list_with_status_filter_and_group_names(signed_in, api):
    api.get(APPS, json=envelope([APP, application(2, groups=[])], total=2))
    api.get(url("/v3/policy-groups"), json=envelope(GROUPS))
    response = signed_in.get("/team/applications/?status__eq=ACTIVE", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    params = sent_params(next(c for c in api.calls if "/v3/applications" in c.request.url))
    assert params["status__eq"] == "ACTIVE"
    assert "status__in" not in params
    assert ">Developers</a>" in html
    assert "App 2" in html
    assert len(api.calls) == 2
    assert SENTINEL_KEY not in html


def test_a_status_the_api_cannot_filter_is_refused(signed_in, api):
    response = signed_in.get("/team/applications/?status__eq=EXPIRED")
    assert response.status_code == 400
    assert len(api.calls) == 0


def test_a_developer_key_is_told_it_may_not_manage_applications(signed_in, api):
    api.get(APPS, status=403, json=error_body(403, "access_denied", "Admins only."))
    response = signed_in.get("/team/applications/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "This API key is not allowed to manage applications and access keys" in html
    assert "Create an application" not in html


def test_create(signed_in, api):
    api.get(url("/v3/policy-groups"), json=envelope(GROUPS))
    api.post(APPS, status=201, json=APP)
    response = signed_in.post(
        "/team/applications/new/",
        {"name": "App 1", "description": "Robot", "groups": [GROUP_DEVS]},
    )
    assert response["Location"] == PAGE
    assert sent_json(api.calls[-1]) == {
        "name": "App 1",
        "description": "Robot",
        "groups": [GROUP_DEVS],
    }
    assert activity().get().action == "application.create"


def test_detail_lists_access_keys_with_three_calls(signed_in, api):
    api.get(APP_URL, json=APP)
    api.get(url("/v3/policy-groups"), json=envelope(GROUPS))
    keys = [
        access_key(1, app=1, expiration="2099-01-01T00:00:00Z"),
        access_key(2, app=1, status="INACTIVE"),
        access_key(3, app=1, status="EXPIRED", expiration="2020-01-01T00:00:00Z"),
    ]
    api.get(KEYS_URL, json=envelope(keys, total=3))
    response = signed_in.get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<strong>3</strong> access keys" in html
    assert ">Reactivate…</a>" in html  # each through its confirmation page
    assert ">Deactivate…</a>" in html
    assert "expired" in html
    assert ">Administrators</option>" in html  # may be added to the group it is not in
    assert "Developers</a>" in html
    assert paths(api) == [
        f"GET /v3/applications/{APP['id']}",
        "GET /v3/policy-groups",
        f"GET /v3/applications/{APP['id']}/access-keys",
    ]


def test_filtering_the_keys_is_one_call(signed_in, api):
    api.get(KEYS_URL, json=envelope([], total=0))
    response = signed_in.get(f"{PAGE}?status__eq=INACTIVE", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Push-Url"] == f"{PAGE}?status__eq=INACTIVE"
    assert paths(api) == [f"GET /v3/applications/{APP['id']}/access-keys"]
    assert sent_params(api.calls[0])["status__eq"] == "INACTIVE"


def test_a_missing_application_is_not_found(signed_in, api):
    api.get(APP_URL, status=404, json=error_body(404, "not_found"))
    response = signed_in.get(PAGE)
    assert response.status_code == 404
    assert "That application does not exist" in response.content.decode()


def test_deactivating_an_application_is_confirmed_first(signed_in, api):
    api.get(APP_URL, json=APP)
    keys = [access_key(1, app=1, last_used_at="2020-01-01T00:00:00Z"), access_key(2, app=1)]
    api.get(KEYS_URL, json=envelope(keys, total=2))
    html = signed_in.get(f"{PAGE}status/?status=INACTIVE").content.decode()
    assert "Deactivate the application “App 1”?" in html
    assert "clears the application" in html
    # what stops working, in words: its keys, and when the last one was used
    assert "What stops working" in html
    assert "Its 2 active access keys stop working; the last one used was used" in html
    assert len(api.calls) == 2
    api.put(APP_URL, json={**APP, "status": "INACTIVE"})
    response = signed_in.post(f"{PAGE}status/", {"status": "INACTIVE"})
    assert response["Location"] == PAGE
    assert sent_json(api.calls[-1]) == {"status": "INACTIVE"}
    assert activity().get().action == "application.deactivate"


def test_activating_is_one_post_and_a_failure_shows_the_error_page(signed_in, api):
    api.get(APP_URL, json=APP)
    api.put(APP_URL, status=500, json=error_body(500, "internal_server_error", "Boom", "up-5"))
    response = signed_in.post(f"{PAGE}status/", {"status": "ACTIVE"})
    assert response.status_code == 502
    assert "up-5" in response.content.decode()
    assert [c.request.method for c in api.calls].count("PUT") == 1  # never retried


def test_edit_and_delete(signed_in, api):
    api.get(APP_URL, json=APP)
    api.put(APP_URL, json={**APP, "name": "Renamed"})
    response = signed_in.post(f"{PAGE}edit/", {"name": "Renamed", "description": ""})
    assert response.status_code == 302
    assert sent_json(api.calls[-1]) == {"name": "Renamed", "description": ""}
    api.delete(APP_URL, status=204)
    assert "Its access keys are deleted with it" in signed_in.get(f"{PAGE}delete/").content.decode()
    response = signed_in.post(f"{PAGE}delete/")
    assert response["Location"] == "/team/applications/"
    assert [e.action for e in activity()] == ["application.update", "application.delete"]


@pytest.mark.parametrize("action", ["add", "remove"])
def test_policy_groups_of_an_application(signed_in, api, action):
    api.get(url("/v3/policy-groups"), json=envelope(GROUPS))
    api.get(APP_URL, json=APP)
    api.post(url(f"/v3/applications/{APP['id']}/groups/{action}"), status=204)
    response = signed_in.post(f"{PAGE}groups/", {"action": action, "group": GROUP_ADMINS})
    assert response["Location"] == PAGE
    assert sent_json(api.calls[-1]) == [GROUP_ADMINS]
    assert "Administrators" in str(next(iter(response.wsgi_request._messages)))


def test_removing_a_group_is_confirmed_first_and_says_what_stops_working(signed_in, api):
    api.get(url("/v3/policy-groups"), json=envelope(GROUPS))
    api.get(APP_URL, json=APP)
    response = signed_in.get(f"{PAGE}groups/", {"action": "remove", "group": GROUP_ADMINS})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Remove the application “App 1” from the policy group “Administrators”?" in html
    assert "loses the rights of the policy group “Administrators” at once" in html
    assert [c.request.method for c in api.calls] == ["GET", "GET"]  # nothing changed yet
    assert (
        signed_in.get(f"{PAGE}groups/", {"action": "add", "group": GROUP_ADMINS}).status_code == 302
    )


def test_a_bad_group_change_calls_nothing(signed_in, api):
    response = signed_in.post(f"{PAGE}groups/", {"action": "add", "group": "../x"})
    assert response.status_code == 302
    assert len(api.calls) == 0


# -- access keys ------------------------------------------------------------------------------


def open_form(client, api, path):
    api.get(APP_URL, json=APP)
    api.get(KEYS_URL, json=envelope([access_key(1, app=1)], total=1))
    html = client.get(path).content.decode()
    return re.search(r'name="once" value="([^"]+)"', html).group(1)


def test_create_an_access_key_with_an_expiry_shows_the_secret_once(signed_in, api, caplog):
    caplog.set_level(logging.DEBUG)
    once = open_form(signed_in, api, f"{PAGE}access-keys/new/")
    api.post(KEYS_URL, status=201, json={**access_key(8, app=1), "key": NEW_SECRET})
    response = signed_in.post(
        f"{PAGE}access-keys/new/",
        {"once": once, "name": "Robot", "expiration": "2099-12-31"},
        **HTMX,
    )
    assert response.status_code == 201
    html = response.content.decode()
    assert NEW_SECRET in html
    assert "<html" not in html
    assert sent_json(api.calls[-1]) == {"name": "Robot", "expiration": "2099-12-31T23:59:59Z"}
    again = signed_in.post(f"{PAGE}access-keys/new/", {"once": once, "name": "Robot"})
    assert again.status_code == 409
    assert NEW_SECRET not in again.content.decode()
    assert [c.request.method for c in api.calls].count("POST") == 1
    assert NEW_SECRET not in caplog.text
    assert not any(NEW_SECRET in str(v) for v in ActivityEntry.objects.values_list())


def test_an_expiry_in_the_past_is_refused_before_the_api(signed_in, api):
    once = open_form(signed_in, api, f"{PAGE}access-keys/new/")
    response = signed_in.post(
        f"{PAGE}access-keys/new/", {"once": once, "name": "Robot", "expiration": "2001-01-01"}
    )
    assert response.status_code == 400
    assert "must be in the future" in response.content.decode()
    assert not any(c.request.method == "POST" for c in api.calls)


def test_access_key_status_is_confirmed_then_one_post(signed_in, api):
    key = access_key(1, app=1, last_used_at="2020-01-01T00:00:00Z")
    api.get(f"{KEYS_URL}/{key['id']}", json=key)
    page = signed_in.get(f"{PAGE}access-keys/{key['id']}/status/?status=INACTIVE&next={PAGE}")
    html = page.content.decode()
    assert "Deactivate the access key “Access key 1”?" in html
    assert "This access key was last used " in html
    assert "is refused from then on" in html
    again = signed_in.get(f"{PAGE}access-keys/{key['id']}/status/?status=ACTIVE")
    assert "Reactivate the access key" in again.content.decode()
    api.calls.reset()
    api.put(f"{KEYS_URL}/{key['id']}", json={**key, "status": "INACTIVE"})
    response = signed_in.post(
        f"{PAGE}access-keys/{key['id']}/status/", {"status": "INACTIVE", "next": PAGE}
    )
    assert response["Location"] == PAGE
    assert sent_json(api.calls[-1]) == {"status": "INACTIVE"}
    assert "You can reactivate it" in str(next(iter(response.wsgi_request._messages)))
    assert activity().get().target == f"Access key 1 ({key['id']})"


@pytest.mark.parametrize("sent", [{}, {"status": "EXPIRED"}, {"status": "bogus"}])
def test_expired_unknown_or_missing_status_cannot_be_set(signed_in, api, sent):
    key = access_key(1, app=1)
    response = signed_in.post(f"{PAGE}access-keys/{key['id']}/status/", sent)
    assert response.status_code == 400
    assert "either activated or deactivated" in response.content.decode()
    assert len(api.calls) == 0
    assert not activity().exists()


@pytest.mark.parametrize("sent", [{}, {"status": "EXPIRED"}, {"status": "bogus"}])
def test_an_application_status_post_without_a_known_status_changes_nothing(signed_in, api, sent):
    """Second reading of issue 14: like a key's, it used to deactivate the application."""
    response = signed_in.post(f"{PAGE}status/", sent)
    assert response.status_code == 400
    assert "An application is either activated or deactivated" in response.content.decode()
    assert signed_in.get(f"{PAGE}status/").status_code == 400
    assert len(api.calls) == 0
    assert not activity().exists()


def test_delete_an_access_key(signed_in, api):
    key = access_key(2, app=1, status="INACTIVE")
    api.get(f"{KEYS_URL}/{key['id']}", json=key)
    api.delete(f"{KEYS_URL}/{key['id']}", status=204)
    html = signed_in.get(f"{PAGE}access-keys/{key['id']}/delete/").content.decode()
    assert "Delete the access key “Access key 2”?" in html
    response = signed_in.post(f"{PAGE}access-keys/{key['id']}/delete/")
    assert response["Location"] == PAGE
    assert activity().get().action == "access_key.delete"


# -- rotation -------------------------------------------------------------------------------------


def test_rotation_creates_checks_with_the_new_key_and_offers_to_deactivate_the_old(
    signed_in, api, connection, caplog
):
    caplog.set_level(logging.DEBUG)
    old = access_key(1, app=1, name="Old key")
    api.get(APP_URL, json=APP)
    api.get(KEYS_URL, json=envelope([old], total=1))
    html = signed_in.get(f"{PAGE}rotate/").content.decode()
    assert "Old key (rotated" in html  # a name is proposed
    once = re.search(r'name="once" value="([^"]+)"', html).group(1)
    api.post(KEYS_URL, status=201, json={**access_key(8, app=1, name="New key"), "key": NEW_SECRET})
    api.get(url("/v3/accounts/me"), json={"id": "a" * 32, "display_name": "Acme"})
    response = signed_in.post(
        f"{PAGE}rotate/", {"once": once, "old_key": old["id"], "name": "New key"}, **HTMX
    )
    assert response.status_code == 201
    html = response.content.decode()
    assert NEW_SECRET in html
    assert 'data-check="ok"' in html
    assert "reached the account Acme" in html
    assert f'action="/team/applications/{APP["id"]}/access-keys/{old["id"]}/status/"' in html
    check = api.calls[-1]
    assert check.request.url.endswith("/v3/accounts/me")
    assert check.request.headers["Authorization"] == f"Bearer {NEW_SECRET}"
    writes = [c for c in api.calls if c.request.method != "GET"]
    assert len(writes) == 1  # the old key is untouched until the person says so
    assert [e.action for e in activity()] == ["access_key.rotate_create", "access_key.check"]
    assert NEW_SECRET not in caplog.text
    assert not any(NEW_SECRET in str(v) for v in ActivityEntry.objects.values_list())
    assert SENTINEL_KEY not in html


def test_a_failed_check_says_not_to_deactivate_and_does_not_blame_the_connection(
    signed_in, api, connection
):
    old = access_key(1, app=1)
    api.get(APP_URL, json=APP)
    api.get(KEYS_URL, json=envelope([old], total=1))
    html = signed_in.get(f"{PAGE}rotate/").content.decode()
    once = re.search(r'name="once" value="([^"]+)"', html).group(1)
    api.post(KEYS_URL, status=201, json={**access_key(8, app=1), "key": NEW_SECRET})
    api.get(
        url("/v3/accounts/me"),
        status=401,
        json=error_body(401, "invalid_apikey", "Invalid key.", "up-chk"),
    )
    response = signed_in.post(
        f"{PAGE}rotate/", {"once": once, "old_key": old["id"], "name": "New"}, **HTMX
    )
    html = response.content.decode()
    assert 'data-check="failed"' in html
    assert "Do not deactivate the old key yet" in html
    assert "up-chk" in html
    assert f"access-keys/{access_key(8)['id']}/verify/?old={old['id']}" in html
    connection.refresh_from_db()
    assert connection.key_rejected_at is None  # the new key failed, not the connection's


def test_rotation_without_an_active_key_offers_to_create_one(signed_in, api):
    api.get(APP_URL, json=APP)
    api.get(KEYS_URL, json=envelope([access_key(1, app=1, status="INACTIVE")], total=1))
    html = signed_in.get(f"{PAGE}rotate/").content.decode()
    assert "no active access key to replace" in html
    assert 'name="once"' not in html


def test_the_two_keys_rule_is_explained(signed_in, api):
    api.get(APP_URL, json=APP)
    keys = [access_key(1, app=1), access_key(2, app=1, status="INACTIVE")]
    api.get(KEYS_URL, json=envelope(keys, total=2))
    html = signed_in.get(f"{PAGE}rotate/").content.decode()
    assert "allows 2 per application" in html


# -- checking a pasted key ---------------------------------------------------------------------


def test_verify_a_pasted_key_once_without_showing_it_back(signed_in, api):
    key = access_key(8, app=1)
    old = access_key(1, app=1)
    api.get(f"{KEYS_URL}/{key['id']}", json=key)
    api.get(f"{KEYS_URL}/{old['id']}", json=old)
    api.get(url("/v3/accounts/me"), json={"id": "a" * 32, "display_name": "Acme"})
    pasted = "ak_1PUBLICPART" + key["id"] + "PaStEdSeCrEtPaStEdSeCrEtPaStEd12"
    response = signed_in.post(
        f"{PAGE}access-keys/{key['id']}/verify/", {"key": pasted, "old": old["id"]}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-check="ok"' in html
    assert pasted not in html
    assert "may be another key" not in html
    assert "Deactivate the old key" in html
    me = [c for c in api.calls if c.request.url.endswith("/v3/accounts/me")]
    assert len(me) == 1
    assert me[0].request.headers["Authorization"] == f"Bearer {pasted}"
    assert activity().get().action == "access_key.check"


def test_verify_warns_when_the_pasted_key_is_another_one(signed_in, api):
    key = access_key(8, app=1)
    api.get(f"{KEYS_URL}/{key['id']}", json=key)
    api.get(url("/v3/accounts/me"), json={"id": "a" * 32})
    other = "ak_" + "Z" * 60
    html = signed_in.post(
        f"{PAGE}access-keys/{key['id']}/verify/", {"key": other}, **HTMX
    ).content.decode()
    assert "may be another key" in html
    assert other not in html


def test_verify_refuses_something_that_is_not_a_key_without_a_call(signed_in, api):
    key = access_key(8, app=1)
    api.get(f"{KEYS_URL}/{key['id']}", json=key)
    response = signed_in.post(f"{PAGE}access-keys/{key['id']}/verify/", {"key": "hello world"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "hello world" not in html
    assert not any(c.request.url.endswith("/v3/accounts/me") for c in api.calls)
    assert Connection.objects.count() == 1  # nothing stored
