"""Team administration in a real Chromium, as a person would do it.

These tests change the simulator's data (a user is invited, keys are created and deactivated),
so they run against a simulator of their own, never the shared one other tests read.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in, switch_connection
from tests.browser.test_accounts import password_long_ago
from tests.conftest import PASSWORD, make_connection, start_simulator, use_simulator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def team_sim(tmp_path_factory):
    sim = start_simulator(tmp_path_factory, devices=20)
    yield sim
    sim.stop()


@pytest.fixture
def lead(page, settings, team_sim, live_server, django_user_model):
    """Signed in as `teamlead`: administrator key active, developer key as a second connection."""
    use_simulator(settings, team_sim)
    team_sim.faults.clear()
    user = django_user_model.objects.create_user("teamlead", password=PASSWORD)
    for label, key in (
        ("Team admin", team_sim.keys.admin),
        ("Team developer", team_sim.keys.developer),
    ):
        make_connection(
            user,
            label=label,
            key=key,
            host=team_sim.base_url,
            key_id=team_sim.store.secrets[key][1],
        )
    sign_in(page, "teamlead")
    yield page
    team_sim.faults.clear()


def test_invite_a_bad_email_then_a_good_one_and_find_the_user_invited(lead):
    page = lead
    page.goto("/team/users/")
    page.click("text=Invite a user")
    page.wait_for_url("**/team/users/invite/")
    page.fill("#id_email", "not an email")
    page.fill("#id_valid_for_days", "14")
    page.click("button:has-text('Send the invitation')")
    error = page.locator(".field.has-error .field-error")
    expect(error).to_contain_text("is not a valid email address")
    assert page.input_value("#id_email") == "not an email"  # nothing typed is lost
    assert page.input_value("#id_valid_for_days") == "14"
    page.fill("#id_email", "newcomer@example.com")
    page.click("button:has-text('Send the invitation')")
    page.wait_for_url(re.compile(r"/team/users/\?email__eq=newcomer%40example.com"))
    expect(page.locator(".message.success")).to_contain_text("Invitation sent to newcomer@")
    row = page.locator("#users-table tbody tr", has_text="newcomer@example.com")
    expect(row).to_have_count(1)
    expect(row.locator(".badge").first).to_have_text("invited")


def test_create_an_api_key_copy_it_reload_go_back_and_deactivate_it(lead, team_sim):
    page = lead
    page.goto("/team/api-keys/")
    page.click("text=Create an API key")
    page.wait_for_url("**/team/api-keys/new/")
    page.fill("#id_name", "Browser robot")
    page.click("button:has-text('Create the key')")
    box = page.locator("[data-secret]")
    expect(box).to_contain_text("you will not see it again")
    secret = page.locator("#new-secret").inner_text()
    assert secret.startswith("ak_")
    assert team_sim.store.secrets[secret][0] == "api-key"
    assert page.url.endswith("/team/api-keys/new/")  # the form's own address, no POST result
    page.click("button.copy[data-copy-from=new-secret]")
    expect(page.locator("button.copy.copied")).to_have_count(1)
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.reload()
    expect(page.locator("#id_name")).to_have_value("")
    assert secret not in page.content()
    page.go_back()
    page.wait_for_url(re.compile(r"/team/api-keys/$"))
    assert secret not in page.content()
    page.go_forward()
    page.wait_for_url("**/team/api-keys/new/")
    assert secret not in page.content()
    # Deactivate it from the table.
    page.goto("/team/api-keys/")
    row = page.locator("#api-keys-table tbody tr", has_text="Browser robot")
    row.locator("a:has-text('Deactivate…')").click()
    expect(page.locator("[data-consequences]")).to_contain_text("This key has never been used")
    page.click("button:has-text('Deactivate the key')")
    expect(page.locator(".message.success")).to_contain_text("“Browser robot” deactivated")
    row = page.locator("#api-keys-table tbody tr", has_text="Browser robot")
    expect(row.locator(".badge").first).to_have_text("inactive")
    key_id = team_sim.store.secrets[secret][1]
    assert team_sim.store.api_keys.get(key_id)["status"] == "INACTIVE"


def test_a_late_create_asks_for_the_password_in_place_and_creates_the_key_as_typed(lead, team_sim):
    page = lead
    page.goto("/team/api-keys/new/")
    page.fill("#id_name", "Late robot")
    password_long_ago(page)  # the form stayed open too long
    page.click("button:has-text('Create the key')")
    main = page.locator("#main")
    expect(main.locator("h1")).to_have_text("Confirm your password")
    assert not any(k.get("name") == "Late robot" for k in team_sim.store.api_keys.objs.values())
    page.fill("#id_reauth-password", PASSWORD)
    page.click("button:has-text('Confirm')")
    expect(page.locator("[data-secret]")).to_contain_text("you will not see it again")
    secret = page.locator("#new-secret").inner_text()
    key_id = team_sim.store.secrets[secret][1]
    assert team_sim.store.api_keys.get(key_id)["name"] == "Late robot"


def test_the_create_form_keeps_what_was_typed_when_the_api_says_403_or_400(lead, team_sim):
    page = lead
    page.goto("/team/api-keys/new/")
    page.fill("#id_name", "Refused robot")
    team_sim.faults.add(fault="403", path_prefix="/v3/api-keys", method="POST", count=1)
    page.click("button:has-text('Create the key')")
    expect(page.locator(".error-box")).to_contain_text("This API key is not allowed to do this")
    assert page.input_value("#id_name") == "Refused robot"
    # A group deleted after the form was shown: said on the field, the rest kept.
    gone = next(g for g in team_sim.store.policy_groups.objs.values() if g["name"] == "Auditors")
    team_sim.store.policy_groups.remove(gone["id"])
    page.check("text=Auditors")
    page.check("text=Operators")
    page.click("button:has-text('Create the key')")
    expect(page.locator(".field.has-error .field-error")).to_contain_text("no longer exists")
    assert page.input_value("#id_name") == "Refused robot"
    assert page.is_checked("text=Operators")
    expect(page.locator("text=Auditors")).to_have_count(0)
    assert not any(k["name"] == "Refused robot" for k in team_sim.store.api_keys.objs.values())


def test_with_the_developer_key_the_users_page_says_access_is_denied(lead):
    page = lead
    page.goto("/team/")
    switch_connection(page, "Team developer")
    response = page.goto("/team/users/")
    assert response.status == 403
    expect(page.locator(".error-box")).to_contain_text(
        "This API key is not allowed to manage users"
    )
    expect(page.locator("text=Invite a user")).to_have_count(0)
    expect(page.locator(".subnav")).to_contain_text("not allowed")


def test_rotate_an_access_key_and_deactivate_the_old_one(lead, team_sim):
    page = lead
    app = next(a for a in team_sim.store.applications.objs.values() if a["status"] == "ACTIVE")
    page.goto(f"/team/applications/{app['id']}/")
    page.click("text=Rotate a key…")
    old_name = page.locator("#id_old_key option:checked").inner_text()
    page.fill("#id_name", "Rotated in the browser")
    page.click("button:has-text('Create the new key and check it')")
    expect(page.locator("[data-check]")).to_have_attribute("data-check", "ok")
    expect(page.locator("ol.steps li[aria-current=step]")).to_contain_text("checks it")
    page.click(f"button:has-text('Deactivate the old key “{old_name}”')")
    expect(page.locator(".message.success")).to_contain_text(f"“{old_name}” deactivated")
    row = page.locator("#access-keys-table tbody tr", has_text=old_name)
    expect(row.locator(".badge").first).to_have_text("inactive")
    expect(row.locator("a:has-text('Reactivate…')")).to_have_count(1)
