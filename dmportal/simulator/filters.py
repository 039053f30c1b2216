"""List query parsing: ``limit``/``after``/``order``/``include`` and ``<field>__<op>`` filters.

The allowed fields and operators of each list come from the spec's ``x-filter`` map (see
``api_facts.json``), together with each field's declared type and enum, so a malformed value
(bad date-time, unknown enum member, non-boolean) is rejected with a 400 ``validation_error``
whose ``fields`` name the offending query parameter, as the real service does. Unknown query
parameters are ignored. The legacy ``filter=<url-encoded query>`` parameter is unpacked into the
same predicates where the spec declares it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from . import errors
from .ids import ID_RE, canonical_us, parse_date, parse_datetime

OPS = ("eq", "neq", "in", "nin", "lte", "gte")
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
        return self.op in ("eq", "in") and self.kind in ("string", "integer")

    def values(self) -> frozenset:
        return self.value if self.op in ("in", "nin") else frozenset((self.value,))

    def test(self, obj: dict) -> bool:
        if self.kind == "custom":
            actual = (obj.get("custom_attributes") or {}).get(self.key)
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


def _build(name: str, raw: str, filters: dict, problems: list[dict]) -> Predicate | None:
    base, sep, op = name.rpartition("__")
    if not sep or op not in OPS:
        base, op = name, "eq"  # only reached for legacy filter= keys and custom attributes
    if base.startswith("custom_attributes__") and "custom_attributes" not in filters:
        key = base.removeprefix("custom_attributes__")
        if key and op in ("eq", "neq"):
            return Predicate("custom_attributes", op, raw, name, "custom", key)
        return None
    spec = filters.get(base)
    if spec is None or op not in spec["ops"]:
        return None  # unknown parameters are ignored
    kind = spec["type"]
    if op in ("in", "nin"):
        values = []
        for part in raw.split(","):
            value, problem = _convert(part.strip(), spec, name)
            if problem:
                problems.append(errors.field(name, problem))
                return None
            values.append(value)
        return Predicate(base, op, frozenset(values), name, kind)
    value, problem = _convert(raw, spec, name)
    if problem:
        problems.append(errors.field(name, problem))
        return None
    return Predicate(base, op, value, name, kind)


def parse_list_query(
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

    candidates: dict[str, str] = {}
    if legacy_filter and params.get("filter"):
        for key, value in parse_qsl(params["filter"], keep_blank_values=True):
            candidates[key if "__" in key and key.rpartition("__")[2] in OPS else f"{key}__eq"] = (
                value
            )
    for name, value in params.items():
        if "__" in name:
            candidates[name] = value
    for name, value in candidates.items():
        if name.startswith("custom_attributes__") and not custom_attributes:
            continue
        pred = _build(name, value, filters, problems)
        if pred is not None:
            query.predicates.append(pred)

    if problems:
        raise errors.validation(problems, "Invalid query parameters.")
    return query
