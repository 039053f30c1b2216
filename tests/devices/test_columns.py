"""The device table's columns: the chooser, persistence (per person, per saved view), custom
attribute columns, "load more" cells that match the head, and the spec export code reads."""

import re

import pytest
from django.test import RequestFactory

from dmportal.devices.columns import COLUMNS, DEFAULT, device_columns_for, parse_keys
from dmportal.devices.models import DeviceListSettings, SavedViewSettings
from tests.conftest import API, SENTINEL_KEY, device, envelope, joined_ids

pytestmark = pytest.mark.django_db
DEVICES = f"{API}/v3/devices/"
PAGER = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "devices-pager"}
ALL_FIELDS = [
    "name",
    "id",
    "state",
    "lifecycle_status",
    "endpoint_name",
    "serial_number",
    "vendor_id",
    "device_class",
    "endpoint_type",
    "deployed_state",
    "mechanism",
    "host_gateway",
    "firmware_checksum",
    "connector_expiration_date",
    "bootstrap_expiration_date",
    "created_at",
    "updated_at",
    "last_operator_suspension",
]


def head_cells(html):
    head = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    return head.count("<th ")


def row_cells(html):
    """The number of cells of each data row (of the body; the pager row left out)."""
    body = re.search(r"<tbody>(.*)</tbody>", html, re.S)
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1) if body else html, re.S)
    return [row.count("<td") for row in rows]


def head_labels(html):
    head = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    return [
        re.sub(r"<[^>]+>", "", cell).split(" ")[0]
        for cell in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)
    ]


def save_columns(client, keys, **extra):
    data = {"order": keys, "show": keys, "next": "/devices/", **extra}
    return client.post("/devices/columns/", data)


def test_every_field_the_issue_names_is_a_column_with_a_sensible_default():
    assert set(ALL_FIELDS) <= set(COLUMNS)
    assert DEFAULT == (
        "name",
        "id",
        "state",
        "lifecycle_status",
        "endpoint_name",
        "serial_number",
        "device_class",
        "deployed_state",
        "created_at",
        "updated_at",
    )
    assert parse_keys("state,bogus,attr:site,attr:9bad,state") == ["state", "attr:site"]


def test_chosen_columns_persist_and_apply_to_the_first_page(signed_in, api, user):
    api.get(DEVICES, json=envelope([device(1, endpoint_type="MBED_GW")], total=1))
    response = save_columns(signed_in, ["endpoint_type", "name", "state"])
    assert response.status_code == 302
    assert DeviceListSettings.objects.get(user=user).columns == ["endpoint_type", "name", "state"]
    html = signed_in.get("/devices/").content.decode()
    assert head_labels(html) == ["Endpoint", "Name", "State"]
    assert row_cells(html) == [3]
    assert "<td>MBED_GW</td>" in html
    assert len(api.calls) == 1  # the columns cost no call


def test_load_more_has_the_cells_of_the_head_even_after_the_choice_changed(signed_in, api):
    api.get(DEVICES, json=envelope([device(i) for i in range(3)], has_more=True, total=9))
    save_columns(signed_in, ["name", "serial_number", "created_at", "mechanism"])
    page = signed_in.get("/devices/?limit=3").content.decode()
    assert head_cells(page) == 4
    next_url = re.search(r'<tr class="pager"[^>]*>.*?href="([^"]+)"', page, re.S).group(1)
    next_url = next_url.replace("&amp;", "&")
    assert "columns=name,serial_number,created_at,mechanism" in next_url
    save_columns(signed_in, ["name"])  # chosen again in another tab meanwhile
    api.replace(
        "GET", DEVICES, json=envelope([device(i) for i in range(3, 6)], has_more=True, total=9)
    )
    fragment = signed_in.get(next_url, **PAGER).content.decode()
    assert row_cells(fragment) == [4, 4, 4]
    assert "columns=name,serial_number,created_at,mechanism" in fragment  # the next one too


@pytest.mark.parametrize("keys", [list(DEFAULT), ALL_FIELDS, ["name"]])
def test_every_row_has_the_head_s_cells(signed_in, api, keys):
    items = [
        device(i, host_gateway="f" * 32, last_operator_suspended_category="maintenance")
        for i in range(5)
    ]
    api.get(DEVICES, json=envelope(items, total=5))
    save_columns(signed_in, keys)
    html = signed_in.get("/devices/").content.decode()
    assert row_cells(html) == [head_cells(html)] * 5
    assert head_cells(html) == len(keys)


