"""The layout pass (issue 15): every page type at 1280x800 and at 390x844 (a plain 390-px
viewport, not an emulated phone), light and dark, in Chromium.

On each: the page does not scroll sideways; the header's controls (and on a phone every control
of its opened Menu) are inside the viewport; no identifier is broken across lines and no table
is wider than the page; on list pages the first row is on the first screen. A screenshot of each
is kept under var/screenshots/layout/ (CI keeps var/ as its artefacts).
"""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import open_menu
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "layout"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def first(collection, test=lambda o: True):
    return next(o for o in collection.objs.values() if test(o))


def page_types(sim):
    """(name, URL, is a list) of every kind of page, from the simulator's own records."""
    st = sim.store
    device = first(st.devices)
    group = first(st.device_groups, lambda g: g.get("devices_count"))
    user = first(st.users)
    key = first(st.api_keys)
    app = first(st.applications)
    policy = first(st.policy_groups, lambda g: g["id"] != st.admin_group_id)
    serials = "%0A".join(d["serial_number"] for d in list(st.devices.objs.values())[:3])
    return [
        ("devices", "/devices/", True),
        ("device", f"/devices/{device['id']}/", False),
        ("device-edit", f"/devices/{device['id']}/edit/", False),
        ("device-groups", "/device-groups/", True),
        ("device-group", f"/device-groups/{group['id']}/", False),
        ("support", "/support/", False),
        ("search", f"/support/search/?q={device['serial_number']}", False),
        ("search-several", f"/support/search/?q={serials}", False),
        ("dossier", f"/support/devices/{device['id']}/", False),
        ("calls", "/support/calls/", True),
        ("team", "/team/", False),
        ("users", "/team/users/", True),
        ("user", f"/team/users/{user['id']}/", False),
        ("invite", "/team/users/invite/", False),
        ("invitations", "/team/invitations/", True),
        ("policy-groups", "/team/groups/", True),
        ("policy-group", f"/team/groups/{policy['id']}/", False),
        ("add-members", f"/team/groups/{policy['id']}/users/add/", False),
        ("api-keys", "/team/api-keys/", True),
        ("api-key", f"/team/api-keys/{key['id']}/", False),
        ("confirm", f"/team/api-keys/{key['id']}/status/?status=INACTIVE", False),
        ("applications", "/team/applications/", True),
        ("application", f"/team/applications/{app['id']}/", False),
        ("connections", "/connections/", False),
        ("preferences", "/preferences/", False),
        ("activity", "/activity/", False),
        ("password", "/accounts/password/", False),
        ("jobs", "/jobs/", False),
        ("export", "/exports/devices/", False),
        ("not-found", "/devices/ffffffffffffffffffffffffffffffff/", False),
    ]


# Sticking out sideways: the page's own width, and each visible element of the header.
MEASURE = """() => {
  const w = window.innerWidth;
  const out = (e) => { const r = e.getBoundingClientRect();
    return r.width > 0 && (r.left < -0.5 || r.right > w + 0.5); };
  const visible = (e) => e.checkVisibility({contentVisibilityAuto: true, visibilityProperty: true});
  const controls = "a, button, input, summary, select";
  const header = [...document.querySelectorAll("header.top")]
    .flatMap(h => [...h.querySelectorAll(controls)])
    .filter(visible).filter(out).map(e => e.outerHTML.slice(0, 80));
  const line = (e) => parseFloat(getComputedStyle(e).lineHeight) || 20;
  const ids = [...document.querySelectorAll("main code.id, header code.id")].filter(visible)
    .filter(e => { const rects = e.getClientRects();
      return rects.length !== 1 || rects[0].height > line(e) * 1.6; })
    .map(e => e.textContent);
  const right = document.querySelector("main").getBoundingClientRect().right + 1;
  const tables = [...document.querySelectorAll("main table.data")].filter(visible)
    .filter(t => t.getBoundingClientRect().right > right).map(t => t.id);
  const times = [...document.querySelectorAll("main time")].filter(visible)
    .filter(t => t.getBoundingClientRect().height > line(t) * 2.6).map(t => t.textContent);
  // a table that scrolls sideways inside its own box (cut off at the edge of the page or card)
  const wraps = [...document.querySelectorAll("main .table-wrap")].filter(visible)
    .filter(b => b.scrollWidth > b.clientWidth + 1).map(b => b.querySelector("table")?.id);
  // an empty id (a dash) takes no room for the start it does not have
  const gaps = [...document.querySelectorAll("main code.id.none")].filter(visible)
    .filter(e => e.firstElementChild && e.firstElementChild.getBoundingClientRect().width > 0)
    .map(e => e.parentElement.outerHTML.slice(0, 80));
  return {width: w, scroll: document.documentElement.scrollWidth, header, ids, tables, times,
    wraps, gaps};
}"""

