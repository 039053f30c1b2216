"""The team pages against the simulator: every page with an administrator and a developer key,
API-call counts per page, and the administrator's tasks end to end."""

import re

import pytest
from django.core.cache import cache

from dmportal.accounts.models import ActivityEntry
from dmportal.accounts.services import make_client
from dmportal.dmapi import errors as api
from tests.conftest import make_connection, use_simulator

pytestmark = pytest.mark.django_db


def key_id_of(sim, key):
    return sim.store.secrets[key][1]


def first(collection, test=lambda o: True):
    return next(o for o in collection.objs.values() if test(o))


def team_urls(sim):
    st = sim.store
    u = first(st.users)
    g = st.admin_group_id
    k = first(st.api_keys)
    a = first(st.applications)
    ak = first(st.access_keys, lambda x: x["application_id"] == a["id"])
    i = first(st.invitations)
    app = f"/team/applications/{a['id']}"
    return [
        "/team/",
        "/team/users/",
        f"/team/users/{u['id']}/",
        "/team/users/invite/",
        f"/team/users/{u['id']}/edit/",
        f"/team/users/{u['id']}/remove/",
        "/team/invitations/",
        f"/team/invitations/{i['id']}/revoke/",
        "/team/groups/",
        "/team/groups/new/",
        f"/team/groups/{g}/",
        f"/team/groups/{g}/rename/",
        f"/team/groups/{g}/delete/",
        f"/team/groups/{g}/users/",
        f"/team/groups/{g}/api-keys/",
        f"/team/groups/{g}/applications/",
        f"/team/groups/{g}/users/add/",
        f"/team/groups/{g}/api-keys/add/",
        f"/team/groups/{g}/applications/add/",
        f"/team/groups/{g}/users/{u['id']}/remove/",
        "/team/api-keys/",
        "/team/api-keys/new/",
        f"/team/api-keys/{k['id']}/",
        f"/team/api-keys/{k['id']}/edit/",
        f"/team/api-keys/{k['id']}/delete/",
        "/team/applications/",
        "/team/applications/new/",
        f"{app}/",
        f"{app}/edit/",
        f"{app}/status/?status=INACTIVE",
        f"{app}/delete/",
        f"{app}/rotate/",
        f"{app}/access-keys/new/",
        f"{app}/access-keys/{ak['id']}/delete/",
        f"{app}/access-keys/{ak['id']}/verify/",
        "/activity/",
    ]


def test_every_team_page_works_with_an_administrator_key_and_shows_no_key(sim_client, sim):
    for path in team_urls(sim):
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = sim_client.get(path, **headers)
            assert response.status_code == 200, path
            body = response.content.decode()
            assert sim.keys.admin not in body, path
            assert sim.keys.developer not in body, path


@pytest.fixture
def developer_client(client, user, sim):
    make_connection(
        user,
        label="Sim developer",
        key=sim.keys.developer,
        host=sim.base_url,
        key_id=key_id_of(sim, sim.keys.developer),
    )
    client.force_login(user)
    return client


def test_a_developer_key_gets_clear_refusals_never_errors(developer_client, sim):
    for path in team_urls(sim):
        response = developer_client.get(path)
        assert response.status_code in (200, 403), (path, response.status_code)
        body = response.content.decode()
        assert sim.keys.developer not in body
        if response.status_code == 403:
            assert "not allowed to" in body, path
    html = developer_client.get("/team/users/").content.decode()
    assert "This API key is not allowed to manage users" in html
    assert "Invite a user" not in html
    # The developer sees only its own key, marked as this connection's.
    html = developer_client.get("/team/api-keys/").content.decode()
    assert html.count("this connection") >= 1
    assert "<strong>1</strong> API key" in html
    # The account page lists what the API refused this key.
    html = developer_client.get("/team/").content.decode()
    for what in ("manage users", "manage applications and access keys"):
        assert f'">{what}</li>' in html


