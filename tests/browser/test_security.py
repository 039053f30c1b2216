"""Checklist A7 (the CSP sweep), C2, C4 and C7 in a real Chromium.

The `page` fixture (tests/browser/conftest.py) fails a test on any console message about the
Content-Security-Policy or any script error; these tests also record every
`securitypolicyviolation` event the page fires. Route interception stands in for a proxy or a
network that fails between the browser and dmportal.
"""

import contextlib
import re

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.browser.conftest import sign_in, tick
from tests.security.test_platform import HARDENED_HTMX

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile);
});
"""


@pytest.fixture
def watched(page, portal_user):
    """Signed in, with every CSP violation of every page recorded."""
    page.add_init_script(RECORD_VIOLATIONS)
    sign_in(page)
    return page


def violations(page):
    return page.evaluate("window.__cspViolations || []")


def settle(page):
    """Wait until htmx has nothing in flight (panels that load by themselves included). A
    locator, not wait_for_function: the page's CSP rightly forbids evaluating strings."""
    expect(page.locator(".htmx-request")).to_have_count(0)


def visit(page, path):
    response = page.goto(path)
    settle(page)
    assert violations(page) == [], path
    return response


# -- A7: the main flows under the enforced CSP ------------------------------------------------


def test_the_main_flows_raise_no_csp_violation(watched, live_sim):
    page = watched
    visit(page, "/devices/")
    tick(page, "state__in", ["registered"])
    page.click("details.more-filters summary")
    page.fill("#id_limit", "5")
    page.click("text=Apply")  # an htmx swap of the listing, and a pushed URL
    page.wait_for_url(re.compile(r"state__eq=registered"))
    page.locator("#devices-pager a").click()  # load more
    expect(page.locator("#devices-table tbody tr:not(.pager)")).to_have_count(10)
    for menu, content in (("#views-menu", ".views-panel"), ("#columns-menu", ".column-chooser")):
        page.click(f"{menu} summary")  # loaded when opened
        page.wait_for_selector(content)
        page.click(f"{menu} summary")
    settle(page)
    assert violations(page) == []
    page.locator("#devices-table tbody td a").first.click()  # device page, its two panels
    page.wait_for_url(re.compile(r"/devices/[0-9a-f]{32}/$"))
    page.locator("#events-table tbody tr").first.wait_for()
    settle(page)
    assert violations(page) == []
    device_path = re.search(r"/devices/[0-9a-f]{32}/", page.url).group(0)
    for path in (
        device_path + "edit/",
        "/support" + device_path,
        "/support" + device_path + "notes/",
        "/device-groups/",
        "/team/",
        "/team/users/",
        "/team/invitations/",
        "/team/groups/",
        "/team/api-keys/",
        "/team/applications/",
        "/support/",
        "/support/calls/",
        "/connections/",
        "/connections/add/",
        "/preferences/",
        "/activity/",
        "/accounts/password/",
        "/devices/views/",
        "/devices/columns/",
    ):
        assert visit(page, path).status == 200, path
    page.click("summary:has-text('operator')")
    page.locator("#shortcuts").evaluate("d => d.showModal()")  # the dialog, styled from CSS
    live_sim.faults.add(fault="500", path_prefix="/v3/devices/", count=1)
    assert visit(page, "/devices/").status == 502  # an error page
    assert visit(page, "/no/such/page/").status == 404
    page.click("summary:has-text('operator')")
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/accounts/login/"))
    assert violations(page) == []


# -- C2: htmx sends the CSRF token --------------------------------------------------------------


def notes_path(page):
    page.goto("/devices/?limit=2")
    device_id = page.locator("#devices-table tbody td.id").first.inner_text()
    return f"/support/devices/{device_id}/notes/"


def test_an_htmx_post_after_sign_in_carries_the_token(signed_in_page):
    page = signed_in_page
    page.goto(notes_path(page))
    page.fill("#id_body", "Checked the gateway, all fine.")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("button:has-text('Add note')")
    response = posted.value
    assert response.status == 200
    assert response.request.headers["x-csrftoken"]
    assert response.request.headers["hx-request"] == "true"
    expect(page.locator("#notes .note-body")).to_contain_text("Checked the gateway")


def test_a_stale_token_after_signing_in_elsewhere_is_refused_visibly(signed_in_page, live_server):
    page = signed_in_page
    page.goto(notes_path(page))
    other = page.context.new_page()  # the same browser: sign out and in again in another tab
    other.goto("/devices/")
    other.click("summary:has-text('operator')")
    other.click("text=Sign out")
    sign_in(other)  # Django rotates the CSRF secret at sign-in
    other.close()
    page.fill("#id_body", "Written in the old tab.")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("button:has-text('Add note')")
    assert posted.value.status == 403
    expect(page.locator("[data-error-kind=csrf]")).to_contain_text("This form has expired")
    expect(page.locator("[data-error-kind=csrf]")).to_be_visible()
    page.reload()
    expect(page.locator("#notes")).not_to_contain_text("Written in the old tab")


