"""core/listing.py: filter fields, the list form's canonical query, the keyset of dmportal's
own rows, and list_response's choice of page, partial or redirect."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import QueryDict
from django_htmx.middleware import HtmxDetails

from dmportal.accounts.models import ActivityEntry
from dmportal.core.listing import Keyset, RowsForm, RowsPage, Table, list_response, parse_datetime
from dmportal.devices.forms import DeviceFilterForm
from dmportal.dmapi import errors as api
from dmportal.dmapi.pages import Page

AN_ID = "0179b7c1e6a80000000000010010a3f5"


def form(query):
    """The device list's form (its filters have every kind of field), bound and valid."""
    bound = DeviceFilterForm(QueryDict(query))
    assert bound.is_valid(), bound.errors
    return bound


# -- filters and the canonical query -----------------------------------------------------------


def test_one_value_is_eq_several_are_in():
    assert form("name__in=Boiler").api_filters() == {"name__eq": "Boiler"}
    assert form("name__eq=Boiler").api_filters() == {"name__eq": "Boiler"}
    assert form("name__in=A,B&name__in=C").api_filters() == {"name__in": ["A", "B", "C"]}
    assert form("state__in=registered&state__in=bootstrapped").api_filters() == {
        "state__in": ["registered", "bootstrapped"]
    }


def test_values_are_split_on_commas_or_lines_and_spaces_only_for_patterned_fields():
    assert form("name__in=Leeds boiler").api_filters() == {"name__eq": "Leeds boiler"}
    ids = f"{AN_ID} {AN_ID[:-1]}1"
    assert form(f"id__in={ids}").api_filters() == {"id__in": [AN_ID, AN_ID[:-1] + "1"]}


@pytest.mark.parametrize("bad", [AN_ID.upper(), AN_ID + "0", AN_ID[:-1], "x"])
def test_a_patterned_value_must_match_whole(bad):
    bound = DeviceFilterForm(QueryDict(f"id__in={bad}"))
    assert not bound.is_valid()
    assert "is not a device id" in bound.errors["id__in"][0]


def test_the_canonical_query_and_whether_a_query_is_it():
    bound = form("created_at__gte=2025-01-31&name__in=A&name__in=B&order=ASC&limit=50")
    assert bound.canonical_query() == "name__in=A,B&created_at__gte=2025-01-31T00:00:00Z&order=ASC"
    assert bound.is_canonical(QueryDict(bound.canonical_query()))
    assert not bound.is_canonical(QueryDict("name__in=A&name__in=B&order=ASC"))
    assert form("").canonical_query() == ""
    assert form("operator_suspended__eq=TRUE").canonical_query() == "operator_suspended__eq=true"


def test_a_range_that_ends_before_it_starts_is_refused():
    bound = DeviceFilterForm(QueryDict("created_at__gte=2025-02-01&created_at__lte=2025-01-01"))
    assert not bound.is_valid()
    assert bound.errors["created_at__lte"] == ["The end of the range is before its start."]


def test_the_api_names_a_parameter_and_the_form_knows_its_field():
    bound = form("")
    assert bound.field_for_param("name__eq") == "name__in"
    assert bound.field_for_param("limit") == "limit"
    assert bound.field_for_param("nonsense") is None


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        ("2025-01-31", False, datetime(2025, 1, 31, tzinfo=UTC)),
        ("2025-01-31", True, datetime(2025, 1, 31, 23, 59, 59, tzinfo=UTC)),
        ("20250131T120000Z", False, datetime(2025, 1, 31, 12, tzinfo=UTC)),
        ("2025-01-31T12:00:00+02:00", False, datetime(2025, 1, 31, 10, tzinfo=UTC)),
        ("2025-01-31 12:00", False, datetime(2025, 1, 31, 12, tzinfo=UTC)),
        ("2025-02-30", False, None),
        ("yesterday", False, None),
        # Second reading of issue 14: in UTC these fall outside Python's dates (was a 500).
        ("9999-12-31T23:59:59-23:59", False, None),
        ("0001-01-01T00:00:00+23:59", False, None),
        ("\uff12\uff10\uff12\uff15-\uff10\uff11-\uff13\uff11", False, None),  # fullwidth digits
    ],
)
def test_parse_datetime(text, end, expected):
    assert parse_datetime(text, end_of_day=end) == expected


def test_a_time_outside_pythons_dates_is_a_field_error_not_a_500(signed_in, api):
    response = signed_in.get("/devices/", {"created_at__gte": "9999-12-31T23:59:59-23:59"})
    assert response.status_code == 400
    assert "Enter a date like 2025-01-31" in response.content.decode()
    assert len(api.calls) == 0


# -- the keyset of dmportal's own rows ---------------------------------------------------------


