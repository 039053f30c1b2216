"""The active account in the header, in words (issue 15): connection, account, host, the key's
role, and the colour its owner chose; switching says where you are now."""

import pytest

from dmportal.accounts.models import Connection
from dmportal.accounts.services import key_verify
from tests.conftest import make_connection

pytestmark = pytest.mark.django_db


def account_bar(html):
    start = html.index('<div class="account-bar')
    return html[start : html.index("</details>", start)]


def test_checking_a_key_learns_its_role_from_its_groups(sim):
    assert key_verify(sim.base_url, sim.keys.admin).key_role == "administrator"
    assert key_verify(sim.base_url, sim.keys.developer).key_role == "developer"


def test_a_failed_group_look_up_leaves_the_role_unknown(sim):
    sim.faults.add("500", path_prefix="/v3/api-keys/me/groups")
    facts = key_verify(sim.base_url, sim.keys.admin)
    assert facts.key_role == ""
    assert facts.account_id  # the key itself was checked


def test_the_header_names_the_account_host_and_role_in_words(client, user, sim):
    make_connection(
        user,
        label="Acme production",
        key=sim.keys.admin,
        host=sim.base_url,
        account_name="Acme Corp",
        key_role="administrator",
        colour="red",
    )
    make_connection(user, label="Acme staging", key=sim.keys.developer, host=sim.base_url)
    client.force_login(user)
    bar = account_bar(client.get("/team/").content.decode())
    assert 'class="account-bar conn-red"' in bar
    assert '<strong class="conn-label">Acme production</strong>' in bar
    assert ">Acme Corp<" in bar
    assert f">{sim.base_url.removeprefix('https://')}<" in bar
    assert ">administrator key<" in bar
    assert "Acme staging" in bar  # the other one, one click away
    assert "key role not checked" in bar  # ... whose role is not known yet


def test_switching_asks_nothing_and_says_where_you_are_now(client, user, sim):
    make_connection(user, label="Prod", key=sim.keys.admin, host=sim.base_url)
    other = make_connection(
        user, label="Dev", key=sim.keys.developer, host=sim.base_url, key_role="developer"
    )
    client.force_login(user)
    response = client.post(
        "/connections/switch/", {"connection": other.pk, "next": "/devices/"}, follow=True
    )
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == "/devices/"
    host = sim.base_url.removeprefix("https://")
    assert f"You are now on “Dev”: Acme Corp, {host}, developer key." in html
    assert '<strong class="conn-label">Dev</strong>' in account_bar(html)


def test_the_role_of_a_key_stored_before_can_be_checked_in_one_call(client, user, sim):
    connection = make_connection(user, label="Old", key=sim.keys.developer, host=sim.base_url)
    client.force_login(user)
    assert "Check the key's role" in client.get("/devices/").content.decode()
    sim.reset_stats()
    response = client.post("/connections/check-role/", {"next": "/connections/"})
    assert response["Location"] == "/connections/"
    assert sim.stats()["requests_total"] == 1
    connection.refresh_from_db()
    assert connection.key_role == "developer"
    assert "developer key" in account_bar(client.get("/connections/").content.decode())


def test_the_colour_is_chosen_on_the_preferences_page(client, user, sim):
    connection = make_connection(user, label="Prod", key=sim.keys.admin, host=sim.base_url)
    client.force_login(user)
    page = client.get("/preferences/").content.decode()
    assert f'name="colour-{connection.pk}"' in page
    response = client.post("/preferences/", {"colours": "1", f"colour-{connection.pk}": "orange"})
    assert response.status_code == 302
    assert Connection.objects.get(pk=connection.pk).colour == "orange"
    refused = client.post("/preferences/", {"colours": "1", f"colour-{connection.pk}": "<b>"})
    assert refused.status_code == 400
    assert Connection.objects.get(pk=connection.pk).colour == "orange"


def test_the_connections_page_shows_each_connection_in_its_colour_with_its_role(client, user, sim):
    """Rev 15: the header showed a connection's colour and role, its own page neither, so the
    colour chosen on Preferences was found nowhere else and a developer key looked like any."""
    make_connection(
        user,
        label="Prod",
        key=sim.keys.admin,
        host=sim.base_url,
        key_role="administrator",
        colour="red",
    )
    make_connection(
        user, label="Dev", key=sim.keys.developer, host=sim.base_url, key_role="developer"
    )
    client.force_login(user)
    page = client.get("/connections/").content.decode()
    assert '<td class="conn-red"><span class="marker" aria-hidden="true"></span> Prod' in page
    assert '<td class="conn-none"><span class="marker" aria-hidden="true"></span> Dev' in page
    assert '<span class="conn-role-words">administrator key</span>' in page
    assert '<span class="conn-role-words">developer key</span>' in page
