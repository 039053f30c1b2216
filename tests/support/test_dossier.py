"""The device dossier: one screen for support, its API calls, and the ticket summary."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from django.utils import timezone

from dmportal.dmapi import ApiClient, resources
from dmportal.dmapi.pages import Record
from dmportal.support.dossier import Dossier, ticket_text
from tests.conftest import API, SENTINEL_KEY, device, envelope, error_body, joined_ids

pytestmark = pytest.mark.django_db
DEVICE_ID = f"{42:032x}"
GROUP_A, GROUP_B = "a" * 31 + "1", "b" * 31 + "2"
DEVICE_URL = f"{API}/v3/devices/{DEVICE_ID}/"
EVENTS = f"{API}/v3/device-events/"
GROUPS = f"{API}/v3/device-groups/"


def day(offset):
    return (timezone.now() + timedelta(days=offset)).strftime("%Y-%m-%d")


def full_device(**fields):
    base = device(
        42,
        name="Boiler room sensor",
        vendor_id="vendor-7",
        state="deregistered",
        lifecycle_status="blocked",
        operator_suspended=True,
        last_operator_suspended_category="lost_or_stolen",
        last_operator_suspended_description="Reported stolen by the customer.",
        last_operator_suspended_updated_at="2025-06-02T10:00:00Z",
        system_suspended=False,
        bootstrap_expiration_date=day(-3),
        connector_expiration_date=day(10),
        bootstrapped_timestamp="2025-01-03T00:00:00Z",
        groups=[GROUP_A, GROUP_B],
        custom_attributes={"site": "Leeds", "floor": "2"},
    )
    base.update(fields)
    return base


EVENT_ITEMS = [
    {
        "id": f"{i:032x}",
        "date_time": f"2025-06-0{9 - i}T08:00:00Z",
        "event_type": f"EV_{i}",
        "description": f"Event number {i}",
        "state_change": i == 2,
    }
    for i in range(4)
]


def mock_dossier(api, dev=None, *, events=None, groups=None):
    api.get(DEVICE_URL, json=dev or full_device(), headers={"X-Request-ID": "up-device"})
    api.get(
        EVENTS,
        json=events if events is not None else envelope(EVENT_ITEMS),
        headers={"X-Request-ID": "up-events"},
    )
    api.get(
        GROUPS,
        json=groups
        if groups is not None
        else envelope([{"id": GROUP_A, "name": "Leeds site"}, {"id": GROUP_B, "name": "Pilot"}]),
        headers={"X-Request-ID": "up-groups"},
    )


def ticket_of(html):
    return unescape(
        re.search(r'<pre id="ticket-summary" class="ticket">(.*?)</pre>', html, re.S)[1]
    )


def test_the_dossier_has_everything_on_one_screen_in_three_calls(signed_in, api):
    mock_dossier(api)
    response = signed_in.get(f"/support/devices/{DEVICE_ID}/")
    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        "Boiler room sensor",
        DEVICE_ID,
        "SN-00042",
        "ep-42",
        "vendor-7",
        "lost_or_stolen",
        "Reported stolen by the customer.",
        "Leeds site",
        "Pilot",
        "<code>site</code></dt><dd>Leeds</dd>",
        "EV_0",
        "EV_3",
        "Staff notes",
    ):
        assert text in html, text
    assert 'data-expiry="past"' in html  # bootstrap certificate expired 3 days ago
    assert 'data-expiry="soon"' in html  # connector certificate expires in 10 days
    # The last state change comes from the newest event that changed the state.
    assert "EV_2</code> Event number 2" in html
    # The device and its events are fetched at once, so their order is not fixed.
    assert sorted(c.request.url.split("?")[0] for c in api.calls) == sorted(
        [DEVICE_URL, EVENTS, GROUPS]
    )
    assert api.calls[2].request.url.startswith(GROUPS)  # needs the device's group ids
    events_call = next(c for c in api.calls if c.request.url.startswith(EVENTS))
    assert f"device_id__eq={DEVICE_ID}" in events_call.request.url
    assert "limit=20" in events_call.request.url
    assert "order=DESC" in events_call.request.url
    groups_call = next(c for c in api.calls if c.request.url.startswith(GROUPS))
    assert f"id__in={GROUP_A}%2C{GROUP_B}" in groups_call.request.url
    assert SENTINEL_KEY not in html


def test_a_device_in_no_group_costs_two_calls(signed_in, api):
    mock_dossier(api, full_device(groups=[]))
    response = signed_in.get(f"/support/devices/{DEVICE_ID}/")
    assert response.status_code == 200
    assert len(api.calls) == 2
    assert "Not in any group." in response.content.decode()


def test_the_ticket_summary_has_identifiers_state_dates_events_and_request_ids(signed_in, api):
    mock_dossier(api)
    response = signed_in.get(f"/support/devices/{DEVICE_ID}/")
    ticket = ticket_of(response.content.decode())
    for text in (
        f"- Device ID: `{DEVICE_ID}`",
        "- Serial number: `SN-00042`",
        "- Endpoint name: `ep-42`",
        "- Vendor ID: `vendor-7`",
        "- State: deregistered",
        "- Lifecycle status: blocked",
        "- Suspended by an operator: yes (category `lost_or_stolen`; “Reported stolen by the "
        "customer.”; last change 2025-06-02 10:00:00 UTC)",
        f"- Bootstrap certificate expires: {day(-3)} — EXPIRED",
        f"- Connector certificate expires: {day(10)} — WARNING: expires within 10 days",
        "- Last bootstrap: 2025-01-03 00:00:00 UTC",
        f"**Groups:** Leeds site (`{GROUP_A}`), Pilot (`{GROUP_B}`)",
        "**Custom attributes:** floor=2, site=Leeds",
        "- 2025-06-09 08:00:00 UTC `EV_0` Event number 0",
        "- 2025-06-07 08:00:00 UTC `EV_2` Event number 2 [state change]",
        "- Last state change: 2025-06-07 08:00:00 UTC",
        "- device record: upstream `up-device`",
        "- last events: upstream `up-events`",
        "- group names: upstream `up-groups`",
        f"- dmportal request: `{response['X-Request-ID']}`",
        "connection “Acme production”",
    ):
        assert text in ticket, text
    assert SENTINEL_KEY not in ticket
    assert "ak_" not in ticket
    # The copy button copies exactly this element.
    assert 'data-copy-from="ticket-summary"' in response.content.decode()


def test_a_device_that_does_not_exist_is_a_404_without_further_calls_shown(signed_in, api):
    api.get(
        DEVICE_URL,
        status=404,
        json=error_body(404, "not_found", request_id="up-404"),
    )
    api.get(EVENTS, json=envelope([]))
    response = signed_in.get(f"/support/devices/{DEVICE_ID}/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "That device does not exist" in html
    assert "up-404" in html
    assert not any(c.request.url.startswith(GROUPS) for c in api.calls)


def test_a_forbidden_device_shows_the_permission_page(signed_in, api):
    api.get(DEVICE_URL, status=403, json=error_body(403, "access_denied", request_id="up-403"))
    api.get(EVENTS, json=envelope([]))
    response = signed_in.get(f"/support/devices/{DEVICE_ID}/")
    assert response.status_code == 403
    assert "This API key is not allowed to do this" in response.content.decode()


def test_failed_events_leave_the_rest_of_the_dossier_with_the_request_id(signed_in, api):
    api.get(DEVICE_URL, json=full_device(groups=[]), headers={"X-Request-ID": "up-device"})
    api.get(EVENTS, status=500, json=error_body(500, "internal_error", request_id="up-ev-500"))
    response = signed_in.get(f"/support/devices/{DEVICE_ID}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Boiler room sensor" in html
    assert "The Device Management service failed" in html
    assert "up-ev-500" in html
    assert "unknown: the events could not be loaded" in html
    ticket = ticket_of(html)
    assert "- could not be loaded:" in ticket
    assert "(upstream request id `up-ev-500`)" in ticket
    assert "- last events (failed): upstream `up-ev-500`" in ticket


def test_failed_group_names_still_list_the_group_ids(signed_in, api):
    mock_dossier(api)
    api.replace(
        "GET", GROUPS, status=403, json=error_body(403, "access_denied", request_id="up-gr")
    )
    response = signed_in.get(f"/support/devices/{DEVICE_ID}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="/device-groups/{GROUP_A}/"' in html
    assert "This API key is not allowed to do this" in html
    assert "up-gr" in html


def test_upstream_strings_are_escaped_on_the_page_and_flattened_in_the_ticket(signed_in, api):
    hostile = full_device(
        name="<script>alert(1)</script>",
        description="line one\nline two",
        serial_number="SN`injected`\n### fake heading",
        groups=["../../admin", GROUP_A],
        host_gateway="../x",
    )
    mock_dossier(api, hostile, groups=envelope([{"id": GROUP_A, "name": "<b>bold</b>"}]))
    html = signed_in.get(f"/support/devices/{DEVICE_ID}/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "<b>bold</b>" not in html
    assert "../../admin" not in html  # not a group id: never put into a URL or a call
    assert 'href="/support/devices/../x/"' not in html
    ticket = ticket_of(html)
    assert "\n### fake heading" not in ticket
    assert "- Serial number: `SN'injected' ### fake heading`" in ticket


FORGED = "x** | **State:** registered [details](https://evil.example) <b>_ok_</b> ~~y~~ #1 \\"


def test_markdown_in_upstream_values_is_escaped_in_the_ticket(signed_in, api):
    """Issue 14: a device name (or description, attribute, group name) holding Markdown made
    the pasted ticket say what the device's owner wrote: bold lines, links, HTML. Every
    upstream value outside a code span is escaped, so it reads as the text it is."""
    hostile = full_device(
        name=FORGED,
        last_operator_suspended_description=FORGED,
        custom_attributes={FORGED: FORGED},
    )
    events = envelope([{**EVENT_ITEMS[0], "description": FORGED}])
    mock_dossier(api, hostile, events=events, groups=envelope([{"id": GROUP_A, "name": FORGED}]))
    ticket = ticket_of(signed_in.get(f"/support/devices/{DEVICE_ID}/").content.decode())
    escaped = (
        r"x\*\* \| \*\*State:\*\* registered \[details\](https://evil.example) "
        r"\<b\>\_ok\_\</b\> \~\~y\~\~ \#1 \\"
    )
    assert f"### Device {escaped} (`{DEVICE_ID}`)" in ticket
    assert ticket.count(escaped) >= 5  # name, suspension, attribute name and value, group...
    for line in ticket.splitlines():
        assert "[details](" not in line
        assert "<b>" not in line
        assert "**State:**" not in line


def test_the_dossier_url_takes_only_device_ids(signed_in, api):
    assert signed_in.get("/support/devices/not-an-id/").status_code == 404
    assert signed_in.get("/support/devices/" + "A" * 32 + "/").status_code == 404
    assert len(api.calls) == 0


def test_your_recent_calls_about_the_device_are_listed(signed_in, api):
    mock_dossier(api)
    first = signed_in.get(f"/support/devices/{DEVICE_ID}/")
    second = joined_ids(signed_in.get(f"/support/devices/{DEVICE_ID}/").content.decode())
    assert "None before this page." in first.content.decode()
    assert "up-device" in second.split("Your recent API calls about this device")[1]
    assert first["X-Request-ID"] in second


def test_ticket_expiry_wording():
    now = datetime(2025, 6, 1, tzinfo=UTC)
    dossier = Dossier(
        device=Record(
            {
                "id": DEVICE_ID,
                "bootstrap_expiration_date": "2025-08-01",
                "connector_expiration_date": "2025-06-30",
            }
        )
    )

    class Connection:
        label = "Lab"

    text = ticket_text(dossier, connection=Connection(), request_id="r1", generated_by="u", now=now)
    assert "- Bootstrap certificate expires: 2025-08-01\n" in text
    assert "- Connector certificate expires: 2025-06-30 — WARNING: expires within 29 days" in text
    assert "**Groups:** none" in text
    assert "- none" in text  # no events


# -- against the simulator ---------------------------------------------------------------------


def test_a_simulator_device_dossier_costs_at_most_three_calls(sim_client, sim):
    client = ApiClient(sim.base_url, sim.keys.admin, ca_bundle=str(sim.ca_cert_path))
    items = resources.device_page(client, limit=100, order="ASC").items
    grouped = next(d for d in items if d.get("groups"))
    sim.reset_stats()
    response = sim_client.get(f"/support/devices/{grouped['id']}/")
    assert response.status_code == 200
    assert sim.stats()["requests"] == {
        "GET /v3/devices/{id}/": 1,
        "GET /v3/device-events/": 1,
        "GET /v3/device-groups/": 1,
    }
    html = response.content.decode()
    assert grouped["serial_number"] in html
    assert sim.keys.admin not in html