# -- C4: failures between the browser and dmportal are never silent -------------------------------

LOAD_MORE = re.compile(r"/devices/\?.*after=")


def open_first_rows(page):
    page.goto("/devices/?limit=5")
    expect(page.locator("#devices-table tbody tr:not(.pager)")).to_have_count(5)


def start_loading_more(page):
    open_first_rows(page)
    page.locator("#devices-pager a").click()


def banner(page):
    return page.locator("#flash [role=alert]")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (403, "Forbidden"),  # a proxy or web application firewall refusing the request
        (500, ""),  # an empty error answer
        (502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),  # the proxy's own page
    ],
)
def test_an_error_answer_that_is_not_dmportals_shows_a_banner(signed_in_page, status, body):
    page = signed_in_page
    page.route(
        LOAD_MORE, lambda route: route.fulfill(status=status, body=body, content_type="text/html")
    )
    start_loading_more(page)
    expect(banner(page)).to_be_visible()
    expect(banner(page)).to_contain_text(f"HTTP {status}")
    # Nothing of the table was replaced by the foreign answer, and it can be tried again.
    expect(page.locator("#devices-table tbody tr:not(.pager)")).to_have_count(5)
    expect(page.locator("#devices-pager a")).to_be_visible()
    assert "Bad Gateway" not in page.locator("main").inner_text()


def test_dmportals_own_error_answer_is_shown_in_place(signed_in_page, live_sim):
    page = signed_in_page
    open_first_rows(page)
    live_sim.faults.add(fault="403", path_prefix="/v3/devices/", count=1)
    page.locator("#devices-pager a").click()
    box = page.locator("#devices-status .error-box")
    expect(box).to_be_visible()
    expect(box).to_contain_text("not allowed")
    assert banner(page).count() == 0  # the explanation is where the rows would have gone


def test_a_request_that_cannot_be_sent_shows_a_banner(signed_in_page):
    page = signed_in_page
    page.route(LOAD_MORE, lambda route: route.abort("connectionreset"))
    start_loading_more(page)
    expect(banner(page)).to_contain_text("could not be reached")
    expect(page.locator("#devices-table tbody tr:not(.pager)")).to_have_count(5)


def test_an_answer_slower_than_the_htmx_timeout_shows_a_banner(signed_in_page):
    page = signed_in_page
    held = []
    page.route(LOAD_MORE, lambda route: held.append(route))  # not answered while we look
    open_first_rows(page)
    page.evaluate("htmx.config.timeout = 300")  # the configured 30 s, shortened for the test
    page.locator("#devices-pager a").click()
    expect(banner(page)).to_contain_text("took too long")
    expect(page.locator("#devices-table tbody tr:not(.pager)")).to_have_count(5)
    assert len(held) == 1
    for route in held:
        with contextlib.suppress(PlaywrightError):  # the browser already gave up on it
            route.abort()


# -- C7: htmx as configured, and nothing of the pages in localStorage --------------------------


def test_htmx_runs_with_the_hardened_config_and_keeps_no_history(watched):
    page = watched
    visit(page, "/devices/?limit=5")
    config = page.evaluate(
        "({selfRequestsOnly: htmx.config.selfRequestsOnly, allowEval: htmx.config.allowEval,"
        " allowScriptTags: htmx.config.allowScriptTags,"
        " historyCacheSize: htmx.config.historyCacheSize,"
        " includeIndicatorStyles: htmx.config.includeIndicatorStyles,"
        " historyRestoreAsHxRequest: htmx.config.historyRestoreAsHxRequest,"
        " version: htmx.version})"
    )
    assert config == {**HARDENED_HTMX, "version": "2.0.11"}
    tick(page, "state__in", ["registered"])
    page.click("text=Apply")
    page.wait_for_url(re.compile(r"state__eq=registered"))
    page.locator("#devices-pager a").click()
    settle(page)
    page.locator("#devices-table tbody td a").first.click()
    page.wait_for_url(re.compile(r"/devices/[0-9a-f]{32}/$"))
    page.go_back()
    page.wait_for_url(re.compile(r"state__eq=registered"))
    settle(page)
    assert page.evaluate("Object.keys(localStorage)") == []  # no htmx-history-cache
    # sessionStorage: htmx keeps only the current path there (htmx-current-path-for-history).
    session = page.evaluate("Object.assign({}, sessionStorage)")
    assert "htmx-history-cache" not in session
    assert not [v for v in session.values() if "<" in v or "Sensor" in v], session
    assert page.locator("style").count() == 0  # no indicator styles injected inline
    assert violations(page) == []
