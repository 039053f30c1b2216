"""Users: list, detail, invite, edit, status, remove; and invitations."""

from urllib.parse import urlsplit

import pytest
from django.test import Client
from responses import matchers

from tests.conftest import SENTINEL_KEY, envelope, error_body
from tests.factories import (
    GROUP_ADMINS,
    GROUP_DEVS,
    GROUPS,
    HTMX,
    activity,
    invitation,
    paths,
    sent_json,
    sent_params,
    url,
    user,
)

pytestmark = pytest.mark.django_db
USERS = url("/v3/users")
GROUPS_URL = url("/v3/policy-groups")
INVITES = url("/v3/user-invitations")


def test_the_list_shows_users_with_group_names_resolved_in_one_call(signed_in, api):
    items = [user(i, groups=[GROUP_DEVS, GROUP_ADMINS]) for i in range(3)]
    api.get(USERS, json=envelope(items, has_more=True, total=40))
    api.get(GROUPS_URL, json=envelope(GROUPS))
    response = signed_in.get("/team/users/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>40</strong> users" in html
    assert html.count(">Developers</a>") == 3
    assert html.count(">Administrators</a>") == 3
    assert "user2@example.com" in html
    assert 'id="users-pager"' in html
    assert sorted(paths(api)) == ["GET /v3/policy-groups", "GET /v3/users"]  # at once
    by_path = {urlsplit(c.request.url).path: sent_params(c) for c in api.calls}
    assert by_path["/v3/users"] == {"limit": "50", "order": "DESC", "include": "total_count"}
    assert by_path["/v3/policy-groups"] == {"limit": "1000"}
    assert SENTINEL_KEY not in html


def test_the_group_names_are_asked_at_the_same_time_as_the_users(signed_in, api, monkeypatch):
    """One round trip, not two: each call waits until the other has started, which only
    works if they run at once (made one after the other, the first waits in vain)."""
    import threading

    from dmportal.dmapi import resources

    both_started = threading.Barrier(2, timeout=5)

    def waiting(call):
        def run(*args, **kwargs):
            both_started.wait()
            return call(*args, **kwargs)

        return run

    monkeypatch.setattr(resources, "user_page", waiting(resources.user_page))
    monkeypatch.setattr(resources, "policy_group_page", waiting(resources.policy_group_page))
    api.get(USERS, json=envelope([user(1)], total=1))
    api.get(GROUPS_URL, json=envelope(GROUPS))
    response = signed_in.get("/team/users/")
    assert response.status_code == 200
    assert ">Developers</a>" in response.content.decode()
    assert not both_started.broken


def test_no_group_names_are_shown_when_no_user_is_in_a_group(signed_in, api):
    api.get(USERS, json=envelope([user(1, groups=[])], total=1))
    api.get(GROUPS_URL, json=envelope(GROUPS))
    response = signed_in.get("/team/users/")
    assert response.status_code == 200  # the names call, made at once, is not needed
    assert "Developers" not in response.content.decode()
    assert sorted(paths(api)) == ["GET /v3/policy-groups", "GET /v3/users"]


def test_group_names_failing_still_shows_the_users(signed_in, api):
    api.get(USERS, json=envelope([user(1)], total=1))
    api.get(GROUPS_URL, status=500, json=error_body(500, "internal_server_error"))
    response = signed_in.get("/team/users/")
    assert response.status_code == 200
    assert GROUP_DEVS in response.content.decode()  # the id stands in for the name


def test_columns_show_2fa_and_never_logged_in(signed_in, api):
    api.get(USERS, json=envelope([user(1, last_login_time=0, is_totp_enabled=False)], total=1))
    api.get(GROUPS_URL, json=envelope(GROUPS))
    html = signed_in.get("/team/users/").content.decode()
    assert '<span class="none">never</span>' in html
    assert ">off</span>" in html


@pytest.mark.parametrize(
    ("query", "sent"),
    [
        ("status__in=INVITED&status__in=RESET", {"status__in": "INVITED,RESET"}),
        ("status__eq=INACTIVE", {"status__eq": "INACTIVE"}),
        ("email__eq=a%40b.example", {"email__eq": "a@b.example"}),
    ],
)
def test_filters_are_the_api_filters(signed_in, api, query, sent):
    api.get(USERS, json=envelope([], total=0))
    response = signed_in.get(f"/team/users/?{query}", **HTMX)
    assert response.status_code == 200
    params = sent_params(next(c for c in api.calls if "/v3/users" in c.request.url))
    for key, value in sent.items():
        assert params[key] == value
    assert not any(k.startswith("email__in") for k in params)


def test_an_unknown_status_is_refused_without_calling_the_api(signed_in, api):
    response = signed_in.get("/team/users/?status__eq=FLYING")
    assert response.status_code == 400
    assert "not one of the known values" in response.content.decode()
    assert len(api.calls) == 0


def test_load_more_returns_rows_and_resolves_names_again(signed_in, api):
    cursor = user(9)["id"]
    api.get(
        USERS,
        json=envelope([user(10), user(11)]),
        match=[matchers.query_param_matcher({"after": cursor, "limit": "50", "order": "DESC"})],
    )
    api.get(GROUPS_URL, json=envelope(GROUPS))
    response = signed_in.get(f"/team/users/?after={cursor}", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith("<tr>")
    assert html.count("<tr>") == 2
    assert "Developers" in html
    assert len(api.calls) == 2


def test_a_developer_key_is_told_plainly_and_the_actions_disappear(signed_in, api):
    api.get(
        USERS,
        status=403,
        json=error_body(403, "access_denied", "Restricted to administrators.", "up-403"),
    )
    response = signed_in.get("/team/users/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "This API key is not allowed to manage users" in html
    assert "up-403" in html
    assert "Invite a user" not in html
    # Known now: the next page says so without trying the action.
    api.get(INVITES, json=envelope([], total=0))
    html = signed_in.get("/team/invitations/").content.decode()
    assert 'title="This API key is not allowed to manage users">not allowed' in html
    assert activity().count() == 0  # reading is not logged as activity


def test_a_successful_call_brings_the_actions_back(signed_in, api):
    api.get(USERS, status=403, json=error_body(403, "access_denied"))
    signed_in.get("/team/users/")
    api.replace("GET", USERS, json=envelope([user(1)], total=1))
    api.get(GROUPS_URL, json=envelope(GROUPS))
    html = signed_in.get("/team/users/").content.decode()
    assert "Invite a user" in html
    assert "not allowed" not in html


# -- detail --------------------------------------------------------------------------------------


def test_detail_shows_profile_logins_sessions_and_group_names(signed_in, api):
    u = user(
        1,
        groups=[GROUP_ADMINS],
        login_history=[
            {"date": "2025-06-01T10:00:00Z", "ip_address": "192.0.2.7", "success": True,
             "user_agent": "Firefox/121"},
            {"date": "2025-05-01T10:00:00Z", "ip_address": "198.51.100.9", "success": False,
             "user_agent": "<script>alert(1)</script>"},
        ],
        active_sessions=[
            {"login_time": "2025-06-01T10:00:00Z", "ip_address": "192.0.2.7",
             "user_agent": "Firefox/121", "reference_token": "rt_secret"},
        ],
    )  # fmt: skip
    api.get(url(f"/v3/users/{u['id']}"), json=u)
    api.get(GROUPS_URL, json=envelope(GROUPS))
    response = signed_in.get(f"/team/users/{u['id']}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "192.0.2.7" in html
    assert "198.51.100.9" in html
    assert "succeeded" in html
    assert "failed" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "rt_secret" not in html  # a session's reference token is a credential
    assert ">Administrators</a>" in html
    assert len(api.calls) == 2


def test_detail_of_a_missing_user_is_not_found(signed_in, api):
    missing = user(5)["id"]
    api.get(url(f"/v3/users/{missing}"), status=404, json=error_body(404, "not_found"))
    response = signed_in.get(f"/team/users/{missing}/")
    assert response.status_code == 404
    assert "That user does not exist" in response.content.decode()


def test_a_bad_id_never_reaches_the_api(signed_in, api):
    assert signed_in.get("/team/users/..%2Fapi-keys/").status_code == 404
    assert len(api.calls) == 0


# -- invite ---------------------------------------------------------------------------------------


def test_invite_form_offers_the_groups(signed_in, api):
    api.get(GROUPS_URL, json=envelope(GROUPS))
    html = signed_in.get("/team/users/invite/").content.decode()
    assert f'value="{GROUP_ADMINS}"' in html
    assert "Administrators" in html


def test_a_good_invitation_is_sent_logged_and_shown(signed_in, api):
    api.get(GROUPS_URL, json=envelope(GROUPS))
    api.get(url("/v3/users"), json=envelope([]))  # no pending invitation of this address
    api.post(INVITES, status=201, json=invitation(1, email="new@example.com"))
    response = signed_in.post(
        "/team/users/invite/",
        {"email": " new@example.com ", "groups": [GROUP_DEVS], "valid_for_days": "14"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/team/users/?email__eq=new%40example.com"
    assert sent_json(api.calls[2]) == {
        "email": "new@example.com",
        "groups": [GROUP_DEVS],
        "valid_for_days": 14,
    }
    entry = activity().get()
    assert (entry.action, entry.target, entry.result) == ("user.invite", "new@example.com", "ok")
    assert entry.connection_label == "Acme production"
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == [
        "Invitation sent to new@example.com, into Developers. It is valid for 14 days."
    ]


def test_invite_is_post_only_and_csrf_protected(user, connection, api):
    api.get(GROUPS_URL, json=envelope(GROUPS))
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/team/users/invite/", {"email": "a@b.c", "valid_for_days": "30"})
    assert response.status_code == 403
    assert not any(c.request.method == "POST" for c in api.calls)


# -- edit, status, remove -----------------------------------------------------------------------


def test_edit_sends_name_and_phone_and_says_what_changed(signed_in, api):
    u = user(1, phone_number="+44 1")
    api.get(url(f"/v3/users/{u['id']}"), json=u)
    api.put(url(f"/v3/users/{u['id']}"), json=u)
    response = signed_in.post(
        f"/team/users/{u['id']}/edit/", {"full_name": "Ada L", "phone_number": ""}
    )
    assert response.status_code == 302
    assert sent_json(api.calls[1]) == {"full_name": "Ada L", "phone_number": None}
    message = str(next(iter(response.wsgi_request._messages)))
    assert message == "User user1@example.com saved: name “Ada L”, phone “(none)”."
    assert activity().get().action == "user.update"


def test_status_change_is_post_only(signed_in, api):
    assert signed_in.get(f"/team/users/{user(1)['id']}/status/").status_code == 405
    assert len(api.calls) == 0


def test_status_change(signed_in, api):
    u = user(1)
    api.put(url(f"/v3/users/{u['id']}"), json={**u, "status": "INACTIVE"})
    response = signed_in.post(f"/team/users/{u['id']}/status/", {"status": "INACTIVE"})
    assert response.status_code == 302
    assert sent_json(api.calls[0]) == {"status": "INACTIVE"}
    assert "is now INACTIVE" in str(next(iter(response.wsgi_request._messages)))


def test_a_refused_status_change_shows_the_error_page_and_is_logged(signed_in, api):
    u = user(1)
    api.put(
        url(f"/v3/users/{u['id']}"),
        status=403,
        json=error_body(403, "access_denied", "Aggregator admins only.", "up-s"),
    )
    response = signed_in.post(f"/team/users/{u['id']}/status/", {"status": "RESET"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "Aggregator admins only." in html
    assert "up-s" in html
    entry = activity().get()
    assert (entry.result, entry.upstream_request_id) == ("failed", "up-s")


def test_remove_asks_first(signed_in, api):
    u = user(1, status="INACTIVE")
    api.get(url(f"/v3/users/{u['id']}"), json=u)
    response = signed_in.get(f"/team/users/{u['id']}/remove/")
    html = response.content.decode()
    assert "Remove the user user1@example.com?" in html
    assert "Remove the user</button>" in html
    assert paths(api) == [f"GET /v3/users/{u['id']}"]


def test_removing_an_active_user_shows_the_api_refusal_on_the_confirmation(signed_in, api):
    u = user(1, status="ACTIVE")
    api.get(url(f"/v3/users/{u['id']}"), json=u)
    api.delete(
        url(f"/v3/users/{u['id']}"),
        status=400,
        json=error_body(
            400,
            "validation_error",
            "An ACTIVE user cannot be deleted.",
            "up-del",
            fields=[("status", "Deactivate the user before deleting it.")],
        ),
    )
    response = signed_in.post(f"/team/users/{u['id']}/remove/")
    assert response.status_code == 400
    html = response.content.decode()
    assert "An ACTIVE user cannot be deleted." in html
    assert "up-del" in html
    assert "set the status to inactive first" in html


def test_remove(signed_in, api):
    u = user(1, status="INACTIVE")
    api.get(url(f"/v3/users/{u['id']}"), json=u)
    api.delete(url(f"/v3/users/{u['id']}"), status=204)
    response = signed_in.post(f"/team/users/{u['id']}/remove/")
    assert response["Location"] == "/team/users/"
    assert activity().get().action == "user.remove"
    assert paths(api)[-1] == f"DELETE /v3/users/{u['id']}"


# -- invitations ---------------------------------------------------------------------------------


def test_invitations_list_asks_for_no_total(signed_in, api):
    api.get(INVITES, json=envelope([invitation(1), invitation(2, groups=[])]))
    api.get(GROUPS_URL, json=envelope(GROUPS))
    html = signed_in.get("/team/invitations/").content.decode()
    assert "new1@example.com" in html
    assert "Revoke…" in html
    assert "include" not in sent_params(api.calls[0])


def test_revoke_an_invitation(signed_in, api):
    inv = invitation(1)
    api.get(url(f"/v3/user-invitations/{inv['id']}"), json=inv)
    api.delete(url(f"/v3/user-invitations/{inv['id']}"), status=204)
    assert "Revoke the invitation of new1@example.com?" in (
        signed_in.get(f"/team/invitations/{inv['id']}/revoke/").content.decode()
    )
    response = signed_in.post(f"/team/invitations/{inv['id']}/revoke/")
    assert response["Location"] == "/team/invitations/"
    assert activity().get().action == "invitation.revoke"


def test_revoking_a_gone_invitation_says_so(signed_in, api):
    inv = invitation(1)
    api.get(url(f"/v3/user-invitations/{inv['id']}"), status=404, json=error_body(404, "x"))
    response = signed_in.get(f"/team/invitations/{inv['id']}/revoke/")
    assert response.status_code == 404
    assert "That invitation does not exist" in response.content.decode()


def test_a_hostile_name_is_inert_on_the_detail_page(signed_in, api):
    u = user(1, full_name="{{7*7}} \u202e<b>x</b>", groups=[])
    api.get(url(f"/v3/users/{u['id']}"), json=u)
    html = signed_in.get(f"/team/users/{u['id']}/").content.decode()
    assert "\u202e" not in html
    assert "{{7*7}}" in html  # shown as typed, never evaluated
    assert "<b>x</b>" not in html