MENU = """() => [...document.querySelectorAll("#nav-menu a, #nav-menu button, #nav-menu input")]
  .filter(e => e.checkVisibility({contentVisibilityAuto: true, visibilityProperty: true}))
  .map(e => { const r = e.getBoundingClientRect();
    return [e.textContent.trim() || e.id, r.left, r.right]; })"""


def sign_in(context, live_server):
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    return page


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_every_page_type_fits_its_screen(browser, live_server, portal_user, live_sim, size):
    width, height = SIZES[size]
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    for scheme in ("light", "dark"):
        context = browser.new_context(
            viewport={"width": width, "height": height}, color_scheme=scheme
        )
        errors = []
        page = sign_in(context, live_server)
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        for name, url, is_list in page_types(live_sim):
            response = page.goto(f"{live_server.url}{url}")
            page.wait_for_load_state("networkidle")
            found = page.evaluate(MEASURE)
            where = f"{name} {size} {scheme}"
            # the page meant, not an error page measured in its place
            assert response.status == (404 if name == "not-found" else 200), where
            assert found["width"] == width, where  # a plain viewport: it never zooms out
            if found["scroll"] > width:
                problems.append(f"{where}: scrolls sideways ({found['scroll']} px)")
            for key in ("header", "ids", "tables", "times", "wraps", "gaps"):
                if found[key]:
                    problems.append(f"{where}: {key} {found[key][:3]}")
            if is_list:
                row = page.locator("main table.data tbody tr").first
                box = row.bounding_box()
                if box is None or box["y"] > height:
                    problems.append(f"{where}: the first row is below the first screen")
            page.screenshot(path=str(SHOTS / f"{name}-{width}-{scheme}.png"))
        assert errors == []
        context.close()
    assert problems == []