def test_custom_attribute_keys_on_the_page_are_offered_and_can_be_shown(signed_in, api):
    items = [device(1, custom_attributes={"site": "7", "floor": "2"}), device(2)]
    api.get(DEVICES, json=envelope(items, total=2))
    page = signed_in.get("/devices/").content.decode()
    assert "attrs=site%2Cfloor" in page  # the Columns menu is told which keys it may offer
    chooser = signed_in.get(
        "/devices/columns/?next=/devices/&attrs=site,floor,9bad", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'value="attr:site"' in chooser
    assert 'value="attr:floor"' in chooser
    assert "9bad" not in chooser
    save_columns(signed_in, ["name", "attr:site"])
    html = signed_in.get("/devices/").content.decode()
    assert head_labels(html) == ["Name", "site"]
    assert "<td>7</td>" in html
    assert row_cells(html) == [2, 2]  # the device without it has an empty cell


def test_the_chooser_works_without_javascript_move_and_reset(signed_in, user):
    page = signed_in.get("/devices/columns/?next=/devices/%3Fstate__eq%3Dregistered")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="move" value="id:up"' in html
    assert 'value="/devices/?state__eq=registered"' in html
    order = list(DEFAULT)
    response = signed_in.post(
        "/devices/columns/",
        {"order": order, "show": order, "move": "id:up", "next": "/devices/?state__eq=registered"},
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/devices/columns/?next=")  # back to the chooser
    assert DeviceListSettings.objects.get(user=user).columns[:2] == ["id", "name"]
    signed_in.post("/devices/columns/", {"reset": "1", "next": "/devices/"})
    assert DeviceListSettings.objects.get(user=user).columns == []
    # Never an open redirect.
    away = signed_in.post(
        "/devices/columns/", {"order": order, "show": order, "next": "https://evil.example/"}
    )
    assert away["Location"] == "/devices/"


def test_a_saved_view_may_carry_its_own_columns(sim_client, sim, sim_user):
    from tests.devices.test_saved_views import seeded

    view = seeded(sim, "Registered devices")
    target = sim_client.get(f"/devices/views/{view['id']}/")["Location"]
    response = sim_client.post(
        "/devices/columns/",
        {"order": ["name", "state"], "show": ["name", "state"], "target": "view", "next": target},
    )
    assert response.status_code == 302
    settings = SavedViewSettings.objects.get(user=sim_user, query_id=view["id"])
    assert settings.columns == ["name", "state"]
    assert head_cells(sim_client.get(target).content.decode()) == 2
    # Other filters: the person's own columns (the default here).
    assert head_cells(sim_client.get("/devices/?state__eq=deregistered").content.decode()) == 10


def test_export_code_gets_the_same_columns_with_values(signed_in, user):
    DeviceListSettings.objects.create(user=user, columns=["serial_number", "attr:site", "state"])
    request = RequestFactory().get("/devices/?state__eq=registered")
    request.user = user
    request.session = signed_in.session
    columns = device_columns_for(request)
    assert [c.key for c in columns] == ["serial_number", "attr:site", "state"]
    record = device(1, custom_attributes={"site": "7"})
    assert [c.value(record) for c in columns] == ["SN-00001", "7", "registered"]
    assert [c.label for c in columns] == ["Serial number", "site", "State"]


def test_hostile_values_in_any_column_are_escaped(signed_in, api):
    hostile = "<img src=x onerror=alert(1)>"
    record = device(
        1,
        endpoint_type=hostile,
        host_gateway=hostile,
        last_operator_suspended_category=hostile,
        custom_attributes={"site": hostile},
    )
    api.get(DEVICES, json=envelope([record], total=1))
    save_columns(signed_in, [*ALL_FIELDS, "attr:site"])
    html = joined_ids(signed_in.get("/devices/").content.decode())
    assert "<img src=x" not in html
    assert html.count("&lt;img src=x onerror=alert(1)&gt;") >= 4
    assert SENTINEL_KEY not in html


def test_an_export_has_the_chosen_columns_and_keeps_the_filters_only_filter_can_say(
    sim_client, sim
):
    """The export page reads the chooser (device_columns_for); a filter sent through
    `filter=` (a custom attribute) is sent by the export too, never dropped."""
    from tests.exports.conftest import csv_rows, download, export, walk

    keys = ["serial_number", "attr:site", "last_operator_suspension", "state"]
    save_columns(sim_client, keys)
    job = export(sim_client, "/exports/devices/?state__eq=registered&custom_attributes__site__eq=7")
    rows = csv_rows(download(sim_client, job)[1])
    expected = [
        d
        for d in walk(sim, "/v3/devices/", {"state__eq": "registered"})
        if (d.get("custom_attributes") or {}).get("site") == "7"
    ]
    assert len(rows) == len(expected) >= 1
    assert list(rows[0]) == ["Serial number", "site", "Last operator suspension", "State"]
    assert {r["site"] for r in rows} == {"7"}
    assert {r["State"] for r in rows} == {"registered"}
