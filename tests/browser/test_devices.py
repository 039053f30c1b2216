"""Device browsing in a real Chromium, as a person would do it."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in, tick
from tests.conftest import PASSWORD, make_connection, start_simulator, use_simulator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def rows(page):
    return page.locator("#devices-table tbody tr:not(.pager)")


def ticked(page, name):
    return page.locator(f"input[name='{name}']:checked").evaluate_all(
        "boxes => boxes.map(b => b.value)"
    )


def total(page):
    return int(page.locator("p.count").get_attribute("data-total"))


def test_sign_in_filter_by_state_and_load_more_to_the_end(page, portal_user):
    sign_in(page)
    assert page.url.endswith("/devices/")
    tick(page, "state__in", ["registered"])
    page.click("details.more-filters summary")  # the page size is with the other filters
    page.fill("#id_limit", "40")
    page.click("text=Apply")
    page.wait_for_url(re.compile(r"state__eq=registered"))
    assert "limit=40" in page.url
    assert "after=" not in page.url
    expected = total(page)
    assert 40 < expected < 300
    for state in page.locator("#devices-table tbody td:nth-child(3)").all_inner_texts():
        assert state == "registered"
    while page.locator("#devices-pager a").count():
        before = rows(page).count()
        page.locator("#devices-pager a").click()
        expect(rows(page)).not_to_have_count(before)
    ids = page.locator("#devices-table tbody td.id").all_inner_texts()
    assert len(ids) == expected
    assert len(set(ids)) == expected  # no row repeated across pages
    assert "after=" not in page.url  # the cursor is never pushed to the address bar


def test_load_more_cannot_be_double_fired(page, settings, tmp_path_factory, django_user_model):
    slow = start_simulator(tmp_path_factory, devices=60, latency_ms=400)
    try:
        use_simulator(settings, slow)
        user = django_user_model.objects.create_user("slowpoke", password=PASSWORD)
        make_connection(user, label="Slow", key=slow.keys.admin, host=slow.base_url)
        sign_in(page, "slowpoke")
        page.goto("/devices/?limit=10")
        slow.reset_stats()
        link = page.locator("#devices-pager a")
        link.click()
        link.click(force=True)
        link.click(force=True)
        expect(rows(page)).to_have_count(20)
        page.wait_for_timeout(600)
        ids = page.locator("#devices-table tbody td.id").all_inner_texts()
        assert len(ids) == 20
        assert len(set(ids)) == 20
        assert slow.stats()["requests"]["GET /v3/devices/"] == 1
    finally:
        slow.stop()


def test_a_shared_filtered_url_shows_the_same_rows(signed_in_page, browser, live_server):
    page = signed_in_page
    page.goto("/devices/")
    tick(page, "lifecycle_status__in", ["blocked"])
    page.click("text=Apply")
    page.wait_for_url(re.compile(r"lifecycle_status__eq=blocked"))
    shared_url = page.url
    first = page.locator("#devices-table tbody td.id").all_inner_texts()
    assert first
    other = page.context.new_page()  # same person, new tab: paste the link
    other.goto(shared_url)
    assert other.locator("#devices-table tbody td.id").all_inner_texts() == first
    assert ticked(other, "lifecycle_status__in") == ["blocked"]
    other.close()


def test_back_after_filtering_shows_a_full_page(signed_in_page):
    page = signed_in_page
    page.goto("/devices/")
    tick(page, "state__in", ["deregistered"])
    page.click("text=Apply")
    page.wait_for_url(re.compile(r"state__eq=deregistered"))
    page.go_back()
    page.wait_for_url(re.compile(r"/devices/$"))
    page.wait_for_selector("header.top")  # page chrome, not a bare fragment
    assert page.locator("h1", has_text="Devices").count() == 1
    assert page.locator("#devices-table tbody tr").count() > 0
    page.reload()
    assert page.locator("header.top").count() == 1


def test_open_a_device_and_its_events(signed_in_page):
    page = signed_in_page
    page.goto("/devices/")
    first = page.locator("#devices-table tbody tr").first
    device_id = first.locator("td.id").inner_text()
    first.locator("td a").first.click()
    page.wait_for_url(re.compile(device_id))
    assert page.locator("dl.facts code.id", has_text=device_id).count() >= 1
    events = page.locator("#events-table tbody tr:not(.pager)")
    events.first.wait_for()
    assert events.count() >= 1
    page.wait_for_selector("#device-groups-panel ul, #device-groups-panel p.none, .none")


def test_an_injected_script_in_a_device_name_does_not_run(signed_in_page):
    page = signed_in_page
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto("/devices/?name__eq=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    cell = page.locator("#devices-table tbody td a").first
    assert cell.inner_text() == "<img src=x onerror=alert(1)>"
    cell.click()
    page.wait_for_selector("h1")
    page.wait_for_timeout(300)
    assert dialogs == []
    assert page.locator("img[src=x]").count() == 0


def test_an_upstream_500_shows_the_request_ids(signed_in_page, live_sim):
    page = signed_in_page
    live_sim.faults.add(fault="500", path_prefix="/v3/devices/", count=1)
    response = page.goto("/devices/")
    assert response.status == 502
    box = page.locator(".error-box")
    assert "The Device Management service failed" in box.inner_text()
    ids = box.locator("dd code.id").all_inner_texts()
    upstream, own = ids[0], ids[1]
    assert re.fullmatch(r"[0-9a-f]{32}", upstream)
    assert own == response.headers["x-request-id"]


def test_a_load_more_failure_shows_below_the_table_and_can_be_retried(signed_in_page, live_sim):
    page = signed_in_page
    page.goto("/devices/?limit=10")
    live_sim.faults.add(fault="500", path_prefix="/v3/devices/", count=1)
    page.locator("#devices-pager a").click()
    status = page.locator("#devices-status .error-box")
    status.wait_for()
    assert "request id" in status.inner_text().lower()
    page.locator("#devices-pager a").click()  # the button is still there: retry
    expect(rows(page)).to_have_count(20)


def test_a_device_that_does_not_exist_shows_not_found(signed_in_page):
    page = signed_in_page
    response = page.goto("/devices/" + "0" * 31 + "1/")
    assert response.status == 404
    assert "That device does not exist" in page.locator(".error-box").inner_text()
    response = page.goto("/devices/not-a-device-id/")
    assert response.status == 404
    assert "Page not found" in page.content()