def test_api_calls_per_page(sim_client, sim):
    sim.reset_stats()
    sim_client.get("/team/users/")
    assert sim.stats()["requests"] == {"GET /v3/policy-groups": 1, "GET /v3/users": 1}
    sim.reset_stats()
    sim_client.get("/team/api-keys/")
    assert sim.stats()["requests"] == {
        "GET /v3/api-keys": 1,
        "GET /v3/policy-groups": 1,
        "GET /v3/users": 1,
    }
    sim.reset_stats()
    sim_client.get("/team/applications/")
    assert sim.stats()["requests"] == {"GET /v3/applications": 1, "GET /v3/policy-groups": 1}
    sim.reset_stats()
    user = first(sim.store.users, lambda u: u.get("groups"))
    sim_client.get(f"/team/users/{user['id']}/")
    assert sim.stats()["requests"] == {"GET /v3/policy-groups": 1, "GET /v3/users/{user_id}": 1}
    sim.reset_stats()
    sim_client.get(f"/team/groups/{sim.store.admin_group_id}/")
    assert sim.stats()["requests_total"] == 1


# -- an administrator's tasks, on a simulator of their own -----------------------------------------


@pytest.fixture
def admin(client, user, settings, fresh_simulator):
    cache.clear()
    use_simulator(settings, fresh_simulator)
    make_connection(
        user,
        label="Fresh admin",
        key=fresh_simulator.keys.admin,
        host=fresh_simulator.base_url,
        key_id=key_id_of(fresh_simulator, fresh_simulator.keys.admin),
    )
    client.force_login(user)
    return client


def once_of(html):
    return re.search(r'name="once" value="([^"]+)"', html).group(1)


def test_invite_a_bad_then_a_good_email_and_find_the_user_invited(admin, fresh_simulator):
    response = admin.post("/team/users/invite/", {"email": "not-an-email", "valid_for_days": "30"})
    html = response.content.decode()
    assert "is not a valid email address" in html
    assert 'value="not-an-email"' in html
    response = admin.post(
        "/team/users/invite/",
        {"email": "newcomer@example.com", "valid_for_days": "30"},
        follow=True,
    )
    html = response.content.decode()
    assert "Invitation sent to newcomer@example.com" in html
    assert "newcomer@example.com" in html
    assert 'badge b-invited">invited' in html
    assert "<strong>1</strong> user" in html


