"""core/listing.py: every operator the spec allows, filters no field edits kept as written, a
parameter the list cannot use refused, chips, and the facts they come from (dmapi/lists.py)."""

import json
from pathlib import Path

import pytest
from django import forms
from django.http import QueryDict

from dmportal.core.listing import ChoicesFilter, ListForm, RowsForm
from dmportal.devices.forms import (
    DeviceFilterForm,
    DeviceGroupDevicesForm,
    DeviceGroupFilterForm,
    EventListForm,
)
from dmportal.dmapi.lists import list_filters
from tests.conftest import SENTINEL_KEY

ROOT = Path(__file__).resolve().parents[2]


def bound(query, form_class=DeviceFilterForm):
    return form_class(QueryDict(query))


def valid(query, form_class=DeviceFilterForm):
    form = bound(query, form_class)
    assert form.is_valid(), form.errors
    return form


# -- the facts -------------------------------------------------------------------------------


def test_the_list_facts_agree_with_the_spec_facts_of_every_list():
    """dmapi/list_filters.json (what dmportal reads) says what the simulator's facts say."""
    facts = json.loads((ROOT / "dmportal/simulator/api_facts.json").read_text())["operations"]
    for key, operation in facts.items():
        method, path = key.split(" ", 1)
        if method != "GET" or not operation.get("list"):
            continue
        mine = list_filters(path)
        assert mine is not None, path
        assert mine.filters == operation["filters"], path
        assert mine.legacy_filter == ("filter" in operation["query"]), path
    assert list_filters("/v3/devices/").attribute_maps == (
        "custom_attributes",
        "component_attributes",
    )
    assert list_filters("/v3/device-events/").attribute_maps == ()
    assert list_filters("/v3/nothing/") is None


@pytest.mark.parametrize(
    ("param", "route"),
    [
        ("state__nin", "param"),
        ("created_at__in", "param"),
        ("created_at__eq", "filter"),  # equality on a date-time: only the legacy syntax has it
        ("custom_attributes__site__eq", "filter"),
        ("component_attributes__ble__nin", "filter"),
        ("custom_attributes__site__gte", None),
        ("name__like", None),
        ("colour__eq", None),
        ("state", None),
    ],
)
def test_how_a_filter_parameter_reaches_the_devices_list(param, route):
    assert list_filters("/v3/devices/").route(param) == route


def test_a_group_s_devices_have_no_legacy_filter_so_attributes_cannot_be_sent():
    facts = list_filters("/v3/device-groups/{device-group-id}/devices/")
    assert facts.route("state__neq") == "param"
    assert facts.route("custom_attributes__site__eq") is None


# -- every operator ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "sent", "canonical"),
    [
        ("state__nin=deregistered", {"state__neq": "deregistered"}, "state__neq=deregistered"),
        ("state__neq=deregistered", {"state__neq": "deregistered"}, "state__neq=deregistered"),
        (
            "state__nin=unenrolled,deregistered",
            {"state__nin": ["unenrolled", "deregistered"]},
            "state__nin=unenrolled,deregistered",
        ),
        ("name__neq=x", {"name__neq": "x"}, "name__neq=x"),
        ("name__nin=a,b", {"name__nin": ["a", "b"]}, "name__nin=a,b"),
        ("serial_number__eq=S1", {"serial_number__eq": "S1"}, "serial_number__eq=S1"),
        (
            "lifecycle_status__op=not&lifecycle_status__in=blocked",
            {"lifecycle_status__neq": "blocked"},
            "lifecycle_status__neq=blocked",
        ),
        ("name__op=not&name__in=a,b", {"name__nin": ["a", "b"]}, "name__nin=a,b"),
        ("operator_suspended__neq=true", {"operator_suspended__eq": False}, None),
        (
            "connector_expiration_date__lte=2026-01-31",
            None,
            "connector_expiration_date__lte=2026-01-31",
        ),
    ],
)
def test_every_operator_of_a_field_is_read_kept_and_sent(query, sent, canonical):
    form = valid(query)
    if sent is not None:
        assert form.api_filters() == sent
    if canonical is not None:
        assert form.canonical_query() == canonical
    assert form.is_filtered()


