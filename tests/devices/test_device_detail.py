"""Device detail (shell + panels), edit, and device groups; API calls per page are pinned."""

import json

import pytest

from dmportal.accounts.models import ActivityEntry
from tests.conftest import API, SENTINEL_KEY, device, envelope, error_body

pytestmark = pytest.mark.django_db
DEVICE_ID = f"{7:032x}"
GROUPS = [f"{0x100 + i:032x}" for i in range(3)]


def full_device(**extra):
    return device(
        7,
        groups=GROUPS,
        custom_attributes={"site": "Leeds", "floor": "2"},
        bootstrap_expiration_date="2000-01-01",
        connector_expiration_date="2999-01-01",
        description="Boiler <b>room</b>",
        **extra,
    )


def test_the_page_shell_makes_one_call_and_the_panels_one_each(signed_in, api):
    api.get(f"{API}/v3/devices/{DEVICE_ID}/", json=full_device(), headers={"X-Request-ID": "r-d"})
    page = signed_in.get(f"/devices/{DEVICE_ID}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert len(api.calls) == 1
    assert "Boiler &lt;b&gt;room&lt;/b&gt;" in html
    assert 'data-expiry="past"' in html  # the bootstrap certificate expired
    assert "site" in html
    assert "Leeds" in html
    assert f"/devices/{DEVICE_ID}/groups/?id__in={','.join(GROUPS)}" in html
    assert f"/devices/{DEVICE_ID}/events/" in html
    assert "r-d" in html  # the upstream request id of the read

    api.get(
        f"{API}/v3/device-groups/",
        json=envelope(
            [{"id": g, "name": f"Group {i}", "devices_count": i} for i, g in enumerate(GROUPS)]
        ),
    )
    panel = signed_in.get(
        f"/devices/{DEVICE_ID}/groups/?id__in={','.join(GROUPS)}", HTTP_HX_REQUEST="true"
    )
    assert len(api.calls) == 2
    assert api.calls[1].request.params["id__in"] == ",".join(GROUPS)  # names in one call
    assert "Group 2" in panel.content.decode()

    events = [
        {"id": f"{i:032x}", "date_time": "2025-01-01T00:00:00Z", "event_type": "t"}
        for i in range(3)
    ]
    api.get(f"{API}/v3/device-events/", json=envelope(events, has_more=True, total=9))
    panel = signed_in.get(
        f"/devices/{DEVICE_ID}/events/",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="device-events-panel",
    )
    assert len(api.calls) == 3
    params = api.calls[2].request.params
    assert params["device_id__eq"] == DEVICE_ID
    assert params["order"] == "DESC"
    assert "HX-Push-Url" not in panel  # a panel never changes the address bar
    assert 'id="events-pager"' in panel.content.decode()


def test_a_device_without_groups_asks_for_no_group_panel(signed_in, api):
    api.get(f"{API}/v3/devices/{DEVICE_ID}/", json=device(7, groups=[]))
    html = signed_in.get(f"/devices/{DEVICE_ID}/").content.decode()
    assert "Not in any group" in html
    assert "/groups/?id__in=" not in html


def test_group_panel_refuses_forged_ids(signed_in, api):
    for bad in ("x", "../x", ",".join(["a" * 32] * 101), "a" * 32 + ",,"):
        response = signed_in.get(
            f"/devices/{DEVICE_ID}/groups/", {"id__in": bad}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 400
    assert len(api.calls) == 0


def test_tolerates_missing_and_odd_fields(signed_in, api):
    api.get(
        f"{API}/v3/devices/{DEVICE_ID}/",
        json={"id": DEVICE_ID, "groups": "not a list", "custom_attributes": [1]},
    )
    response = signed_in.get(f"/devices/{DEVICE_ID}/")
    assert response.status_code == 200


def test_edit_sends_a_put_and_logs_the_change(signed_in, api):
    api.get(f"{API}/v3/devices/{DEVICE_ID}/", json=full_device())
    api.put(f"{API}/v3/devices/{DEVICE_ID}/", json=full_device(name="New name"))
    form = signed_in.get(f"/devices/{DEVICE_ID}/edit/").content.decode()
    assert 'value="Leeds"' in form
    response = signed_in.post(
        f"/devices/{DEVICE_ID}/edit/",
        {"name": "New name", "description": "d", "attr_key_0": "site", "attr_value_0": "York"},
    )
    assert response.status_code == 302
    body = json.loads(api.calls[-1].request.body)
    assert body == {"name": "New name", "description": "d", "custom_attributes": {"site": "York"}}
    assert ActivityEntry.objects.get(action="device.update").result == "ok"


def test_edit_maps_api_validation_errors_onto_fields_and_keeps_input(signed_in, api):
    api.get(f"{API}/v3/devices/{DEVICE_ID}/", json=full_device())
    api.put(
        f"{API}/v3/devices/{DEVICE_ID}/",
        status=400,
        json=error_body(
            400, "validation_error", request_id="up-v", fields=[("name", "Name taken.")]
        ),
    )
    response = signed_in.post(
        f"/devices/{DEVICE_ID}/edit/", {"name": "Typed name", "description": "kept"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Name taken." in html
    assert 'value="Typed name"' in html
    assert "kept</textarea>" in html
    assert "up-v" in html
    assert ActivityEntry.objects.get(action="device.update").result == "failed"


def test_edit_shows_other_failures_on_the_form(signed_in, api):
    api.get(f"{API}/v3/devices/{DEVICE_ID}/", json=full_device())
    api.put(
        f"{API}/v3/devices/{DEVICE_ID}/",
        status=403,
        json=error_body(403, "access_denied", request_id="up-f"),
    )
    html = signed_in.post(f"/devices/{DEVICE_ID}/edit/", {"name": "n"}).content.decode()
    assert "This API key is not allowed to do this" in html
    assert "up-f" in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"attr_key_0": "1abc", "attr_value_0": "v"}, "Keys start with a letter"),
        ({"attr_key_0": "", "attr_value_0": "v"}, "Give the attribute a key"),
        ({"attr_key_0": "a", "attr_key_1": "a"}, "already used"),
        ({"name": "x" * 129}, "at most 128"),
    ],
)
def test_edit_validates_before_calling_the_api(signed_in, api, data, message):
    api.get(f"{API}/v3/devices/{DEVICE_ID}/", json=full_device())
    html = signed_in.post(f"/devices/{DEVICE_ID}/edit/", data).content.decode()
    assert message in html
    assert [c.request.method for c in api.calls] == ["GET"]