def test_an_api_key_created_here_works_and_stops_working_when_deactivated(admin, fresh_simulator):
    sim = fresh_simulator
    once = once_of(admin.get("/team/api-keys/new/").content.decode())
    html = admin.post(
        "/team/api-keys/new/", {"once": once, "name": "Robot"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    secret = re.search(r'<code id="new-secret" class="secret">([^<]+)</code>', html).group(1)
    assert admin.get("/team/api-keys/new/").content.decode().count(secret) == 0
    client = make_client(sim.base_url, secret)
    assert client.get("/v3/accounts/me")["id"] == sim.store.account["id"]
    key_id = sim.store.secrets[secret][1]
    response = admin.post(f"/team/api-keys/{key_id}/status/", {"status": "INACTIVE"})
    assert response.status_code == 302
    with pytest.raises(api.AuthenticationFailed):
        client.get("/v3/accounts/me")
    response = admin.post(f"/team/api-keys/{key_id}/status/", {"status": "ACTIVE"})
    assert client.get("/v3/accounts/me")["id"] == sim.store.account["id"]


def test_rotate_an_access_key_end_to_end(admin, fresh_simulator):
    sim = fresh_simulator
    app = first(sim.store.applications, lambda a: a["status"] == "ACTIVE")
    old = first(
        sim.store.access_keys,
        lambda k: k["application_id"] == app["id"] and k["status"] == "ACTIVE",
    )
    page = f"/team/applications/{app['id']}/rotate/"
    once = once_of(admin.get(page).content.decode())
    html = admin.post(
        page, {"once": once, "old_key": old["id"], "name": "Rotated"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'data-check="ok"' in html
    response = admin.post(
        f"/team/applications/{app['id']}/access-keys/{old['id']}/status/",
        {"status": "INACTIVE", "next": f"/team/applications/{app['id']}/"},
    )
    assert response.status_code == 302
    assert sim.store.access_keys.get(old["id"])["status"] == "INACTIVE"
    names = {k["name"]: k["status"] for k in sim.store.access_keys.objs.values()}
    assert names["Rotated"] == "ACTIVE"


def test_create_a_group_and_manage_its_members(admin, fresh_simulator):
    sim = fresh_simulator
    response = admin.post("/team/groups/new/", {"name": "Night shift"})
    group_id = response["Location"].rstrip("/").rsplit("/", 1)[1]
    assert sim.store.policy_groups.get(group_id)["name"] == "Night shift"
    response = admin.post("/team/groups/new/", {"name": "Night shift"})
    assert "Already in use." in response.content.decode()
    user = first(sim.store.users)
    key = first(sim.store.api_keys)
    admin.post(f"/team/groups/{group_id}/users/add/", {"members": [user["id"]]})
    admin.post(f"/team/groups/{group_id}/api-keys/add/", {"members": [key["id"]]})
    group = sim.store.policy_groups.get(group_id)
    assert (group["user_count"], group["apikey_count"]) == (1, 1)
    panel = admin.get(f"/team/groups/{group_id}/users/", HTTP_HX_REQUEST="true").content.decode()
    assert user["email"] in panel
    admin.post(f"/team/groups/{group_id}/users/{user['id']}/remove/")
    assert sim.store.policy_groups.get(group_id)["user_count"] == 0
    # Deleting the Administrators group is refused, and said so.
    response = admin.post(f"/team/groups/{sim.store.admin_group_id}/delete/")
    assert response.status_code == 403
    assert "cannot be removed" in response.content.decode()


def test_inviting_someone_already_invited_is_said_to_be_a_duplicate(admin, fresh_simulator):
    """Issue 15: a second invitation of one person was sent without a word."""
    store = fresh_simulator.store
    pending = next(u for u in store.users.objs.values() if u["status"] == "INVITED")
    before = len(store.invitations.objs)
    response = admin.post(
        "/team/users/invite/", {"email": pending["email"], "valid_for_days": "30"}
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "has been invited already and has not accepted yet: nothing was sent" in html
    assert "Go to the invitations" in html
    assert len(store.invitations.objs) == before


def test_an_expired_invitation_says_so_and_is_resent_through_the_write_path(admin, fresh_simulator):
    store = fresh_simulator.store
    expired = min(store.invitations.objs.values(), key=lambda i: i["expiration"])
    html = admin.get("/team/invitations/").content.decode()
    assert html.count("data-expired") >= 1
    assert f"/team/invitations/{expired['id']}/resend/" in html
    page = admin.get(f"/team/invitations/{expired['id']}/resend/").content.decode()
    assert f"Send the invitation to {expired['email']} again?" in page
    assert "The link in the earlier invitation email stops working." in page
    # what it names stops working: not titled "What works again" because the button is blue
    assert "What stops working" in page
    assert "What works again" not in page
    response = admin.post(f"/team/invitations/{expired['id']}/resend/", follow=True)
    assert f"Invitation sent to {expired['email']} again" in response.content.decode()
    assert expired["id"] not in store.invitations.objs  # the old one revoked
    again = [i for i in store.invitations.objs.values() if i["email"] == expired["email"]]
    assert len(again) == 1
    assert again[0]["groups"] == expired["groups"]
    entry = ActivityEntry.objects.get(action="invitation.resend")
    assert entry.result == "ok"
    assert entry.target == expired["email"]


def test_a_refused_resend_leaves_the_old_invitation(admin, fresh_simulator):
    store = fresh_simulator.store
    invitation = next(iter(store.invitations.objs.values()))
    fresh_simulator.faults.add("500", path_prefix="/v3/user-invitations", method="POST")
    response = admin.post(f"/team/invitations/{invitation['id']}/resend/")
    assert response.status_code == 502
    assert invitation["id"] in store.invitations.objs


def test_adding_users_to_a_group_lists_them_sorted_with_a_search_box(admin, fresh_simulator):
    store = fresh_simulator.store
    group = next(g for g in store.policy_groups.objs.values() if g["name"] != "Administrators")
    html = admin.get(f"/team/groups/{group['id']}/users/add/").content.decode()
    assert 'data-filter-checklist="id_members"' in html
    labels = re.findall(
        r'<input type="checkbox" name="members" value="[0-9a-f]{32}"[^>]*>\s*([^<]+)</label>', html
    )
    assert len(labels) > 3
    assert labels == sorted(labels, key=str.casefold)


def test_a_group_page_says_what_the_group_allows(admin, fresh_simulator):
    store = fresh_simulator.store
    html = admin.get(f"/team/groups/{store.admin_group_id}/").content.decode()
    assert "including the operations the API reserves for administrators" in html
    other = next(
        g
        for g in store.policy_groups.objs.values()
        if g["name"] not in ("Administrators", "Developers")
    )
    html = admin.get(f"/team/groups/{other['id']}/").content.decode()
    assert "The API does not describe what this group allows" in html


@pytest.fixture
def developer(client, user, settings, fresh_simulator):
    use_simulator(settings, fresh_simulator)
    make_connection(
        user,
        label="Dev key",
        key=fresh_simulator.keys.developer,
        host=fresh_simulator.base_url,
        key_role="developer",
    )
    client.force_login(user)
    return client


def test_a_developer_key_is_told_first_and_offered_no_action_that_fails(developer, fresh_simulator):
    """Issue 15: the users page drew its filter form over a 403 box, and the group page offered
    Rename, Delete and Add to a key the API refuses them."""
    response = developer.get("/team/users/")
    html = response.content.decode()
    assert response.status_code == 403
    assert "This API key is not allowed to manage users" in html
    assert 'class="filters"' not in html  # no filter form over the refusal
    assert "Invite a user" not in html
    group = fresh_simulator.store.admin_group_id
    html = developer.get(f"/team/groups/{group}/").content.decode()
    assert "the API lets only administrators do this" in html
    for action in ("/rename/", "/delete/", "/users/add/"):
        assert f"/team/groups/{group}{action}" not in html
    html = developer.get("/team/api-keys/").content.decode()
    assert "Create an API key" not in html
    # its own key it may still change (the API lets the owner): the note says so
    assert "other than on its own key" in html


def test_a_developer_key_is_not_shown_a_form_it_cannot_send(developer, fresh_simulator):
    """Rev 15: the invite, create and add pages said "dmportal does not offer those actions"
    above a form whose button the API then refused."""
    store = fresh_simulator.store
    group = next(g for g in store.policy_groups.objs.values() if g["id"] != store.admin_group_id)
    pages = {
        "/team/users/invite/": ("Send the invitation", "/team/users/"),
        "/team/groups/new/": ("Create the group", "/team/groups/"),
        "/team/api-keys/new/": ("Create the key", "/team/api-keys/"),
        "/team/applications/new/": ("Create the application", "/team/applications/"),
    }
    for url, (button, back) in pages.items():
        html = developer.get(url).content.decode()
        assert "the API lets only administrators do this" in html, url
        assert button not in html, url
        assert '<form method="post"' not in html.split("<main", 1)[1], url
        assert f'href="{back}"' in html, url
    # Adding members: the API refuses the key the candidates, so the page is its 403, no form.
    response = developer.get(f"/team/groups/{group['id']}/users/add/")
    assert response.status_code == 403
    assert '<form method="post"' not in response.content.decode().split("<main", 1)[1]