def test_on_a_phone_the_header_is_one_line_and_its_menu_inside_the_screen(
    browser, live_server, portal_user, live_sim
):
    """Issue 15 item 2: the account menu opened off the left edge (x from -106 px)."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = sign_in(context, live_server)
    page.goto(f"{live_server.url}/team/users/")
    bar = page.locator("header.top .bar").bounding_box()
    assert bar["height"] < 60  # one line: the brand and the Menu
    expect(page.locator("header.top nav")).not_to_be_visible()
    open_menu(page)
    controls = page.evaluate(MENU)
    labels = [label for label, _, _ in controls]
    for wanted in ("Devices", "Device groups", "Team", "Support", "Recent API calls"):
        assert wanted in labels
    for wanted in ("Connections", "Preferences", "My activity", "Change password", "Sign out"):
        assert wanted in labels
    outside = [c for c in controls if c[1] < 0 or c[2] > 390]
    assert outside == []
    page.click("text=Preferences")
    page.wait_for_url("**/preferences/")
    # the switcher too
    page.click("#account-bar .switch > summary")
    for item in page.locator("#account-bar .switch li").all():
        box = item.bounding_box()
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 390
    context.close()


def test_an_id_reads_whole_and_is_shortened_in_the_middle_where_space_is_short(
    browser, live_server, portal_user, live_sim
):
    """Issue 15 item 4: ids overflowed their cards and wrapped one character onto a line."""
    device = first(live_sim.store.devices)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = sign_in(context, live_server)
    page.goto(f"{live_server.url}/support/devices/{device['id']}/")
    cell = page.locator("dl.facts dd", has=page.locator("code.id")).first.locator("code.id")
    assert cell.text_content() == device["id"]  # the text is the whole id
    assert cell.evaluate("e => e.getClientRects().length") == 1
    box = cell.bounding_box()
    panel = page.locator(".panel").first.bounding_box()
    assert box["x"] + box["width"] <= panel["x"] + panel["width"]
    # Selected and copied, it is the whole id, in one piece.
    page.evaluate(
        """e => { const r = document.createRange(); r.selectNodeContents(e);
        const s = getSelection(); s.removeAllRanges(); s.addRange(r); }""",
        cell.element_handle(),
    )
    assert page.evaluate("getSelection().toString()") == device["id"]
    context.close()


def test_copy_for_ticket_says_it_copied(signed_in_page, live_sim):
    """Issue 15 item 3: the main "Copy for ticket" button gave no feedback."""
    page = signed_in_page
    device = first(live_sim.store.devices)
    page.goto(f"/support/devices/{device['id']}/")
    button = page.locator("button.copy-ticket")
    before = button.evaluate("b => getComputedStyle(b).backgroundColor")
    button.click()
    expect(button).to_have_text("Copied ✓")
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") != before
    expect(page.locator("#announce")).to_have_text("Copied to the clipboard.")
    expect(button).to_have_text("Copy for ticket", timeout=5000)  # and back


def test_every_shortcut_of_the_help_dialog_works(signed_in_page):
    """Issue 15 item 1: "g g" did nothing (the branch starting a sequence ran first)."""
    page = signed_in_page
    page.goto("/support/")
    page.keyboard.press("?")
    dialog = page.locator("#shortcuts")
    expect(dialog).to_be_visible()
    listed = [" ".join(dt.locator("kbd").all_inner_texts()) for dt in dialog.locator("dt").all()]
    assert listed == ["/", "?", "g d", "g g", "g t", "g s", "g c", "g j", "Esc"]
    page.keyboard.press("Escape")
    expect(dialog).not_to_be_visible()
    targets = {
        "g d": "/devices/",
        "g g": "/device-groups/",
        "g t": "/team/",
        "g s": "/support/",
        "g c": "/support/calls/",
        "g j": "/jobs/",
    }
    for keys, path in targets.items():
        page.goto("/activity/")
        for key in keys.split():
            page.keyboard.press(key)
        page.wait_for_url(f"**{path}")
    page.keyboard.press("/")
    expect(page.locator("#header-search")).to_be_focused()


def test_the_search_shortcut_opens_the_menu_on_a_phone(browser, live_server, portal_user, live_sim):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = sign_in(context, live_server)
    page.goto(f"{live_server.url}/devices/")
    expect(page.locator("#header-search")).not_to_be_visible()
    page.keyboard.press("/")
    expect(page.locator("#header-search")).to_be_focused()
    expect(page.locator("#header-search")).to_be_visible()
    context.close()


def test_after_load_more_and_a_device_back_returns_to_the_same_rows_and_place(signed_in_page):
    """Your place is kept: the pages added by "Load more" are asked for again on Back (their
    URLs are kept in the history entry, never the rows), and the scroll position restored."""
    page = signed_in_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/devices/?limit=20")
    rows = page.locator("#devices-table tbody tr:not(.pager)")
    for count in (40, 60, 80):
        page.locator("#devices-pager a").click()
        expect(rows).to_have_count(count)
    target = rows.nth(65)
    target.scroll_into_view_if_needed()
    page.mouse.wheel(0, 120)
    page.wait_for_timeout(400)  # the scroll position is noted after the scrolling stops
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 1000
    ids = page.locator("#devices-table tbody td.id").all_text_contents()
    link = target.locator("a").first
    link.evaluate("a => a.click()")  # as a person clicks what they see: no scrolling first
    page.wait_for_url("**/devices/*/")
    page.go_back()
    page.wait_for_url("**/devices/?limit=20")
    expect(rows).to_have_count(80)
    expect(page.locator("html")).to_have_attribute("data-place-restored", "")
    assert page.locator("#devices-table tbody td.id").all_text_contents() == ids
    assert abs(page.evaluate("window.scrollY") - scrolled) <= 2
    # Only URLs are kept: nothing of the page in the history entry.
    state = page.evaluate("JSON.stringify(history.state)")
    assert "<" not in state
    assert ids[0] not in state


def test_load_more_by_keyboard_moves_the_focus_to_the_first_new_row_and_says_how_many(
    signed_in_page,
):
    """Rev 15: pressing Enter on "Load more" left the focus on a link that was gone (back to the
    top of the page) and the whole list, a live region, was read out again."""
    page = signed_in_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/devices/?limit=20")
    rows = page.locator("#devices-table tbody tr:not(.pager)")
    page.locator("#devices-pager a").focus()
    page.keyboard.press("Enter")
    expect(rows).to_have_count(40)
    first_new = rows.nth(20).locator("a[href]").first
    expect(first_new).to_be_focused()
    expect(page.locator("#announce")).to_have_text("20 more rows shown, 40 in all.")
    assert page.locator("#results[aria-live]").count() == 0
