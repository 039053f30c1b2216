"""The device list: filters in the API's own syntax, canonical URLs, load more, errors."""

from urllib.parse import parse_qs, urlsplit

import pytest
from responses import matchers

from dmportal.devices.columns import DEFAULT
from tests.conftest import API, SENTINEL_KEY, device, envelope, error_body, joined_ids

pytestmark = pytest.mark.django_db
DEVICES = f"{API}/v3/devices/"
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "listing"}


def sent_params(api, index=0):
    return {k: v[0] for k, v in parse_qs(urlsplit(api.calls[index].request.url).query).items()}


def test_first_page_shows_rows_and_total(signed_in, api):
    items = [device(i) for i in range(3)]
    api.get(DEVICES, json=envelope(items, has_more=True, total=2000))
    response = signed_in.get("/devices/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>2,000</strong> devices" in html
    for item in items:
        assert item["id"] in html
    assert 'id="devices-pager"' in html
    assert f"after={items[-1]['id']}" in html
    assert sent_params(api) == {"limit": "50", "order": "DESC", "include": "total_count"}
    assert len(api.calls) == 1


def test_filters_are_sent_in_the_api_syntax(signed_in, api):
    api.get(DEVICES, json=envelope([device(1)], total=1))
    url = (
        "/devices/?state__in=registered,bootstrapped&created_at__gte=2025-01-01T00:00:00Z"
        "&name__eq=Boiler%20room&operator_suspended__eq=false&order=ASC&limit=100"
    )
    response = signed_in.get(url)
    assert response.status_code == 200
    assert sent_params(api) == {
        "state__in": "registered,bootstrapped",
        "created_at__gte": "2025-01-01T00:00:00Z",
        "name__eq": "Boiler room",
        "operator_suspended__eq": "false",
        "order": "ASC",
        "limit": "100",
        "include": "total_count",
    }


def test_a_plain_form_submit_is_redirected_to_the_canonical_url(signed_in, api):
    # What a browser without JavaScript sends: the multi-select repeats its name.
    response = signed_in.get(
        "/devices/?name__op=&name__in=&state__op=&state__in=registered&state__in=bootstrapped"
        "&created_at__gte=2025-01-01&order=DESC&limit=50"
    )
    assert response.status_code == 302
    assert response["Location"] == (
        "/devices/?state__in=registered,bootstrapped&created_at__gte=2025-01-01T00:00:00Z"
    )
    assert len(api.calls) == 0


def test_one_value_becomes_eq_and_several_become_in(signed_in, api):
    response = signed_in.get("/devices/?serial_number__in=SN-1&endpoint_name__in=a,%20b%0Ac")
    assert response["Location"] == ("/devices/?endpoint_name__in=a,b,c&serial_number__eq=SN-1")


def test_htmx_filter_submit_returns_the_listing_and_pushes_the_canonical_url(signed_in, api):
    api.get(DEVICES, json=envelope([device(1)], total=1))
    response = signed_in.get("/devices/?state__in=registered&limit=50", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<div id="listing">' in html
    assert "<html" not in html  # a fragment, not a page
    assert response["HX-Push-Url"] == "/devices/?state__eq=registered"
    assert "HX-Request" in response["Vary"]


def test_load_more_returns_only_rows_with_one_call(signed_in, api):
    cursor = f"{5:032x}"
    items = [device(i) for i in range(6, 9)]
    api.get(
        DEVICES,
        json=envelope(items, has_more=False),
        match=[matchers.query_param_matcher({"after": cursor, "limit": "50", "order": "DESC"})],
    )
    response = signed_in.get(
        f"/devices/?after={cursor}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="devices-pager"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("<tr>")
    assert html.count("<tr>") == 3
    assert "pager" not in html  # has_more is false: the button disappears
    assert "<form" not in html
    assert "<thead" not in html
    assert "HX-Push-Url" not in response  # the cursor is never pushed
    assert len(api.calls) == 1


def test_load_more_keeps_the_filters(signed_in, api):
    items = [device(i) for i in range(2)]
    api.get(DEVICES, json=envelope(items, has_more=True, total=10))
    response = signed_in.get("/devices/?state__eq=registered&limit=2")
    html = response.content.decode()
    columns = ",".join(DEFAULT)
    assert (
        f"/devices/?state__eq=registered&amp;limit=2&amp;columns={columns}&amp;after={items[-1]['id']}"
        in html
    )


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("created_at__gte=yesterday", "created_at__gte", "Enter a date"),
        ("limit=0", "limit", "between 2 and 1000"),
        ("limit=5000", "limit", "between 2 and 1000"),
        ("limit=abc", "limit", "whole number"),
        ("state__in=flying", "state__in", "not one of the known values"),
        ("id__eq=not-an-id", "id__in", "is not a device id"),
        (
            "created_at__gte=2025-02-01&created_at__lte=2025-01-01",
            "created_at__lte",
            "before its start",
        ),
    ],
)
def test_bad_filters_are_shown_on_the_field_without_calling_the_api(
    signed_in, api, query, field, message
):
    response = signed_in.get(f"/devices/?{query}")
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert f'name="{field}"' in html
    assert "nothing was searched" in html
    assert len(api.calls) == 0


def test_bad_filter_input_is_kept_in_the_form(signed_in, api):
    response = signed_in.get("/devices/?created_at__gte=31/12/2025&name__in=Boiler")
    html = response.content.decode()
    assert 'value="31/12/2025"' in html
    assert 'value="Boiler"' in html


def test_api_validation_error_is_mapped_onto_the_form_field(signed_in, api):
    api.get(
        DEVICES,
        status=400,
        json=error_body(
            400, "validation_error", fields=[("serial_number__eq", "Serial too exotic.")]
        ),
    )
    response = signed_in.get("/devices/?serial_number__eq=X")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Serial too exotic." in html


def test_api_validation_error_on_an_unknown_field_is_shown_above_with_request_id(signed_in, api):
    api.get(
        DEVICES,
        status=400,
        json=error_body(400, "validation_error", request_id="up-400", fields=[("x", "Bad x.")]),
    )
    response = signed_in.get("/devices/")
    html = response.content.decode()
    assert response.status_code == 400
    assert "up-400" in html
    assert "Bad x." in html


def test_empty_result_offers_to_clear_the_filters(signed_in, api):
    api.get(DEVICES, json=envelope([], total=0))
    response = signed_in.get("/devices/?state__eq=deregistered")
    html = response.content.decode()
    assert "No devices match these filters" in html
    assert 'href="/devices/">Clear the filters' in html


def test_upstream_strings_are_escaped(signed_in, api):
    hostile = device(1, name="<img src=x onerror=alert(1)>", serial_number='"><script>x</script>')
    api.get(DEVICES, json=envelope([hostile], total=1))
    html = signed_in.get("/devices/").content.decode()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>x</script>" not in html


def test_a_row_with_a_bad_id_is_shown_without_a_link(signed_in, api):
    api.get(DEVICES, json=envelope([device(1, id="../../admin")], total=1))
    html = joined_ids(signed_in.get("/devices/").content.decode())
    assert 'href="/devices/../../admin/"' not in html
    assert "../../admin" in html


@pytest.mark.parametrize("after", ["<script>", "x" * 100, "../a"])
def test_a_bad_cursor_is_refused_without_calling_the_api(signed_in, api, after):
    response = signed_in.get("/devices/", {"after": after})
    assert response.status_code == 400
    assert len(api.calls) == 0


def test_the_key_never_reaches_the_page(signed_in, api):
    api.get(DEVICES, json=envelope([device(1)], total=1))
    response = signed_in.get("/devices/")
    assert SENTINEL_KEY not in response.content.decode()
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {SENTINEL_KEY}"


# -- every operator, nothing dropped in silence, chips, the order toggle (issue 16) ----------


def test_a_negated_filter_in_a_link_is_kept_and_sent(signed_in, api):
    """`state__nin=deregistered` used to be dropped by the canonical redirect: every device."""
    response = signed_in.get("/devices/?state__nin=deregistered&name__neq=x")
    assert response["Location"] == "/devices/?name__neq=x&state__neq=deregistered"
    api.get(DEVICES, json=envelope([device(1)], total=1))
    page = signed_in.get(response["Location"])
    assert sent_params(api)["state__neq"] == "deregistered"
    assert sent_params(api)["name__neq"] == "x"
    html = page.content.decode()
    assert "State is not: deregistered" in html
    assert '<option value="not" selected>is not</option>' in html


def test_a_parameter_the_list_cannot_use_is_refused_by_name_without_a_call(signed_in, api):
    response = signed_in.get("/devices/?state__eq=registered&colour=red")
    assert response.status_code == 400
    html = response.content.decode()
    assert "“colour” is not a filter of this list." in html
    assert 'href="/devices/?state__eq=registered">Leave it out</a>' in html
    assert len(api.calls) == 0


def test_an_attribute_filter_is_shown_as_kept_and_run_through_filter(signed_in, api):
    api.get(DEVICES, json=envelope([device(1)], total=1))
    response = signed_in.get("/devices/?custom_attributes__site__eq=7")
    assert response.status_code == 200
    assert sent_params(api)["filter"] == "custom_attributes__site__eq=7"
    html = response.content.decode()
    assert "custom_attributes__site__eq = 7 — kept as written" in html
    # Applying the form keeps it (a hidden input), so changing another filter does not drop it.
    assert '<input type="hidden" name="custom_attributes__site__eq" value="7">' in html


def test_each_chip_is_a_link_to_the_list_without_it(signed_in, api):
    api.get(DEVICES, json=envelope([device(1)], total=1))
    html = signed_in.get("/devices/?state__in=registered,bootstrapped&name__eq=x").content.decode()
    assert 'href="/devices/?state__in=registered,bootstrapped"' in html  # without the name
    assert 'href="/devices/?name__eq=x"' in html  # without the state
    assert 'aria-label="Remove the filter Name: x"' in html


def test_the_created_header_toggles_the_api_s_one_order(signed_in, api):
    api.get(DEVICES, json=envelope([device(1)], total=1))
    html = signed_in.get("/devices/?state__eq=registered").content.decode()
    assert 'aria-sort="descending"' in html
    assert 'href="/devices/?state__eq=registered&amp;order=ASC"' in html
    assert html.count("aria-sort") == 1  # no other column pretends to sort