def test_device_groups_list_and_detail(signed_in, api):
    group = {
        "id": GROUPS[0],
        "name": "Pilot <site>",
        "devices_count": 1234,
        "custom_attributes": {"a": "b"},
    }
    api.get(f"{API}/v3/device-groups/", json=envelope([group], total=1))
    html = signed_in.get("/device-groups/?name__eq=Pilot").content.decode()
    assert "Pilot &lt;site&gt;" in html
    assert "1,234" in html
    assert api.calls[0].request.params["name__eq"] == "Pilot"
    api.get(f"{API}/v3/device-groups/{GROUPS[0]}/", json=group)
    detail = signed_in.get(f"/device-groups/{GROUPS[0]}/").content.decode()
    assert f"/device-groups/{GROUPS[0]}/devices/" in detail
    api.get(f"{API}/v3/device-groups/{GROUPS[0]}/devices/", json=envelope([device(1)], total=1))
    panel = signed_in.get(f"/device-groups/{GROUPS[0]}/devices/", HTTP_HX_REQUEST="true")
    assert "Sensor 1" in panel.content.decode()
    assert len(api.calls) == 3
    assert SENTINEL_KEY not in html + detail + panel.content.decode()


def test_an_edit_made_upstream_but_not_recorded_is_not_called_unsaved(signed_in, api, monkeypatch):
    api.get(f"{API}/v3/devices/{DEVICE_ID}/", json=full_device())
    api.put(
        f"{API}/v3/devices/{DEVICE_ID}/",
        json=full_device(name="New name"),
        headers={"X-Request-ID": "up-edit-1"},
    )

    def database_down(*args, **kwargs):
        from django.db import OperationalError

        raise OperationalError("database is locked")

    monkeypatch.setattr(ActivityEntry.objects, "create", database_down)
    signed_in.raise_request_exception = False
    response = signed_in.post(f"/devices/{DEVICE_ID}/edit/", {"name": "New name"})
    html = response.content.decode()
    assert response.status_code == 503
    assert "could not record it" in html
    assert "Nothing was saved" not in html
    assert "up-edit-1" in html
    assert [c.request.method for c in api.calls].count("PUT") == 1