def test_a_negated_link_is_no_longer_dropped():
    """Before, `state__nin=deregistered` became `/devices/` (every device), silently."""
    form = valid("state__nin=deregistered")
    assert form.canonical_query() != ""
    assert [chip.text for chip in form.chips()] == ["State is not: deregistered"]


def test_the_form_shows_is_not_for_a_negated_filter():
    form = valid("state__nin=deregistered&name__neq=x")
    assert form["state__in"].op.negated
    assert form["name__in"].op.negated
    assert form["name__in"].op.name == "name__op"
    assert not form["serial_number__in"].op.negated
    assert form["created_at__gte"].op is None  # a bound has no "is not"
    assert 'value="x"' in str(form["name__in"])


def test_an_is_or_is_not_that_is_neither_is_refused():
    form = bound("state__op=maybe&state__in=registered")
    assert not form.is_valid()
    assert form.errors["state__in"] == ["Choose “is” or “is not”."]


def test_a_list_without_negation_in_its_spec_offers_none():
    """Team lists name no endpoint: their choice fields keep eq/in, no "is not"."""

    class Plain(ListForm):
        status__in = ChoicesFilter("status", choices=("A", "B"), label="Status")

    form = Plain(QueryDict("status__in=A"))
    assert form.is_valid()
    assert "status__op" not in form.fields
    refused = Plain(QueryDict("status__nin=A"))
    assert not refused.is_valid()
    assert "“status__nin” is not a filter of this list" in refused.non_field_errors()[0]


def test_both_polarities_of_one_field_keep_both_filters():
    form = valid("state__in=registered,bootstrapped&state__nin=deregistered")
    assert form.api_filters() == {
        "state__in": ["registered", "bootstrapped"],
        "state__nin": "deregistered",
    }


# -- filters no field edits -------------------------------------------------------------------


def test_an_api_filter_without_a_field_is_kept_as_written_and_sent():
    form = valid("account_id__neq=" + "a" * 32 + "&created_at__in=2025-01-01T00:00:00Z")
    assert form.api_filters() == {
        "account_id__neq": "a" * 32,
        "created_at__in": "2025-01-01T00:00:00Z",
    }
    assert form.api_params() == {}
    assert [chip.kept for chip in form.chips()] == [True, True]
    assert form.chips()[0].text == f"account_id__neq = {'a' * 32} — kept as written"


def test_an_attribute_filter_goes_through_the_legacy_filter_parameter():
    form = valid("state__eq=registered&custom_attributes__site__eq=7")
    assert form.api_filters() == {"state__eq": "registered"}
    assert form.api_params() == {"filter": "custom_attributes__site__eq=7"}
    assert form.canonical_query() == "state__eq=registered&custom_attributes__site__eq=7"
    assert form.chips()[1].text == "custom_attributes__site__eq = 7 — kept as written"


def test_the_legacy_filter_parameter_and_bare_names_are_unpacked():
    form = valid(
        "filter=state%3Dbootstrapped%26deployed_state%3Dproduction%26custom_attributes__site%3D7"
    )
    assert form.canonical_query() == (
        "state__eq=bootstrapped&deployed_state__eq=production&custom_attributes__site__eq=7"
    )
    # A filter given both ways: the separate parameter wins, as at the API.
    form = valid("state__eq=registered&filter=state%3Dbootstrapped")
    assert form.api_filters() == {"state__eq": "registered"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("colour=red", "“colour” is not a filter of this list"),
        ("name__like=gateway", "this list filters name only with __eq, __in, __neq, __nin"),
        ("custom_attributes__site__gte=7", "is not a filter of this list"),
        ("account_id__eq=a&account_id__eq=b", "is given more than once"),
        ("account_id__eq=", "has an empty value"),
        ("created_at__in=yesterday", "is not a date-time"),
        ("bootstrap_expiration_date__gte=2025-02-30", "is not a date"),
        ("auto_update__eq=yes", "is not true or false"),
        ("device_execution_mode__eq=7", "is not one of: 0, 1, 5"),
        ("device_execution_mode__nin=0,7", "“7” is not one of"),
        ("account_id__in=" + ",".join("a" * 101), "at most 100 values"),
        ("include=total_count", "“include” is not a filter"),
    ],
)
def test_a_parameter_the_list_cannot_use_is_refused_by_name(query, message):
    form = bound(query)
    assert not form.is_valid()
    assert message in " ".join(form.non_field_errors())
    assert form.chips() == []


