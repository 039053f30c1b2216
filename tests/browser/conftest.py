"""Browser tests: Playwright for Python driving Debian's Chromium against a live dmportal
(pytest-django's live_server, DEBUG off) that talks to the simulator over HTTPS.

Playwright's own browser download needs internet access, so the `chromium` binary of
Debian's package is used (`make test` installs it). Every page is watched for console
errors: a Content-Security-Policy violation or an uncaught script error fails the test.
"""

import os
import shutil

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import expect

from tests.conftest import PASSWORD, make_connection, use_simulator

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# around it are ordinary synchronous ones.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(config, items):
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("DMPORTAL_REQUIRE_BROWSER") == "1":
        raise pytest.UsageError(f"Chromium is required for the browser tests: {CHROMIUM}")
    skip = pytest.mark.skip(reason="Debian's chromium is not installed (make browsers)")
    for item in items:
        if "browser" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def console_errors():
    return []


@pytest.fixture
def page(browser, console_errors, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1400, "height": 1000}
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on(
        "console",
        lambda m: (
            console_errors.append(m.text) if m.type == "error" and "favicon" not in m.text else None
        ),
    )
    page.on("pageerror", lambda e: console_errors.append(f"page error: {e}"))
    yield page
    context.close()
    csp = [e for e in console_errors if "Content Security Policy" in e or "page error" in e]
    assert csp == [], f"script or CSP errors in the browser: {csp}"


@pytest.fixture
def live_sim(settings, simulator, live_server):
    use_simulator(settings, simulator)
    simulator.faults.clear()
    yield simulator
    simulator.faults.clear()


@pytest.fixture
def portal_user(django_user_model, live_sim):
    user = django_user_model.objects.create_user("operator", password=PASSWORD)
    make_connection(
        user,
        label="Sim admin",
        key=live_sim.keys.admin,
        host=live_sim.base_url,
        account_name="Acme",
    )
    make_connection(
        user,
        label="Sim developer",
        key=live_sim.keys.developer,
        host=live_sim.base_url,
        account_name="Acme",
    )
    return user


def sign_in(page, username="operator", password=PASSWORD):
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def switch_connection(page, label):
    """Switch the active connection from the header's account bar, as a person would."""
    page.click("#account-bar .switch > summary")
    with page.expect_navigation():
        page.click(f"#account-bar [data-switch-to='{label}']")
    expect(page.locator("#account-bar .conn-label")).to_have_text(label)


def open_menu(page):
    """On a narrow screen the header's controls are behind its Menu."""
    if not page.locator("#nav-menu").evaluate("d => d.open"):
        page.click("#nav-menu > summary")


def tick(page, name, values):
    """Tick `values` in a filter's drop-down of tick boxes (state, lifecycle, ...)."""
    field = page.locator(f"details.multi:has(input[name='{name}'])")
    field.locator("summary").click()
    for value in values:
        field.locator(f"input[value='{value}']").check()
    field.locator("summary").click()


@pytest.fixture
def signed_in_page(page, portal_user):
    sign_in(page)
    return page


__all__ = ["django_settings", "open_menu", "sign_in", "switch_connection", "tick"]
