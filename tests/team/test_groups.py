"""Policy groups: list, create, rename, delete, member panels, adding and removing members."""

import pytest

from tests.conftest import SENTINEL_KEY, envelope, error_body
from tests.factories import (
    GROUP_ADMINS,
    GROUP_DEVS,
    GROUPS,
    HTMX,
    OWN_KEY_ID,
    activity,
    api_key,
    application,
    group,
    paths,
    sent_json,
    sent_params,
    url,
    user,
)

pytestmark = pytest.mark.django_db
GROUPS_URL = url("/v3/policy-groups")
ADMINS_URL = url(f"/v3/policy-groups/{GROUP_ADMINS}")


def test_list_with_member_counts_and_the_name_filter(signed_in, api):
    api.get(GROUPS_URL, json=envelope(GROUPS, total=2))
    response = signed_in.get("/team/groups/?name__eq=Administrators", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert sent_params(api.calls[0])["name__eq"] == "Administrators"
    assert f'href="/team/groups/{GROUP_ADMINS}/"' in html
    assert '<td class="num">3</td>' in html
    assert SENTINEL_KEY not in html


def test_a_plain_submit_of_the_name_filter_goes_to_the_canonical_url(signed_in, api):
    response = signed_in.get("/team/groups/?name__eq=Ops&order=DESC&limit=50")
    assert response.status_code == 302
    assert response["Location"] == "/team/groups/?name__eq=Ops"
    assert len(api.calls) == 0


def test_create_a_group(signed_in, api):
    new = group("c" * 32, "Night shift")
    api.post(GROUPS_URL, status=201, json=new)
    response = signed_in.post("/team/groups/new/", {"name": " Night shift "})
    assert response["Location"] == f"/team/groups/{'c' * 32}/"
    assert sent_json(api.calls[0]) == {"name": "Night shift"}
    assert activity().get().action == "group.create"


def test_a_refused_create_hides_the_action_afterwards(signed_in, api):
    api.post(GROUPS_URL, status=403, json=error_body(403, "access_denied", "Admins only."))
    response = signed_in.post("/team/groups/new/", {"name": "X"})
    assert response.status_code == 403
    assert "Admins only." in response.content.decode()
    api.get(GROUPS_URL, json=envelope(GROUPS, total=2))
    html = signed_in.get("/team/groups/").content.decode()
    assert "Create a group" not in html
    assert "This API key is not allowed to manage policy groups" in html


def test_rename(signed_in, api):
    api.get(ADMINS_URL, json=group(GROUP_ADMINS, "Admins"))
    api.put(ADMINS_URL, json=group(GROUP_ADMINS, "Administrators"))
    response = signed_in.post(f"/team/groups/{GROUP_ADMINS}/rename/", {"name": "Administrators"})
    assert response.status_code == 302
    assert sent_json(api.calls[1]) == {"name": "Administrators"}
    message = str(next(iter(response.wsgi_request._messages)))
    assert message == "Policy group “Admins” renamed to “Administrators”."


def test_deleting_the_administrators_group_is_refused_on_the_confirmation(signed_in, api):
    api.get(ADMINS_URL, json=group(GROUP_ADMINS, "Administrators"))
    api.delete(
        ADMINS_URL,
        status=403,
        json=error_body(403, "access_denied", "The Administrators group cannot be removed."),
    )
    assert "Delete the policy group “Administrators”?" in (
        signed_in.get(f"/team/groups/{GROUP_ADMINS}/delete/").content.decode()
    )
    response = signed_in.post(f"/team/groups/{GROUP_ADMINS}/delete/")
    assert response.status_code == 403
    assert "cannot be removed" in response.content.decode()
    assert activity().get().result == "failed"


def test_the_detail_page_loads_its_member_panels(signed_in, api):
    api.get(ADMINS_URL, json=group(GROUP_ADMINS, "Administrators"))
    html = signed_in.get(f"/team/groups/{GROUP_ADMINS}/").content.decode()
    for kind in ("users", "api-keys", "applications"):
        assert f'hx-get="/team/groups/{GROUP_ADMINS}/{kind}/"' in html
    assert len(api.calls) == 1


@pytest.mark.parametrize(
    ("kind", "item", "shown"),
    [
        ("users", user(1), "user1@example.com"),
        ("api-keys", api_key(1), "Key 1"),
        ("applications", application(1), "App 1"),
    ],
)
def test_member_panels(signed_in, api, kind, item, shown):
    api.get(url(f"/v3/policy-groups/{GROUP_ADMINS}/{kind}"), json=envelope([item], total=1))
    response = signed_in.get(f"/team/groups/{GROUP_ADMINS}/{kind}/", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert shown in html
    assert f"/team/groups/{GROUP_ADMINS}/{kind}/{item['id']}/remove/" in html
    assert "HX-Push-Url" not in response  # a panel never changes the address bar
    assert len(api.calls) == 1


def test_the_connection_key_is_marked_in_the_panel(signed_in, api, own_key):
    api.get(
        url(f"/v3/policy-groups/{GROUP_ADMINS}/api-keys"),
        json=envelope([api_key(1, id=OWN_KEY_ID)], total=1),
    )
    html = signed_in.get(f"/team/groups/{GROUP_ADMINS}/api-keys/", **HTMX).content.decode()
    assert "this connection" in html


def test_a_refused_member_panel_says_so_and_the_next_page_does_not_ask_again(signed_in, api):
    api.get(
        url(f"/v3/policy-groups/{GROUP_ADMINS}/users"),
        status=403,
        json=error_body(403, "access_denied", "Admins only."),
    )
    response = signed_in.get(f"/team/groups/{GROUP_ADMINS}/users/", **HTMX)
    assert response.status_code == 403
    assert "This API key is not allowed to manage policy groups" in response.content.decode()
    api.get(ADMINS_URL, json=group(GROUP_ADMINS, "Administrators"))
    html = signed_in.get(f"/team/groups/{GROUP_ADMINS}/").content.decode()
    assert 'hx-trigger="load"' not in html
    assert "Try again" in html
    assert "Add users" not in html


def test_adding_offers_only_non_members_and_sends_a_subject_list(signed_in, api):
    api.get(ADMINS_URL, json=group(GROUP_ADMINS, "Administrators"))
    members = [user(1, groups=[GROUP_ADMINS]), user(2, groups=[GROUP_DEVS]), user(3, groups=[])]
    api.get(url("/v3/users"), json=envelope(members, total=3))
    html = signed_in.get(f"/team/groups/{GROUP_ADMINS}/users/add/").content.decode()
    assert user(1)["id"] not in html
    assert user(2)["id"] in html
    assert user(3)["id"] in html
    api.post(url(f"/v3/policy-groups/{GROUP_ADMINS}/users/add"), json=group(GROUP_ADMINS))
    response = signed_in.post(
        f"/team/groups/{GROUP_ADMINS}/users/add/", {"members": [user(2)["id"], user(3)["id"]]}
    )
    assert response["Location"] == f"/team/groups/{GROUP_ADMINS}/"
    assert sent_json(api.calls[-1]) == {"users": [user(2)["id"], user(3)["id"]]}
    message = str(next(iter(response.wsgi_request._messages)))
    assert message.startswith("Added 2 users to the policy group “Administrators”: User 2")
    entry = activity().get()
    assert (entry.action, entry.result) == ("group.add_users", "ok")


def test_adding_api_keys_uses_the_apikeys_field(signed_in, api):
    api.get(ADMINS_URL, json=group(GROUP_ADMINS, "Administrators"))
    api.get(url("/v3/api-keys"), json=envelope([api_key(1)], total=1))
    api.post(url(f"/v3/policy-groups/{GROUP_ADMINS}/api-keys/add"), json=group(GROUP_ADMINS))
    signed_in.post(f"/team/groups/{GROUP_ADMINS}/api-keys/add/", {"members": [api_key(1)["id"]]})
    assert sent_json(api.calls[-1]) == {"apikeys": [api_key(1)["id"]]}


def test_an_id_that_was_not_offered_is_refused_without_a_write(signed_in, api):
    api.get(ADMINS_URL, json=group(GROUP_ADMINS, "Administrators"))
    api.get(url("/v3/users"), json=envelope([user(2, groups=[])], total=1))
    response = signed_in.post(f"/team/groups/{GROUP_ADMINS}/users/add/", {"members": ["f" * 32]})
    assert response.status_code == 400
    assert not any(c.request.method == "POST" for c in api.calls)


def test_remove_a_member_after_confirmation(signed_in, api):
    member = user(2)
    api.get(ADMINS_URL, json=group(GROUP_ADMINS, "Administrators"))
    api.get(url(f"/v3/users/{member['id']}"), json=member)
    page = signed_in.get(f"/team/groups/{GROUP_ADMINS}/users/{member['id']}/remove/")
    assert "Remove User 2 &lt;user2@example.com&gt; from the policy group" in page.content.decode()
    api.post(url(f"/v3/policy-groups/{GROUP_ADMINS}/users/remove"), json=group(GROUP_ADMINS))
    response = signed_in.post(f"/team/groups/{GROUP_ADMINS}/users/{member['id']}/remove/")
    assert response.status_code == 302
    assert sent_json(api.calls[-1]) == {"users": [member["id"]]}
    assert activity().get().action == "group.remove_users"


def test_removing_the_connection_key_from_a_group_warns(signed_in, api, own_key):
    api.get(ADMINS_URL, json=group(GROUP_ADMINS, "Administrators"))
    api.get(url(f"/v3/api-keys/{OWN_KEY_ID}"), json=api_key(1, id=OWN_KEY_ID))
    html = signed_in.get(
        f"/team/groups/{GROUP_ADMINS}/api-keys/{OWN_KEY_ID}/remove/"
    ).content.decode()
    assert "This is the API key of dmportal&#x27;s connection “Acme production”" in html


def test_unknown_member_kinds_are_not_routes(signed_in, api):
    assert signed_in.get(f"/team/groups/{GROUP_ADMINS}/devices/").status_code == 404
    assert len(api.calls) == 0
    assert paths(api) == []


def test_listing_api_keys_to_add_proves_no_right_to_manage_them(signed_in, api, connection):
    from dmportal.team.services.sections import DENIED_SESSION_KEY, _key_version

    session = signed_in.session
    session[DENIED_SESSION_KEY] = {
        str(connection.pk): {"key": _key_version(connection), "sections": {"api_keys": True}}
    }
    session.save()
    api.get(ADMINS_URL, json=group(GROUP_ADMINS, "Administrators"))
    api.get(url("/v3/api-keys"), json=envelope([api_key(1)], total=1))
    signed_in.get(f"/team/groups/{GROUP_ADMINS}/api-keys/add/")
    assert signed_in.session[DENIED_SESSION_KEY][str(connection.pk)]["sections"] == {
        "api_keys": True
    }


def test_a_direction_override_in_a_name_cannot_reverse_the_text_after_it(signed_in, api):
    api.get(ADMINS_URL, json=group(GROUP_ADMINS, "Admins \u202e"))
    hostile = user(2, groups=[], full_name="{{7*7}} \u202eresU detsoH")
    api.get(url("/v3/users"), json=envelope([hostile], total=1))
    html = signed_in.get(f"/team/groups/{GROUP_ADMINS}/users/add/").content.decode()
    assert "\u202e" not in html
    assert "{{7*7}}  resU detsoH &lt;user2@example.com&gt;" in html
