"""The password again before creating or deleting API keys and access keys (checklist B6):
every such page refuses without it and calls nothing upstream, and after it the action goes
on as it was submitted."""

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache

from dmportal.accounts.reauth import RECENT_AUTH_SECONDS
from dmportal.accounts.signals import SESSION_AUTH_AT
from tests.conftest import PASSWORD, envelope
from tests.factories import (
    GROUP_DEVS,
    GROUPS,
    HTMX,
    access_key,
    activity,
    api_key,
    application,
    hexid,
    paths,
    sent_json,
    url,
    user,
)

pytestmark = pytest.mark.django_db
NEW_SECRET = "ak_1PUBLICPART" + "9" * 32 + "SeCrEtSeCrEtSeCrEtSeCrEtSeCrEt42"
KEY = hexid(1, "2")
APP = hexid(0, "3")
ACCESS_KEY = hexid(1, "4")
USER = hexid(1, "1")

# Every team page that creates or deletes a key (deleting an application or a user deletes
# its keys too).
GUARDED = [
    "/team/api-keys/new/",
    f"/team/api-keys/{KEY}/delete/",
    f"/team/applications/{APP}/access-keys/new/",
    f"/team/applications/{APP}/rotate/",
    f"/team/applications/{APP}/access-keys/{ACCESS_KEY}/delete/",
    f"/team/applications/{APP}/delete/",
    f"/team/users/{USER}/remove/",
]


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # the one-time tokens' race guard lives in the cache


def password_long_ago(client):
    session = client.session
    session[SESSION_AUTH_AT] = time.time() - RECENT_AUTH_SECONDS - 1
    session.save()


def confirmation_url(back):
    return "/accounts/confirm-password/?next=" + back.replace("/", "%2F")


@pytest.mark.parametrize("path", GUARDED)
def test_a_page_that_creates_or_deletes_a_key_asks_for_the_password_first(signed_in, api, path):
    password_long_ago(signed_in)
    response = signed_in.get(path)
    assert response.status_code == 302
    assert response["Location"] == confirmation_url(path)
    htmx = signed_in.get(path, HTTP_HX_CURRENT_URL="http://testserver/team/", **HTMX)
    assert htmx.status_code == 200
    assert htmx["HX-Redirect"] == confirmation_url("/team/")
    assert len(api.calls) == 0


@pytest.mark.parametrize("path", GUARDED)
def test_a_post_without_a_recent_password_does_nothing_and_asks_for_it(signed_in, api, path):
    password_long_ago(signed_in)
    response = signed_in.post(path, {"once": "t", "name": "Robot", "understood": "on"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "Confirm your password" in html
    assert 'name="reauth-password"' in html
    assert f'action="{path}"' in html
    assert '<input type="hidden" name="name" value="Robot">' in html
    assert len(api.calls) == 0
    assert not activity().exists()


def test_a_wrong_password_does_nothing(signed_in, api):
    password_long_ago(signed_in)
    response = signed_in.post(
        f"/team/api-keys/{KEY}/delete/", {"reauth-password": "not it", "understood": "on"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "That is not your password" in html
    assert "not it" not in html
    assert len(api.calls) == 0


def test_a_recent_password_is_not_asked_again(signed_in, api):
    # signed_in has just signed in: the pages work straight away.
    api.get(url(f"/v3/api-keys/{KEY}"), json=api_key(1))
    assert signed_in.get(f"/team/api-keys/{KEY}/delete/").status_code == 200


def test_a_rename_needs_no_password(signed_in, api):
    password_long_ago(signed_in)
    api.get(url(f"/v3/api-keys/{KEY}"), json=api_key(1))
    assert signed_in.get(f"/team/api-keys/{KEY}/edit/").status_code == 200


def test_after_the_password_the_key_is_created_as_typed_and_the_form_stays_single_use(
    signed_in, api
):
    api.get(url("/v3/users"), json=envelope([user(1), user(2)]))
    api.get(url("/v3/policy-groups"), json=envelope(GROUPS))
    html = signed_in.get("/team/api-keys/new/").content.decode()
    once = re.search(r'name="once" value="([^"]+)"', html).group(1)
    password_long_ago(signed_in)  # the form stayed open too long
    typed = {"once": once, "name": "Robot", "owner": user(2)["id"], "groups": [GROUP_DEVS]}
    refused = signed_in.post("/team/api-keys/new/", typed, **HTMX)
    # The password form replaces the page's content (not the panel the form aimed at).
    assert refused.status_code == 403
    assert refused["HX-Retarget"] == "#main"
    assert refused["HX-Reswap"] == "innerHTML"
    page = refused.content.decode()
    assert "<html" not in page
    assert "hx-post" not in page  # sent as a plain form: the answer is a whole page
    carried = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    assert carried.pop("csrfmiddlewaretoken")  # the password form's own token
    assert carried == {"once": once, "name": "Robot", "owner": user(2)["id"], "groups": GROUP_DEVS}
    assert not any(c.request.method == "POST" for c in api.calls)

    api.post(url("/v3/api-keys"), status=201, json={**api_key(9, name="Robot"), "key": NEW_SECRET})
    done = signed_in.post("/team/api-keys/new/", {**typed, "reauth-password": PASSWORD})
    assert done.status_code == 201
    assert NEW_SECRET in done.content.decode()
    assert sent_json(api.calls[-1]) == {
        "name": "Robot",
        "owner": user(2)["id"],
        "groups": [GROUP_DEVS],
    }
    # The password is fresh now; the same form sent again creates nothing.
    again = signed_in.post("/team/api-keys/new/", typed)
    assert again.status_code == 409
    assert [c.request.method for c in api.calls].count("POST") == 1
    assert [(e.action, e.result) for e in activity()] == [("api_key.create", "ok")]


def test_after_the_password_the_access_key_is_deleted(signed_in, api):
    path = f"/team/applications/{APP}/access-keys/{ACCESS_KEY}/delete/"
    password_long_ago(signed_in)
    assert signed_in.post(path).status_code == 403
    api.get(url(f"/v3/applications/{APP}/access-keys/{ACCESS_KEY}"), json=access_key(1))
    api.delete(url(f"/v3/applications/{APP}/access-keys/{ACCESS_KEY}"), status=204)
    response = signed_in.post(path, {"reauth-password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == f"/team/applications/{APP}/"
    assert paths(api) == [
        f"GET /v3/applications/{APP}/access-keys/{ACCESS_KEY}",
        f"DELETE /v3/applications/{APP}/access-keys/{ACCESS_KEY}",
    ]


def test_after_the_password_the_confirmation_page_comes_back(signed_in, api):
    path = f"/team/applications/{APP}/delete/"
    password_long_ago(signed_in)
    to_password = signed_in.get(path)
    response = signed_in.post(
        "/accounts/confirm-password/",
        {
            "password": PASSWORD,
            "next": parse_qs(urlsplit(to_password["Location"]).query)["next"][0],
        },
    )
    assert response["Location"] == path
    api.get(url(f"/v3/applications/{APP}"), json=application(0))
    html = signed_in.get(path).content.decode()
    assert "Delete the application" in html
