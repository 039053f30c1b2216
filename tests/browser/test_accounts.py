"""Sign-in and connections in a real Chromium, as a person would do it."""

import re
import time
from importlib import import_module

import pytest
from django.conf import settings
from playwright.sync_api import expect

from dmportal.accounts.reauth import RECENT_AUTH_SECONDS
from dmportal.accounts.signals import SESSION_AUTH_AT
from tests.browser.conftest import sign_in, switch_connection
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_add_a_connection_switch_and_sign_out(page, django_user_model, live_sim):
    django_user_model.objects.create_user("newcomer", password=PASSWORD)
    sign_in(page, "newcomer")
    # No connection yet: dmportal asks for one.
    expect(page).to_have_url(re.compile(r"/connections/add/"))
    page.fill("#id_label", "Acme (admin)")
    page.fill("#id_api_key", live_sim.keys.admin)
    page.click("text=Check and save")
    expect(page).to_have_url(re.compile(r"/connections/$"))
    row = page.locator("tr", has_text="Acme (admin)")
    expect(row).to_contain_text("ak_…" + live_sim.keys.admin[-4:])
    assert live_sim.keys.admin not in page.content()

    page.click("text=Add a connection")
    page.fill("#id_label", "Acme (developer)")
    page.fill("#id_api_key", "ak_" + "N" * 40)  # well-formed, unknown to the API
    page.click("text=Check and save")
    expect(page.locator(".field-error")).to_contain_text("The API rejected this key (HTTP 401")
    expect(page.locator("#id_label")).to_have_value("Acme (developer)")  # nothing lost...
    expect(page.locator("#id_api_key")).to_have_value("")  # ...but the key is never shown back
    page.fill("#id_api_key", live_sim.keys.developer)
    page.click("text=Check and save")
    expect(page.locator("tr", has_text="Acme (developer)")).to_contain_text(
        "ak_…" + live_sim.keys.developer[-4:]
    )

    # Switch from the header; the device list now uses the developer key.
    page.goto("/devices/")
    switch_connection(page, "Acme (developer)")
    expect(page.locator(".message")).to_contain_text("You are now on “Acme (developer)”")
    expect(page.locator("#account-bar .conn-role")).to_have_text("developer key")
    expect(page.locator("#devices-table tbody tr").first).to_be_visible()

    page.click("summary:has-text('newcomer')")
    page.click("text=Sign out")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.goto("/devices/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/devices/"))


def test_an_htmx_request_after_the_session_ended_goes_to_the_login_page(
    signed_in_page, live_server
):
    page = signed_in_page
    page.goto("/devices/?limit=5")
    page.context.clear_cookies()  # the session ends (expiry, sign-out elsewhere)
    page.locator("#devices-pager a").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/devices/"))
    expect(page.locator("#id_username")).to_be_visible()
    assert page.locator("#devices-table").count() == 0  # no login form inside a table


def password_long_ago(page):
    """The password was last entered long ago: edit the browser's server-side session."""
    cookie = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    session = import_module(settings.SESSION_ENGINE).SessionStore(cookie["value"])
    session[SESSION_AUTH_AT] = time.time() - RECENT_AUTH_SECONDS - 1
    session.save()


def test_removing_a_connection_asks_for_the_password_and_comes_back(signed_in_page):
    page = signed_in_page
    password_long_ago(page)
    page.goto("/connections/")
    page.locator("tr", has_text="Sim developer").locator("text=Remove").click()
    expect(page).to_have_url(re.compile(r"/accounts/confirm-password/\?next="))
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Confirm')")
    # Back where the person was going: the removal's own confirmation.
    expect(page).to_have_url(re.compile(r"/connections/\d+/remove/$"))
    page.click("button:has-text('Remove connection')")
    expect(page.locator(".message.success")).to_contain_text("Connection “Sim developer” removed")
    expect(page.locator("tr", has_text="Sim developer")).to_have_count(0)
