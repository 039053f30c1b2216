"""The support desk in a real Chromium, as a support agent would use it."""

import re

import pytest
from playwright.sync_api import expect

from dmportal.dmapi import ApiClient, resources
from dmportal.support.models import ApiCall, DeviceNote
from tests.browser.conftest import switch_connection

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sim_device(live_sim):
    client = ApiClient(live_sim.base_url, live_sim.keys.admin, ca_bundle=str(live_sim.ca_cert_path))
    items = resources.device_page(client, limit=50, order="ASC").items
    return next(d for d in items if d.get("groups") and d.get("serial_number"))


def test_slash_focuses_the_search_and_question_mark_shows_the_shortcuts(signed_in_page):
    page = signed_in_page
    page.goto("/devices/")
    search = page.locator("#header-search")
    dialog = page.locator("#shortcuts")
    expect(dialog).not_to_be_visible()
    page.keyboard.press("?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Find a device")
    page.keyboard.press("Escape")
    expect(dialog).not_to_be_visible()
    page.keyboard.press("/")
    expect(search).to_be_focused()
    page.keyboard.type("a?b/c")  # typed into the search, not taken as shortcuts
    expect(search).to_have_value("a?b/c")
    expect(dialog).not_to_be_visible()
    page.keyboard.press("Escape")  # leaves the field; the shortcuts work again
    expect(search).not_to_be_focused()
    page.keyboard.press("Shift+?")
    expect(dialog).to_be_visible()
    page.keyboard.press("/")  # from the open dialog straight to the search
    expect(dialog).not_to_be_visible()
    expect(search).to_be_focused()


def test_type_a_serial_number_into_the_header_search_and_land_on_the_device(
    signed_in_page, sim_device
):
    page = signed_in_page
    page.goto("/devices/")
    page.keyboard.press("/")
    page.keyboard.type(sim_device["serial_number"])
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/support/devices/{sim_device['id']}/")
    expect(page.locator("h1")).to_contain_text(sim_device["name"])
    expect(page.locator("#flash")).to_contain_text("is the serial number of this device")
    expect(page.locator("#dossier-events tbody tr").first).to_be_visible()
    expect(page.locator("#dossier-groups li").first).to_be_visible()


def test_copy_for_ticket_copies_the_summary(signed_in_page, sim_device, live_sim):
    page = signed_in_page
    response = page.goto(f"/support/devices/{sim_device['id']}/")
    page.locator("button.copy-ticket").click()
    expect(page.locator("button.copy-ticket")).to_have_class(re.compile("copied"))
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == page.locator("#ticket-summary").text_content()
    assert f"- Device ID: `{sim_device['id']}`" in copied
    assert f"- Serial number: `{sim_device['serial_number']}`" in copied
    assert f"- Endpoint name: `{sim_device['endpoint_name']}`" in copied
    assert "**Last events (newest first, UTC; 10 at most)**" in copied
    assert re.search(r"- device record: upstream `[0-9a-f]{32}`", copied)
    assert f"- dmportal request: `{response.headers['x-request-id']}`" in copied
    assert live_sim.keys.admin not in copied
    assert "ak_" not in copied


def test_find_a_failed_call_by_the_request_ids_on_its_error_page(signed_in_page, live_sim):
    page = signed_in_page
    live_sim.faults.add(fault="500", path_prefix="/v3/devices/", count=1)
    response = page.goto("/devices/")
    assert response.status == 502
    upstream, own = page.locator(".error-box dd code.id").all_inner_texts()[:2]
    assert own == response.headers["x-request-id"]
    for request_id in (upstream, own):
        page.goto("/devices/")  # somewhere else, with other calls in between
        page.keyboard.press("g")
        page.keyboard.press("c")
        page.wait_for_url("**/support/calls/")
        page.fill("#id_q", request_id)
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"q=" + request_id))
        rows = page.locator("#calls-table tbody tr:not(.pager)")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("500")
        expect(rows.first).to_contain_text("ServerError")
        expect(rows.first).to_contain_text(upstream)
        expect(rows.first).to_contain_text(own)


def test_the_errors_filter_and_load_more(signed_in_page, portal_user):
    page = signed_in_page
    ApiCall.objects.bulk_create(
        ApiCall(
            user=portal_user,
            method="GET",
            path=f"/v3/devices/?n={n}",
            status=200,
            upstream_request_id=f"{n:032x}",
            request_id=f"{n + 1000:032x}",
        )
        for n in range(60)
    )
    total = ApiCall.objects.filter(user=portal_user).count()  # with the sign-in's own calls
    page.goto("/support/calls/")
    rows = page.locator("#calls-table tbody tr:not(.pager)")
    expect(rows).to_have_count(50)
    page.locator("#calls-pager a").click()
    expect(rows).to_have_count(total)
    expect(page.locator("#calls-pager")).to_have_count(0)
    assert "after=" not in page.url
    page.select_option("#id_status", "errors")
    page.click("text=Apply")
    page.wait_for_url(re.compile(r"status=errors"))
    expect(page.locator("[data-empty]")).to_contain_text("No failed API calls")


def test_search_several_serial_numbers_from_the_support_page(signed_in_page, live_sim):
    client = ApiClient(live_sim.base_url, live_sim.keys.admin, ca_bundle=str(live_sim.ca_cert_path))
    first, second = resources.device_page(client, limit=2, order="ASC").items
    page = signed_in_page
    page.goto("/support/")
    box = page.locator("#id_q")
    box.click()
    page.keyboard.type(first["serial_number"])
    page.keyboard.press("Shift+Enter")  # a new line, not a search
    page.keyboard.type(second["serial_number"])
    expect(box).to_have_value(f"{first['serial_number']}\n{second['serial_number']}")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/support/search/\?q="))
    expect(page.locator("#search-results h2").first).to_have_text("2 devices found")
    expect(page.locator("#hits-table")).to_contain_text("serial number =")


def test_add_a_note_in_place(signed_in_page, sim_device):
    page = signed_in_page
    page.goto(f"/support/devices/{sim_device['id']}/")
    page.fill("#id_body", "Customer reports reboots at night.")
    page.click("text=Add note")
    expect(page.locator("#notes .note")).to_have_count(1)
    expect(page.locator("#notes .note")).to_contain_text("Customer reports reboots at night.")
    expect(page.locator("#flash")).to_contain_text("Note added to device")
    expect(page.locator("#id_body")).to_have_value("")
    assert DeviceNote.objects.get().device_id == sim_device["id"]


def test_the_developer_connection_and_a_narrow_window(signed_in_page, sim_device):
    page = signed_in_page
    page.set_viewport_size({"width": 400, "height": 900})
    page.goto("/support/")
    switch_connection(page, "Sim developer")
    page.goto(f"/support/search/?q={sim_device['endpoint_name']}")
    page.wait_for_url(f"**/support/devices/{sim_device['id']}/")
    expect(page.locator(".dossier")).to_contain_text("Sim developer")
    # Nothing of the dossier sticks out sideways (tables scroll inside their own box).
    sticking_out = page.evaluate(
        """() => Array.from(document.querySelectorAll("main *"))
            .filter(e => !e.closest(".table-wrap, pre"))
            .filter(e => e.getBoundingClientRect().right > window.innerWidth)
            .map(e => e.tagName + "." + e.className)"""
    )
    assert sticking_out == []
