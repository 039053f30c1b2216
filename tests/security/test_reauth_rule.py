"""Issue 14, finding 1: `@recent_auth_required` guarded key creation and deletion only, so a
session whose password was older than the window could still invite a user into any group
(Administrators included), change a user's status, add a key or an application to a group,
and reactivate a deactivated key: a stale administrator session put a developer key into
Administrators, after which that key listed every user.

The rule is one list in one place now (accounts/reauth.py): every POST of a signed-in person
needs a recently entered password, unless its URL name is in EXEMPT with the reason. The walk
below takes every URL of the project from the resolver (team/ and accounts/ among them, and
whatever is added later: bulk actions, saved device queries) and posts to it with a stale
session: each is either exempted with a reason, or answered with the password page, nothing
done and nothing sent.
"""

import re
import time

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from dmportal.accounts.models import ActivityEntry
from dmportal.accounts.reauth import EXEMPT, RECENT_AUTH_SECONDS
from dmportal.accounts.signals import SESSION_AUTH_AT
from tests.accounts.test_key_never_leaks import ANY_API_PATH, GENERIC
from tests.conftest import PASSWORD, SENTINEL_KEY, envelope
from tests.factories import GROUP_ADMINS, HTMX, api_key, hexid, sent_json, url

pytestmark = pytest.mark.django_db
SAMPLES = {"hex32": "a" * 32, "int": "1", "str": "x", "path": "x", "member_kind": "api-keys"}
# What a form of any of these pages might send: enough for each view to act if it were let.
TYPED = {
    "name": "Robot",
    "email": "someone@example.com",
    "status": "ACTIVE",
    "groups": [GROUP_ADMINS],
    "members": ["a" * 32],
    "body": "A note",
    "label": "Renamed",
    "understood": "on",
    "timezone": "UTC",
}
# The actions the finding reproduced, and every other that widens what a person or a key can
# do, re-enables one or makes a secret (the list), by URL name: never exempt.
PRIVILEGE_CHANGES = {
    "user_invite",
    "user_status",
    "group_members_add",
    "api_key_status",
    "access_key_status",
    "application_status",
    "application_groups",
    "invitation_resend",
    "api_key_create",
    "application_create",
    "access_key_create",
    "access_key_rotate",
    "connection_add",
    "connection_edit",
}


def routes():
    """(URL name, path with sample values) of every URL of the project but the admin's."""

    def walk(patterns, prefix="", namespace=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if route.startswith("admin/"):
                    continue
                yield from walk(pattern.url_patterns, route, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern):
                path = re.sub(
                    r"<(?:(\w+):)?\w+>", lambda m: SAMPLES.get(m.group(1) or "str", "x"), route
                )
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                yield name, "/" + path.lstrip("^").rstrip("$")

    return sorted(set(walk(get_resolver().url_patterns)))


def password_long_ago(client):
    session = client.session
    session[SESSION_AUTH_AT] = time.time() - RECENT_AUTH_SECONDS - 1
    session.save()


@pytest.fixture
def stale(signed_in, api):
    api.get(ANY_API_PATH, json=GENERIC)
    api.post(ANY_API_PATH, json=GENERIC)
    api.put(ANY_API_PATH, json=GENERIC)
    api.delete(ANY_API_PATH, status=204)
    password_long_ago(signed_in)
    return signed_in


def test_every_post_needs_a_recent_password_unless_exempted_with_a_reason(stale, api):
    names = dict(routes())
    team_and_accounts = [n for n, p in names.items() if p.startswith(("/team/", "/accounts/"))]
    assert len(team_and_accounts) > 35
    guarded = []
    for name, path in routes():
        if name in EXEMPT:
            continue
        for headers in ({}, HTMX):
            response = stale.post(path, TYPED, **headers)
            where = f"POST {path} ({name}) {'htmx' if headers else 'page'}"
            assert response.status_code == 403, (where, response.status_code)
            html = response.content.decode()
            assert 'name="reauth-password"' in html, where
            assert f'action="{path}"' in html, where
        guarded.append(name)
    assert len(api.calls) == 0, [c.request.url for c in api.calls]
    assert not ActivityEntry.objects.exclude(action="signin").exists()
    assert set(guarded) >= PRIVILEGE_CHANGES


def test_each_exemption_names_a_url_and_says_why():
    names = {name for name, _ in routes()} | {"admin:logout"}
    for name, reason in EXEMPT.items():
        assert name in names, f"{name} is exempt but no URL has that name"
        assert len(reason) > 20, f"{name}: say why it needs no recent password"
    assert not PRIVILEGE_CHANGES & set(EXEMPT)


def test_a_stale_session_cannot_put_a_key_into_administrators(stale, api):
    """The reproduction: then, after the password, the action goes on as it was submitted."""
    api.reset()
    group = f"/team/groups/{GROUP_ADMINS}/api-keys/add/"
    key = hexid(7, "2")
    refused = stale.post(group, {"members": [key]})
    assert refused.status_code == 403
    assert len(api.calls) == 0
    admins = {"object": "group", "id": GROUP_ADMINS, "name": "Administrators"}
    api.get(url(f"/v3/policy-groups/{GROUP_ADMINS}"), json=admins)
    api.get(url("/v3/api-keys"), json=envelope([api_key(7)], total=1))
    api.post(url(f"/v3/policy-groups/{GROUP_ADMINS}/api-keys/add"), json=admins)
    done = stale.post(group, {"members": [key], "reauth-password": PASSWORD})
    assert done.status_code == 302
    posts = [c for c in api.calls if c.request.method == "POST"]
    assert len(posts) == 1
    assert sent_json(posts[0]) == {"apikeys": [key]}


def test_a_pasted_key_is_never_written_back_into_the_password_page(stale, api):
    response = stale.post("/team/users/invite/", {"email": SENTINEL_KEY, "groups": [GROUP_ADMINS]})
    assert SENTINEL_KEY not in response.content.decode()
    for _, value in response.items():
        assert SENTINEL_KEY not in value
    assert len(api.calls) == 0


def test_a_key_shaped_field_name_is_not_written_back_either(stale, api):
    """Second reading: values shaped like a key were left out of the carried fields, their
    names were not (a crafted POST could write one back as a hidden input's name)."""
    response = stale.post("/team/users/invite/", {SENTINEL_KEY: "x", "email": "c@example.com"})
    assert SENTINEL_KEY not in response.content.decode()
    assert 'value="c@example.com"' in response.content.decode()  # the rest is carried
    assert len(api.calls) == 0


def test_a_key_in_the_posted_url_is_not_written_back_as_the_form_action(stale, api):
    encoded = "%61" + SENTINEL_KEY[1:]  # "a" percent-encoded: the same key once decoded
    for shown in (SENTINEL_KEY, encoded):
        response = stale.post(f"/team/users/invite/?next={shown}&x=1", {"email": "c@example.com"})
        assert response.status_code == 403
        html = response.content.decode()
        assert SENTINEL_KEY not in html
        assert SENTINEL_KEY[1:] not in html
        assert 'action="/team/users/invite/?x=1"' in html
    assert len(api.calls) == 0


def test_a_recent_password_lets_a_privilege_change_through(signed_in, api):
    user_id = hexid(3, "1")
    api.get(url(f"/v3/users/{user_id}"), json={"id": user_id, "email": "c@example.com"})
    api.put(url(f"/v3/users/{user_id}"), json={"id": user_id, "status": "ACTIVE"})
    response = signed_in.post(f"/team/users/{user_id}/status/", {"status": "ACTIVE"})
    assert response.status_code in (200, 302)
    assert [c.request.method for c in api.calls].count("PUT") == 1
