"""Encoding of the API's `<field>__<op>` filter parameters.

    encode_filters({"state__in": ["registered", "bootstrapped"],
                    "created_at__gte": datetime(2025, 1, 1, tzinfo=UTC),
                    "operator_suspended__eq": False})
    == {"state__in": "registered,bootstrapped",
        "created_at__gte": "2025-01-01T00:00:00Z",
        "operator_suspended__eq": "false"}

Lists are joined with commas, datetimes are RFC 3339 in UTC with a `Z`, dates are ISO dates,
booleans are `true`/`false`. Empty values are dropped, so an unset form field adds nothing.
"""

import re
from datetime import UTC, date, datetime

from .errors import InvalidRequest

OPERATORS = ("eq", "neq", "in", "nin", "lte", "gte")
FILTER_KEY = re.compile(r"[a-z][a-z0-9_]*?__(" + "|".join(OPERATORS) + ")")


def format_datetime(value):
    """RFC 3339 UTC, as the API documents it: 2016-11-30T16:25:12Z (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        parts = [encode_value(item) for item in value]
        for part in parts:
            if "," in part:
                raise InvalidRequest(f"A list filter value cannot contain a comma: {part!r}.")
        return ",".join(part for part in parts if part != "")
    return str(value)


def encode_filters(filters):
    """{"field__op": value} → query parameters for the API; raises InvalidRequest on bad keys."""
    params = {}
    for key, value in (filters or {}).items():
        if not FILTER_KEY.fullmatch(key):
            raise InvalidRequest(f"{key!r} is not a filter of the form <field>__<op>.")
        if value is None or value == "" or value == [] or value == ():
            continue
        encoded = encode_value(value)
        if encoded != "":
            params[key] = encoded
    return params
