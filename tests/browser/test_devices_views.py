"""Fleet views in a real Chromium: save a view and open it from the menu in a new page, choose
columns (with the keyboard) and reload, remove one filter with its chip, the first row on the
first screen at 1280 x 800, and the menus inside a phone's width. Screenshots: var/screenshots/."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dmportal.dmapi import ApiClient, resources
from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "i16"
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def new_page(browser, live_server, size="desktop", scheme="light"):
    context = browser.new_context(
        base_url=live_server.url, viewport=SIZES[size], color_scheme=scheme
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def header_labels(page):
    return [t.strip() for t in page.locator("#devices-table thead th").all_inner_texts()]


def test_save_a_view_and_open_it_from_the_menu_in_a_new_page(signed_in_page, live_sim):
    page = signed_in_page
    page.goto("/devices/?state__nin=deregistered&custom_attributes__site__eq=7")
    expected = page.locator("p.count").get_attribute("data-total")
    page.click("#views-menu summary")
    page.fill("#new-view-name", "Site 7, in service (browser test)")
    page.click(".save-view button[type=submit]")
    page.wait_for_selector(".view-marker")
    assert "Site 7, in service (browser test)" in page.locator(".view-marker").inner_text()
    try:
        other = page.context.new_page()
        other.goto("/devices/")
        other.click("#views-menu summary")
        link = other.locator(".views a.view-name", has_text="Site 7, in service (browser test)")
        link.click()
        other.wait_for_url(re.compile(r"custom_attributes__site__eq=7"))
        assert other.url.endswith("/devices/?state__neq=deregistered&custom_attributes__site__eq=7")
        assert other.locator("p.count").get_attribute("data-total") == expected
        expect(other.locator(".filter-chip.kept")).to_contain_text("kept as written")
        assert other.locator(".view-marker strong").inner_text() == (
            "Site 7, in service (browser test)"
        )
        other.close()
    finally:
        client = ApiClient(
            live_sim.base_url, live_sim.keys.admin, ca_bundle=str(live_sim.ca_cert_path)
        )
        found = resources.device_query_page(
            client, filters={"name__eq": "Site 7, in service (browser test)"}
        )
        for view in found.items:
            resources.device_query_delete(client, view["id"])


def test_choose_columns_with_the_keyboard_and_reload(signed_in_page):
    page = signed_in_page
    page.goto("/devices/")
    assert header_labels(page)[:2] == ["Name", "Device ID"]
    page.click("#columns-menu summary")
    chooser = page.locator(".column-chooser")
    chooser.wait_for()
    chooser.locator("input[name=show][value='serial_number']").focus()
    page.keyboard.press("Space")  # hide it
    chooser.locator("input[name=show][value='endpoint_type']").focus()
    page.keyboard.press("Space")  # show it
    up = chooser.locator("button[value='endpoint_type:up']")
    for _ in range(20):  # to the top, one keypress at a time
        up.focus()
        page.keyboard.press("Enter")
    expect(chooser.locator("li").first).to_have_attribute("data-key", "endpoint_type")
    assert "position 1" in chooser.locator("[data-column-status]").inner_text()
    chooser.locator("button.primary").click()
    page.wait_for_url(re.compile(r"/devices/"))
    page.reload()
    labels = header_labels(page)
    assert labels[0] == "Endpoint type"
    assert "Serial number" not in labels
    cells = page.locator("#devices-table tbody tr:not(.pager)").first.locator("td").count()
    assert cells == len(labels)
    page.locator("#devices-pager a").click()
    expect(page.locator("#devices-table tbody tr:not(.pager)")).to_have_count(100)
    last = page.locator("#devices-table tbody tr:not(.pager)").last.locator("td").count()
    assert last == len(labels)  # a "load more" row has the head's cells


def test_a_chip_removes_one_filter(signed_in_page):
    page = signed_in_page
    page.goto("/devices/?state__eq=registered&lifecycle_status__neq=blocked")
    chips = page.locator(".filter-chip")
    expect(chips).to_have_count(2)
    page.locator(".filter-chip", has_text="State: registered").locator("a").click()
    page.wait_for_url(re.compile(r"/devices/\?lifecycle_status__neq=blocked$"))
    expect(chips).to_have_count(1)
    expect(chips.first).to_contain_text("Lifecycle is not: blocked")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_first_row_is_on_the_first_screen_at_1280_by_800(
    browser, live_server, portal_user, scheme
):
    page = new_page(browser, live_server, "desktop", scheme)
    sign_in(page)
    page.goto("/devices/")
    first = page.locator("#devices-table tbody tr").first
    box = first.bounding_box()
    shot(page, f"devices-1280-{scheme}")
    assert page.evaluate("window.scrollY") == 0
    assert box is not None
    assert box["y"] + box["height"] <= 800, box  # the whole first row, without scrolling
    page.goto("/devices/?state__nin=deregistered&custom_attributes__site__eq=7")
    shot(page, f"devices-1280-{scheme}-chips")
    page.click("#views-menu summary")
    page.wait_for_selector(".views-panel")
    shot(page, f"devices-1280-{scheme}-views")
    page.click("#views-menu summary")
    page.click("#columns-menu summary")
    page.wait_for_selector(".column-chooser")
    shot(page, f"devices-1280-{scheme}-columns")
    page.context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_menus_fit_a_phone(browser, live_server, portal_user, scheme):
    page = new_page(browser, live_server, "phone", scheme)
    sign_in(page)
    page.goto("/devices/?state__nin=deregistered")
    shot(page, f"devices-390-{scheme}")
    for menu, content in (("#views-menu", ".views-panel"), ("#columns-menu", ".column-chooser")):
        page.click(f"{menu} summary")
        page.wait_for_selector(content)
        box = page.locator(f"{menu} .menu-panel").bounding_box()
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 390, box
        shot(page, f"devices-390-{scheme}-{menu[1:]}")
        page.click(f"{menu} summary")
    page.click("details.list-filters > summary")  # on a phone the filters fold behind one line
    shot(page, f"devices-390-{scheme}-filters")
    page.locator("details.multi summary").first.click()
    shot(page, f"devices-390-{scheme}-state")
    assert page.evaluate("window.innerWidth") == 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.context.close()