def test_a_kept_value_is_checked_against_its_type_and_a_time_sent_in_the_api_s_form():
    form = valid("created_at__in=20250131T120000Z,2025-02-01T00:00:00%2B01:00&auto_update__eq=TRUE")
    assert form.api_filters() == {
        "created_at__in": "2025-01-31T12:00:00Z,2025-01-31T23:00:00Z",
        "auto_update__eq": "true",
    }


def test_a_flood_of_unknown_parameters_names_a_few():
    form = bound("&".join(f"p{n}=v" for n in range(50)))
    errors = form.non_field_errors()
    assert len(errors) == 6
    assert errors[-1] == "… and 45 more parameters like these."


def test_other_lists_keep_or_refuse_by_their_own_endpoint():
    assert valid("devices_count__gte=3", DeviceGroupFilterForm).api_filters() == {
        "devices_count__gte": "3"
    }
    assert not bound("custom_attributes__site__eq=7", DeviceGroupDevicesForm).is_valid()
    assert valid("state__neq=registered", DeviceGroupDevicesForm).api_filters() == {
        "state__neq": "registered"
    }
    assert valid("event_type__eq=X", EventListForm).api_filters() == {"event_type__eq": "X"}


def test_a_list_of_dmportal_s_own_rows_refuses_what_it_does_not_read():
    class Calls(RowsForm):
        q = forms.CharField(required=False)

    assert Calls(QueryDict("q=x&after=1")).is_valid()
    form = Calls(QueryDict("q=x&colour=red"))
    assert not form.is_valid()
    assert "“colour” is not a filter of this list." in form.non_field_errors()


# -- chips ------------------------------------------------------------------------------------


def test_each_chip_links_to_the_list_without_its_filter():
    form = valid(
        "state__in=registered,bootstrapped&name__eq=x&custom_attributes__site__eq=7&order=ASC"
    )
    chips = {chip.text: chip.query for chip in form.chips()}
    assert chips == {
        "Name: x": "state__in=registered,bootstrapped&custom_attributes__site__eq=7&order=ASC",
        "State: registered, bootstrapped": "name__eq=x&custom_attributes__site__eq=7&order=ASC",
        "custom_attributes__site__eq = 7 — kept as written": (
            "name__eq=x&state__in=registered,bootstrapped&order=ASC"
        ),
    }


def test_without_filters_the_url_says_what_the_view_sets_for_no_filter():
    form = valid("state__eq=registered")
    form.empty_pairs = (("all", "1"),)
    assert form.chips()[0].query == "all=1"
    assert form.empty_query() == "all=1"
    assert valid("all=1").canonical_query() == ""


def test_the_saved_query_is_the_filters_without_order_or_page_size():
    form = valid(
        "state__nin=a_b&order=ASC&limit=100&name__eq=Boiler%20room%26co".replace(
            "a_b", "deregistered"
        )
    )
    assert form.query_text() == "name__eq=Boiler%20room%26co&state__neq=deregistered"
    again = valid(form.query_text())
    assert again.api_filters() == form.api_filters()


def test_the_order_toggle_keeps_the_filters():
    assert valid("state__eq=registered").order_query() == "state__eq=registered&order=ASC"
    assert valid("state__eq=registered&order=ASC").order_query() == "state__eq=registered"


@pytest.mark.parametrize(
    "query",
    [
        f"custom_attributes__site__eq={SENTINEL_KEY}",
        f"filter=custom_attributes__site__eq%3D{SENTINEL_KEY}",
        f"{SENTINEL_KEY}=1",
        f"account_id__eq={SENTINEL_KEY}&state__eq=registered",
    ],
)
def test_a_key_in_a_parameter_no_field_reads_is_refused_never_kept_or_named(query):
    form = bound(query)
    assert not form.is_valid()
    assert form.extras == []
    assert form.key_refused
    text = " ".join(form.non_field_errors()) + form.query_without_refused()
    assert SENTINEL_KEY not in text
    assert "looks like an API key" in form.key_refusal()
