"""Which filters each list endpoint of the API takes, and how each can be sent.

The facts come from the spec (`x-filter` of each list, joined with the fields' types, and the
documentation of the legacy `filter=` parameter), derived by scripts/derive_api_facts.py into
list_filters.json beside this module; nothing here reads the spec or a test fixture.

A filter parameter `<field>__<op>` reaches the API one of two ways:

- `"param"`: as its own query parameter, when the field's `x-filter` declares the operator;
- `"filter"`: inside the legacy `filter=` string, for what only that syntax documents:
  equality (`__eq`/`__neq`) on any filterable field, and the attribute maps
  (`custom_attributes__<key>`, `component_attributes__<name>`) with `eq`, `neq`, `in`, `nin`.

Anything else is not a filter of that list: the API would ignore it (as a parameter) or refuse
it (inside `filter=`), so dmportal refuses it before calling.
"""

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

OPERATORS = ("eq", "neq", "in", "nin", "lte", "gte")
LEGACY_OPERATORS = ("eq", "neq")
ATTRIBUTE_OPERATORS = ("eq", "neq", "in", "nin")
# An attribute's key as the device edit form allows it (a letter or underscore first).
ATTRIBUTE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-:]{0,127}")
FACTS = Path(__file__).with_name("list_filters.json")


def split(param):
    """`state__nin` → ("state", "nin"); a name without an operator suffix → (name, None)."""
    base, sep, op = param.rpartition("__")
    if sep and op in OPERATORS:
        return base, op
    return param, None


@dataclass(frozen=True)
class ListFilters:
    """The filters of one list endpoint (`path` as the spec spells it)."""

    path: str
    filters: dict  # field -> {"ops": [...], "type": "string" | "date-time" | ..., "enum": [...]}
    legacy_filter: bool
    attribute_maps: tuple

    def ops(self, field):
        """The operators `x-filter` declares for `field` (empty when it is no filter)."""
        spec = self.filters.get(field)
        return tuple(spec["ops"]) if spec else ()

    def attribute(self, base):
        """(map, key) when `base` is `custom_attributes__<key>` of a map this list takes."""
        for mapping in self.attribute_maps:
            key = base.removeprefix(f"{mapping}__")
            if key != base and ATTRIBUTE_KEY.fullmatch(key):
                return mapping, key
        return None

    def is_field(self, base):
        """Whether `base` (a parameter without its operator) names something this list filters."""
        return base in self.filters or self.attribute(base) is not None

    def route(self, param):
        """How the filter parameter `param` (`<field>__<op>`) can be sent: "param", "filter",
        or None when this list has no such filter."""
        base, op = split(param)
        if op is None:
            return None
        if op in self.ops(base):
            return "param"
        if not self.legacy_filter:
            return None
        if base in self.filters and op in LEGACY_OPERATORS:
            return "filter"
        if self.attribute(base) is not None and op in ATTRIBUTE_OPERATORS:
            return "filter"
        return None


@cache
def _all():
    return json.loads(FACTS.read_text(encoding="utf-8"))["lists"]


@cache
def list_filters(path):
    """The filters of the list at `path` (e.g. "/v3/devices/"), or None for a path the spec
    facts do not hold."""
    facts = _all().get(path)
    if facts is None:
        return None
    return ListFilters(
        path=path,
        filters=facts["filters"],
        legacy_filter=facts["legacy_filter"],
        attribute_maps=tuple(facts["attribute_maps"]),
    )
