"""List query parsing: ``limit``/``after``/``order``/``include`` and ``<field>__<op>`` filters.

The allowed fields and operators of each list come from the spec's ``x-filter`` map (see
``api_facts.json``), together with each field's declared type and enum, so a malformed value
(bad date-time, unknown enum member, non-boolean) is rejected with a 400 ``validation_error``
whose ``fields`` name the offending query parameter, as the real service does.

Two spellings of a filter:

* Query parameters ``<field>__<op>=<value>``. A parameter that is not a filter of this list
  (``colour=red``, ``name__like=x``) is ignored, as the service ignores unknown parameters.
* The legacy ``filter=<url-encoded query string>`` where the spec declares it (devices, device
  groups, device queries, device events): the string is unpacked as written
  (``state=registered&custom_attributes__site__eq=7``; a bare ``field=value`` means ``__eq``).
  Its documentation makes every field filterable with equality ("= / __eq / __neq", also on
  date-times), so ``eq``/``neq`` are accepted on every ``x-filter`` field there. Because the
  whole string is a filter, an unknown field or operator inside it is a 400 naming ``filter``
  rather than silently widening the result. A parameter given both ways: the top-level one wins.

Attribute maps (device and device-group lists): ``custom_attributes__<key>[__op]`` and
``component_attributes__<name>[__op]`` with ``eq`` (the default), ``neq``, ``in`` and ``nin``,
compared as strings; a device without the key matches ``neq`` and ``nin``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from . import errors
from .ids import ID_RE, canonical_us, parse_date, parse_datetime

OPS = ("eq", "neq", "in", "nin", "lte", "gte")
ATTRIBUTE_MAPS = ("custom_attributes", "component_attributes")
ATTRIBUTE_OPS = ("eq", "neq", "in", "nin")
LEGACY_PARAM = "filter"
DEFAULT_LIMIT = 50
MIN_LIMIT, MAX_LIMIT = 2, 1000
_MISSING = object()


@dataclass(frozen=True)
class Predicate:
    field: str
    op: str
    value: Any  # a typed scalar, or a frozenset for in/nin
    param: str
    kind: str  # string | integer | boolean | date | date-time | array | custom
    key: str | None = None  # the attribute name, for custom_attributes__<key>

    @property
    def indexable(self) -> bool:
        if self.kind == "boolean":
            return self.op == "eq"
        return self.op in ("eq", "in") and self.kind in ("string", "integer")

    def values(self) -> frozenset:
        return self.value if self.op in ("in", "nin") else frozenset((self.value,))

    def test(self, obj: dict) -> bool:
        if self.kind == "custom":
            actual = (obj.get(self.field) or {}).get(self.key)
        elif self.kind == "array":
            ids = {p.get("id") for p in obj.get(self.field) or () if isinstance(p, dict)}
            return (self.value in ids) == (self.op == "eq")
        else:
            actual = obj.get(self.field)
        op = self.op
        if op == "eq":
            return actual == self.value
        if op == "neq":
            return actual != self.value
        if op == "in":
            return actual in self.value
        if op == "nin":
            return actual not in self.value
        if actual is None:
            return False
        # Date-times are stored fixed-width (iso_us) and dates as YYYY-MM-DD, so text order is
        # time order; integers compare as integers.
        return actual <= self.value if op == "lte" else actual >= self.value


@dataclass
class ListQuery:
    limit: int = DEFAULT_LIMIT
    after: str | None = None
    order: str = "ASC"
    include: set[str] = field(default_factory=set)
    predicates: list[Predicate] = field(default_factory=list)

    @property
    def want_total(self) -> bool:
        return "total_count" in self.include


def _convert(raw: str, spec: dict, param: str) -> tuple[Any, str | None]:
    """Return (typed value, error message or None) for one filter value."""
    kind = spec["type"]
    try:
        if kind == "integer":
            value: Any = int(raw, 10)
        elif kind == "boolean":
            low = raw.lower()
            if low not in ("true", "false"):
                return None, f"'{raw}' is not a boolean; use true or false."
            value = low == "true"
        elif kind == "date-time":
            value = canonical_us(parse_datetime(raw))
        elif kind == "date":
            value = parse_date(raw).isoformat()
        else:
            value = raw
    except ValueError:
        hint = {
            "integer": "an integer",
            "date-time": "a UTC RFC3339 date-time such as 2016-11-30T16:25:12Z",
            "date": "a date YYYY-MM-DD",
        }.get(kind, "valid")
        return None, f"'{raw}' is not {hint}."
    enum = spec.get("enum")
    if enum is not None and value not in enum:
        allowed = ", ".join(str(e) for e in enum)
        return None, f"'{raw}' is not one of: {allowed}."
    return value, None


def _split(name: str) -> tuple[str, str]:
    """``state__nin`` -> (state, nin); a name without a known operator suffix means ``__eq``."""
    base, sep, op = name.rpartition("__")
    if sep and op in OPS:
        return base, op
    return name, "eq"


def _refuse(name: str, filters: dict, report: str | None, problems: list[dict]) -> None:
    """An unknown filter: ignored at top level (``report`` None), a 400 inside ``filter=``."""
    if report is None:
        return
    base, op = _split(name)
    head, sep, tail = name.rpartition("__")
    if sep and head in filters and tail not in OPS:
        base, op = head, tail
    spec = filters.get(base)
    if spec is not None:
        message = f"'{op}' is not an operator of '{base}'; it takes: {', '.join(spec['ops'])}."
    elif base.startswith(tuple(m + "__" for m in ATTRIBUTE_MAPS)):
        message = f"'{name}': attributes take the operators {', '.join(ATTRIBUTE_OPS)}."
    else:
        message = f"'{base[:100]}' is not a field this list can be filtered on."
    problems.append(errors.field(report, message))


def _build(
    name: str,
    raw: str,
    filters: dict,
    problems: list[dict],
    *,
    attributes: bool,
    report: str | None = None,
) -> Predicate | None:
    """One filter parameter as a predicate. ``report``: the parameter an unknown filter is
    blamed on (``filter``) for the legacy string; None ignores unknown filters."""
    base, op = _split(name)
    legacy = report is not None
    for mapping in ATTRIBUTE_MAPS:
        prefix = mapping + "__"
        if base.startswith(prefix) and mapping not in filters:
            key = base.removeprefix(prefix)
            if not attributes or not key or op not in ATTRIBUTE_OPS:
                _refuse(name, filters, report, problems)
                return None
            if op in ("in", "nin"):
                value: Any = frozenset(part.strip() for part in raw.split(","))
            else:
                value = raw
            return Predicate(mapping, op, value, name, "custom", key)
    spec = filters.get(base)
    ops = () if spec is None else spec["ops"]
    if legacy and spec is not None:
        ops = (*ops, "eq", "neq")  # the legacy table: "= / __eq / __neq" on every field
    if op not in ops:
        _refuse(name, filters, report, problems)
        return None
    kind = spec["type"]
    raws = raw.split(",") if op in ("in", "nin") else [raw]
    values = []
    for part in raws:
        value, problem = _convert(part.strip() if op in ("in", "nin") else part, spec, name)
        if problem:
            # Inside filter= the parameter is "filter"; the message names the filter in it.
            problems.append(
                errors.field(report or name, f"{name}: {problem}" if legacy else problem)
            )
            return None
        values.append(value)
    if op in ("in", "nin"):
        return Predicate(base, op, frozenset(values), name, kind)
    return Predicate(base, op, values[0], name, kind)


# One branch per query parameter the spec's list endpoints take, checked in the API's order:
# splitting it would scatter the rules a reader compares with the spec.
def parse_list_query(  # noqa: C901 - one branch per list parameter of the spec
    params: dict[str, str],
    *,
    filters: dict,
    clamp_limit: bool,
    legacy_filter: bool = False,
    custom_attributes: bool = False,
) -> ListQuery:
    """Parse a list request's query. ``clamp_limit``: device-directory semantics (2..1000 clamped)
    rather than IAM's (out of range is a 400)."""
    problems: list[dict] = []
    query = ListQuery()

    raw_limit = params.get("limit")
    if raw_limit not in (None, ""):
        try:
            limit = int(raw_limit, 10)
        except ValueError:
            problems.append(errors.field("limit", f"'{raw_limit}' is not an integer."))
        else:
            if clamp_limit:
                limit = min(max(limit, MIN_LIMIT), MAX_LIMIT)
            elif not MIN_LIMIT <= limit <= MAX_LIMIT:
                problems.append(errors.field("limit", "limit must be between 2 and 1000."))
            query.limit = limit

    raw_order = params.get("order")
    if raw_order not in (None, ""):
        if raw_order.upper() not in ("ASC", "DESC"):
            problems.append(errors.field("order", "order must be ASC or DESC."))
        else:
            query.order = raw_order.upper()

    raw_after = params.get("after")
    if raw_after not in (None, ""):
        if not ID_RE.match(raw_after):
            problems.append(errors.field("after", "after must be an ID (32 hex characters)."))
        else:
            query.after = raw_after

    query.include = {p.strip().lower() for p in params.get("include", "").split(",") if p.strip()}

    # name -> (value, the parameter to blame for an unknown filter: "filter" or None)
    candidates: dict[str, tuple[str, str | None]] = {}
    if legacy_filter and params.get(LEGACY_PARAM):
        for key, value in parse_qsl(params[LEGACY_PARAM], keep_blank_values=True):
            candidates[key] = (value, LEGACY_PARAM)
    for name, value in params.items():
        if "__" in name:
            candidates[name] = (value, None)
    for name, (value, report) in candidates.items():
        pred = _build(name, value, filters, problems, attributes=custom_attributes, report=report)
        if pred is not None:
            query.predicates.append(pred)

    if problems:
        raise errors.validation(problems, "Invalid query parameters.")
    return query
