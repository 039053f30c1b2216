"""Saved views = the API's device queries, against the simulator: the Views menu, open (the
same URL and total as by hand, one list call), save, rename, update, delete, queries from
elsewhere with filters no field edits, limits refused before any call, the developer key's
read-only menu, the default view, and the API's errors with their request ids."""

import contextlib
import re
import time
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from dmportal.accounts.models import ActivityEntry, Connection
from dmportal.accounts.reauth import RECENT_AUTH_SECONDS
from dmportal.accounts.signals import SESSION_AUTH_AT
from dmportal.devices.models import DeviceListSettings, SavedViewSettings
from dmportal.dmapi import ApiClient, resources
from tests.conftest import SENTINEL_KEY

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
LONG_QUERY = "serial_number__in=" + ",".join(f"SN-{i:07d}" for i in range(95))  # 1,062 chars


def admin_client(sim):
    return ApiClient(sim.base_url, sim.keys.admin, ca_bundle=str(sim.ca_cert_path))


def seeded(sim, name):
    """The seeded device query called `name`."""
    page = resources.device_query_page(admin_client(sim), filters={"name__eq": name}, limit=10)
    [view] = page.items
    return view


def calls(response):
    made = getattr(response.wsgi_request, "api_calls", [])  # none made: no client was built
    return [f"{c.method} {urlsplit(c.path).path}" for c in made]


def use_developer_key(client, user):
    developer = Connection.objects.get(user=user, label="Sim developer")
    client.post("/connections/switch/", {"connection": developer.pk})


def open_view(client, view_id):
    response = client.get(f"/devices/views/{view_id}/")
    assert response.status_code == 302, response.content[:400]
    return response


@pytest.fixture
def made(sim):
    """Views this test creates in the shared simulator, deleted afterwards."""
    ids = []
    yield ids
    client = admin_client(sim)
    for view_id in ids:
        with contextlib.suppress(Exception):  # already deleted by the test
            resources.device_query_delete(client, view_id)


def created_id(sim, name):
    page = resources.device_query_page(admin_client(sim), filters={"name__eq": name}, limit=10)
    return page.items[0]["id"] if page.items else None


# -- the menu ---------------------------------------------------------------------------------