@pytest.fixture
def entries(db, user):
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    made = []
    for i in range(7):
        entry = ActivityEntry.objects.create(user=user, username="alice", action=f"a{i}")
        # Pairs at the same moment: the pk orders them.
        ActivityEntry.objects.filter(pk=entry.pk).update(
            created_at=moment + timedelta(seconds=i // 2)
        )
        made.append(entry)
    return made


def test_a_keyset_walks_newest_first_without_repeats(entries, user):
    keyset = Keyset("created_at", "pk")
    rows = ActivityEntry.objects.filter(user=user)
    seen, after = [], None
    while True:
        page = keyset.page(rows, after=after, limit=3)
        seen += [e.action for e in page.items]
        if page.next_cursor is None:
            break
        assert keyset.check(page.next_cursor)
        after = page.next_cursor
    assert seen == [f"a{i}" for i in range(6, -1, -1)]
    assert page.after == after
    assert (page.total_count, page.stopped) == (None, None)


def test_a_keyset_cursor_is_ascii_numbers(entries, user):
    keyset = Keyset("created_at", "pk")
    cursor = keyset.page(ActivityEntry.objects.all(), after=None, limit=1).next_cursor
    micros, pk = cursor.split("-")
    assert int(micros) == int(datetime(2025, 1, 1, 0, 0, 3, tzinfo=UTC).timestamp() * 1e6)
    assert int(pk) == entries[-1].pk
    for bad in ("1", "1-2-3", "a-1", "\u0661-1", "1-1\n", "99999999999999999999-1"):
        with pytest.raises(api.InvalidRequest, match="cursor"):
            keyset.page(ActivityEntry.objects.all(), after=bad, limit=1)


def test_rows_forms_filter_with_their_cleaned_values():
    class CallForm(RowsForm):
        from django import forms

        status = forms.ChoiceField(choices=[("", "All"), ("errors", "Errors")], required=False)
        q = forms.CharField(required=False)

    bound = CallForm(QueryDict("q=abc&status="))
    assert bound.is_valid()
    assert bound.api_filters() == {"q": "abc"}
    assert bound.canonical_query() == "q=abc"
    assert (bound.limit, bound.order) == (50, "DESC")
    assert not bound.is_canonical(QueryDict("q=abc&status="))
    assert bound.field_for_param("q") is None


def test_the_next_url_keeps_the_filters():
    page = RowsPage([object()], next_cursor="12")
    kwargs = {"path": "/x/", "page": page, "columns": 3, "template": "t.html"}
    assert Table("t", query="", **kwargs).next_url == "/x/?after=12"
    assert Table("t", query="q=a", **kwargs).next_url == "/x/?q=a&after=12"
    assert Table("t", query="q=a", **{**kwargs, "page": RowsPage([])}).next_url is None


# -- list_response ------------------------------------------------------------------------------


def get(rf, query="", **headers):
    request = rf.get(f"/devices/?{query}", **headers)
    request.htmx = HtmxDetails(request)
    request.request_id = "f" * 32
    return request


def respond(request, fetch):
    return list_response(
        request,
        template="devices/device_group_list.html",
        form=DeviceFilterForm(request.GET),
        fetch=fetch,
        table_id="groups",
        columns=5,
    )


def groups(**kwargs):
    return Page([{"id": AN_ID, "name": "G"}], has_more=True, total_count=9)


def test_a_plain_submit_goes_to_the_canonical_url(rf):
    response = respond(get(rf, "name__in=A&limit=50&created_at__lte="), groups)
    assert (response.status_code, response["Location"]) == (302, "/devices/?name__eq=A")


def test_a_filter_submit_gets_the_listing_and_pushes_its_url(rf):
    response = respond(get(rf, "name__in=A", HTTP_HX_REQUEST="true"), groups)
    html = response.content.decode()
    assert response["HX-Push-Url"] == "/devices/?name__eq=A"
    assert html.lstrip().startswith('<div id="listing">')
    assert "/devices/?name__eq=A&amp;after=" + AN_ID in html


def test_load_more_gets_rows_only_and_a_history_restore_the_page(rf):
    asked = {}

    def fetch(**kwargs):
        asked.update(kwargs)
        return groups()

    rows = respond(get(rf, f"after={AN_ID}", HTTP_HX_REQUEST="true"), fetch).content.decode()
    assert rows.startswith("<tr>")
    assert (asked["after"], asked["include_total"]) == (AN_ID, False)  # counted once
    restore = get(
        rf, f"after={AN_ID}", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    restore.user = AnonymousUser()
    page = respond(restore, fetch).content.decode()
    assert "<html" in page
    assert 'id="listing"' in page
    with pytest.raises(api.InvalidRequest, match="not an id"):
        respond(get(rf, "after=%3Cscript%3E", HTTP_HX_REQUEST="true"), fetch)


def test_the_apis_400_goes_onto_the_filter_it_names(rf):
    def refuse(**kwargs):
        raise api.BadRequest(status=400, fields=[("name__eq", "Too long.")])

    response = respond(get(rf, "name__eq=A", HTTP_HX_REQUEST="true"), refuse)
    assert response.status_code == 400
    assert "Too long." in response.content.decode()


def test_a_failed_first_page_is_shown_in_the_list_and_a_failed_load_more_raised(rf):
    def busy(**kwargs):
        raise api.ServerError(status=503)

    response = respond(get(rf, "", HTTP_HX_REQUEST="true"), busy)
    assert response.status_code == 503
    assert "The Device Management service is busy" in response.content.decode()
    assert 'id="listing"' in response.content.decode()  # the filters stay
    with pytest.raises(api.ServerError):
        respond(get(rf, f"after={AN_ID}", HTTP_HX_REQUEST="true"), busy)
