from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from dmportal.dmapi.errors import InvalidRequest
from dmportal.dmapi.filters import encode_filters, format_datetime


def test_lists_datetimes_dates_and_booleans():
    params = encode_filters(
        {
            "state__in": ["registered", "bootstrapped"],
            "created_at__gte": datetime(2025, 1, 1, tzinfo=UTC),
            "created_at__lte": datetime(2025, 1, 31, 23, 59, 59, 500000, tzinfo=UTC),
            "bootstrap_expiration_date__lte": date(2026, 3, 1),
            "operator_suspended__eq": False,
            "system_suspended__neq": True,
            "devices_count__gte": 3,
        }
    )
    assert params == {
        "state__in": "registered,bootstrapped",
        "created_at__gte": "2025-01-01T00:00:00Z",
        "created_at__lte": "2025-01-31T23:59:59.500Z",
        "bootstrap_expiration_date__lte": "2026-03-01",
        "operator_suspended__eq": "false",
        "system_suspended__neq": "true",
        "devices_count__gte": "3",
    }


def test_datetimes_are_converted_to_utc():
    plus_two = timezone(timedelta(hours=2))
    assert format_datetime(datetime(2016, 11, 30, 18, 25, 12, tzinfo=plus_two)) == (
        "2016-11-30T16:25:12Z"
    )
    assert format_datetime(datetime(2016, 11, 30, 16, 25, 12)) == "2016-11-30T16:25:12Z"


def test_empty_values_add_nothing():
    assert encode_filters({"name__eq": "", "state__in": [], "id__eq": None}) == {}
    assert encode_filters(None) == {}


@pytest.mark.parametrize(
    "key", ["state", "state__like", "state__in__x", "__eq", "State__eq", "a b__eq", "x;__eq"]
)
def test_keys_must_be_field_and_known_operator(key):
    with pytest.raises(InvalidRequest):
        encode_filters({key: "x"})


def test_all_six_operators_are_accepted():
    params = encode_filters({f"name__{op}": "x" for op in ("eq", "neq", "in", "nin", "lte", "gte")})
    assert len(params) == 6


def test_a_list_item_cannot_smuggle_a_comma():
    with pytest.raises(InvalidRequest):
        encode_filters({"name__in": ["a,b", "c"]})