def test_the_menu_lists_the_account_s_views_in_words_with_one_call(sim_client, sim):
    response = sim_client.get("/devices/views/menu/?current=state__eq%3Dregistered", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert calls(response) == ["GET /v3/device-queries/"]
    assert "Registered in site 7" in html
    assert "State: registered · custom_attributes__site__eq = 7 — kept as written" in html
    assert "State is not:" in html  # "Not in service yet" (__nin)
    assert "Lifecycle: “suspended” is not one of the known values." in html  # "Blocked (typo)"
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html
    assert 'name="query" value="state__eq=registered"' in html  # save the current filters
    assert SENTINEL_KEY not in html
    assert sim.keys.admin not in html


def test_the_menu_refuses_a_parameter_it_does_not_read(sim_client):
    response = sim_client.get("/devices/views/menu/?colour=red", **HTMX)
    assert response.status_code == 400
    assert "colour" in response.content.decode()


def test_the_device_list_itself_makes_one_call_and_loads_the_menus_when_opened(sim_client):
    response = sim_client.get("/devices/?state__eq=registered")
    assert calls(response) == ["GET /v3/devices/"]
    html = response.content.decode()
    assert 'hx-get="/devices/views/menu/?current=state__eq%3Dregistered"' in html
    assert 'hx-trigger="toggle once from:closest details"' in html


# -- open -------------------------------------------------------------------------------------


def test_opening_a_view_gives_the_by_hand_url_the_same_total_and_one_list_call(sim_client, sim):
    view = seeded(sim, "Registered in site 7")
    response = open_view(sim_client, view["id"])
    by_hand = "/devices/?state__eq=registered&custom_attributes__site__eq=7"
    assert response["Location"] == by_hand
    assert calls(response) == [f"GET /v3/device-queries/{view['id']}/"]
    opened = sim_client.get(response["Location"])
    assert calls(opened) == ["GET /v3/devices/"]
    sent = parse_qs(urlsplit(opened.wsgi_request.api_calls[0].path).query)
    assert sent["state__eq"] == ["registered"]
    assert sent["filter"] == ["custom_attributes__site__eq=7"]  # kept, and run
    html = opened.content.decode()
    assert 'class="view-marker"' in html
    assert "Registered in site 7" in html
    assert "custom_attributes__site__eq = 7 — kept as written" in html
    total = re.search(r'data-total="(\d+)"', html).group(1)
    again = sim_client.get(by_hand)
    assert re.search(r'data-total="(\d+)"', again.content.decode()).group(1) == total
    assert int(total) >= 1


@pytest.mark.parametrize(
    ("name", "location"),
    [
        (
            "Bootstrapped production (Portal syntax)",
            "state__eq=bootstrapped&deployed_state__eq=production",
        ),
        ("Not in service yet", None),
        ("Customer order 4711", "serial_number__in="),
    ],
)
def test_a_view_from_elsewhere_opens_as_the_list_s_canonical_url(sim_client, sim, name, location):
    view = seeded(sim, name)
    target = open_view(sim_client, view["id"])["Location"]
    if location:
        assert location in unquote(target)
    page = sim_client.get(target)
    assert page.status_code == 200  # already canonical: no second redirect
    assert calls(page) == ["GET /v3/devices/"]


def test_a_view_dmportal_cannot_run_says_which_filter_and_calls_nothing(sim_client, sim):
    view = seeded(sim, "Name contains gateway")
    target = open_view(sim_client, view["id"])["Location"]
    assert target == "/devices/?name__like=gateway"
    page = sim_client.get(target)
    assert page.status_code == 400
    assert "“name__like”: this list filters name only with" in page.content.decode()
    assert calls(page) == []


def test_a_view_deleted_elsewhere_opens_all_devices_and_forgets_it(sim_client, sim, sim_user):
    missing = "0" * 31 + "1"
    connection = Connection.objects.get(user=sim_user, label="Sim admin")
    DeviceListSettings.objects.create(user=sim_user, default_views={str(connection.pk): missing})
    SavedViewSettings.objects.create(
        user=sim_user, connection=connection, query_id=missing, columns=["name"]
    )
    response = sim_client.get("/devices/")
    assert response["Location"] == f"/devices/views/{missing}/"
    response = sim_client.get(response["Location"])
    assert response["Location"] == "/devices/?all=1"
    assert not SavedViewSettings.objects.filter(query_id=missing).exists()
    assert DeviceListSettings.objects.get(user=sim_user).default_views == {}
    assert "no longer exists" in sim_client.get("/devices/?all=1", follow=True).content.decode()


# -- save, rename, update, delete -------------------------------------------------------------


def test_save_the_current_filters_then_rename_update_and_delete(sim_client, sim, made):
    query = "state__neq=deregistered&custom_attributes__site__eq=7"
    response = sim_client.post("/devices/views/new/", {"name": "Site 7 in use", "query": query})
    assert response.status_code == 302
    assert response["Location"] == f"/devices/?{query}"
    view_id = created_id(sim, "Site 7 in use")
    made.append(view_id)
    assert resources.device_query_get(admin_client(sim), view_id)["query"] == query
    assert calls(response) == ["POST /v3/device-queries/"]
    listed = sim_client.get(response["Location"]).content.decode()
    assert "Site 7 in use" in listed
    assert 'class="view-marker"' in listed

    # Rename (the edit page shows the saved filters), then put other filters into it.
    page = sim_client.get(f"/devices/views/{view_id}/edit/")
    assert "State is not: deregistered" in page.content.decode()
    renamed = sim_client.post(
        f"/devices/views/{view_id}/edit/", {"name": "Site 7, not gone", "query": query}
    )
    assert renamed.status_code == 302
    assert calls(renamed) == [f"PUT /v3/device-queries/{view_id}/"]
    changed = sim_client.get("/devices/?state__eq=registered&custom_attributes__site__eq=7")
    assert "Changed from the view" in changed.content.decode()
    updated = sim_client.post(
        f"/devices/views/{view_id}/edit/",
        {"name": "Site 7, not gone", "query": "state__eq=registered&custom_attributes__site__eq=7"},
    )
    assert updated.status_code == 302
    stored = resources.device_query_get(admin_client(sim), view_id)
    assert stored["name"] == "Site 7, not gone"
    assert stored["query"] == "state__eq=registered&custom_attributes__site__eq=7"

    # Delete, through the one confirmation page.
    confirm = sim_client.get(f"/devices/views/{view_id}/delete/")
    assert confirm.status_code == 200
    assert "Delete the view “Site 7, not gone”?" in confirm.content.decode()
    deleted = sim_client.post(f"/devices/views/{view_id}/delete/")
    assert deleted.status_code == 302
    assert created_id(sim, "Site 7, not gone") is None
    actions = list(
        ActivityEntry.objects.filter(action__startswith="device_query.").values_list(
            "action", "result"
        )
    )
    assert sorted(actions) == [
        ("device_query.create", "ok"),
        ("device_query.delete", "ok"),
        ("device_query.update", "ok"),
        ("device_query.update", "ok"),
    ]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "x" * 201, "query": "state__eq=registered"}, "name", "at most 200 characters"),
        ({"name": " ", "query": "state__eq=registered"}, "name", "Give the view a name"),
        ({"name": "Many", "query": LONG_QUERY}, "query", "a saved view holds at most 1,000"),
        ({"name": "Nothing", "query": ""}, "query", "There is no filter to save"),
        ({"name": "Typo", "query": "colour=red"}, "query", "“colour” is not a filter"),
        ({"name": "Ctl", "query": "name__eq=a%01b"}, "query", "control character"),
    ],
)
def test_a_view_over_the_api_s_limits_is_refused_before_any_call(sim_client, data, field, message):
    response = sim_client.post("/devices/views/new/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert f'name="{field}"' in html
    assert calls(response) == []


def test_the_api_s_refusal_of_a_write_is_shown_with_its_request_id(sim_client, sim):
    sim.faults.add("500", path_prefix="/v3/device-queries/", method="POST")
    response = sim_client.post(
        "/devices/views/new/", {"name": "Never", "query": "state__eq=registered"}
    )
    assert response.status_code >= 500
    html = response.content.decode()
    upstream = response.wsgi_request.api_calls[0].request_id
    assert upstream
    assert upstream in html
    assert 'value="Never"' in html  # what was typed is kept
    entry = ActivityEntry.objects.get(action="device_query.create")
    assert entry.result == "failed"


def test_a_lost_answer_says_the_outcome_is_unknown(sim_client, sim, made):
    sim.faults.add("reset", on_write=1, applied=True)
    response = sim_client.post(
        "/devices/views/new/", {"name": "Maybe saved", "query": "state__eq=registered"}
    )
    made.append(created_id(sim, "Maybe saved"))
    html = response.content.decode()
    assert "unknown" in html.lower()
    assert 'value="Maybe saved"' in html


def test_writing_a_view_asks_for_the_password_first_and_calls_nothing(sim_client):
    """The central rule (accounts/reauth.py): every POST; the default view and the columns
    are exempt (the person's own settings)."""
    session = sim_client.session
    session[SESSION_AUTH_AT] = time.time() - RECENT_AUTH_SECONDS - 1
    session.save()
    response = sim_client.post(
        "/devices/views/new/", {"name": "Later", "query": "state__eq=registered"}
    )
    assert response.status_code == 403
    assert 'name="reauth-password"' in response.content.decode()
    assert calls(response) == []


# -- the developer key ------------------------------------------------------------------------


def test_the_developer_key_sees_the_menu_read_only_with_the_api_s_reason(sim_client, sim, sim_user):
    use_developer_key(sim_client, sim_user)
    refused = sim_client.post(
        "/devices/views/new/", {"name": "Dev view", "query": "state__eq=registered"}
    )
    assert refused.status_code == 403
    assert "may read device queries but not create" in refused.content.decode()
    menu = sim_client.get("/devices/views/menu/?current=state__eq%3Dregistered", **HTMX)
    html = menu.content.decode()
    assert menu.status_code == 200
    assert "This API key may open saved views but not save, change or delete them" in html
    assert "may read device queries but not create" in html  # the API's own words
    assert "/devices/views/new/" not in html
    assert "/edit/" not in html
    assert "/delete/" not in html
    assert "Registered in site 7" in html  # reading still works
    view = seeded(sim, "Registered in site 7")
    assert open_view(sim_client, view["id"])["Location"].startswith("/devices/?")


# -- the default view -------------------------------------------------------------------------


def test_a_default_view_opens_at_devices_with_a_marker_and_a_way_to_all_devices(
    sim_client, sim, sim_user
):
    view = seeded(sim, "Registered devices")
    response = sim_client.post(f"/devices/views/{view['id']}/default/", {"default": "1"})
    assert response.status_code == 302
    first = sim_client.get("/devices/")
    assert first["Location"] == f"/devices/views/{view['id']}/"
    assert calls(first) == []
    target = sim_client.get(first["Location"])["Location"]
    assert target == "/devices/?state__eq=registered"
    html = sim_client.get(target).content.decode()
    assert "Default view" in html
    assert 'href="/devices/?all=1">All devices</a>' in html
    # The chip that removes the last filter goes to all devices, not back to the default.
    assert 'href="/devices/?all=1"' in html
    everything = sim_client.get("/devices/?all=1")
    assert everything.status_code == 200
    assert calls(everything) == ["GET /v3/devices/"]
    # Per user and connection: the developer connection has no default.
    use_developer_key(sim_client, sim_user)
    assert sim_client.get("/devices/").status_code == 200
    # Unset.
    admin = Connection.objects.get(user=sim_user, label="Sim admin")
    sim_client.post("/connections/switch/", {"connection": admin.pk})
    sim_client.post(f"/devices/views/{view['id']}/default/", {"default": "0"})
    assert sim_client.get("/devices/").status_code == 200
