"""The table machinery every list uses: a filter form whose inputs are the API's own query
parameters, canonical shareable URLs, "load more" with the API's cursor, and error slots.

A list URL's query string is the API's filter syntax (`?state__in=registered,bootstrapped
&created_at__gte=2025-01-01T00:00:00Z&order=DESC`). A form bound from any spelling of it
(`state__in` repeated by a plain HTML form, or comma-joined, or `state__eq`) produces:

- `api_filters()`: the filters to send (one value → `__eq`, several → `__in`);
- `canonical_query()`: the one query string for those filters, pushed to the address bar
  (HTMX) or redirected to (plain form submit), so a link can be shared and reloaded.

`list_response` is the one view path of every list: it validates, calls the API once,
and renders the full page, the `listing` partial (filters + results, after a filter submit)
or the `rows` partial (a "load more" click: new rows and a fresh pager row only).
"""

import copy
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import parse_qsl, quote, urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import models
from django.db.models import Q
from django.forms.boundfield import BoundField
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.utils.datastructures import MultiValueDict

from dmportal.dmapi import errors as api
from dmportal.dmapi.filters import format_datetime
from dmportal.dmapi.ids import is_cursor, parse_number
from dmportal.dmapi.lists import list_filters
from dmportal.dmapi.lists import split as split_param

from .errors import describe, with_error_headers
from .forms import KEY_REFUSED, Form, looks_like_key, query_without_keys
from .htmx import is_partial
from .templatetags.dm import state_word

SEPARATORS = re.compile(r"[,\s]+")


# -- filter fields -------------------------------------------------------------------------------


class CheapCopy:
    """Django deep-copies every field of a form for each form it builds (20 fields: 0.13 ms
    of every list request, "load more" included). A filter field's copy needs its own
    widget attributes, messages and validators; its choices are shared, as nothing changes
    them in place. A third of the generic deep copy's cost."""

    def __deepcopy__(self, memo):
        field = object.__new__(type(self))
        field.__dict__.update(self.__dict__)
        widget = object.__new__(type(self.widget))
        widget.__dict__.update(self.widget.__dict__)
        widget.attrs = dict(self.widget.attrs)
        field.widget = widget
        field.error_messages = dict(self.error_messages)
        field.validators = list(self.validators)
        memo[id(self)] = field
        return field


class ApiFilter(CheapCopy):
    """A form field for one of the API's filters on `api_field`: optional, a text input with
    `placeholder` when given one.

    `all_ops` are the operators the field can express, `default_ops` those it uses when its
    form names no endpoint; on a form that names its endpoint, `ops` are the ones the spec's
    `x-filter` allows there (`ListForm` sets them). A field whose `ops` include a negation
    (`neq`/`nin`) is `negatable`: its form gives it an "is / is not" choice, named `op_name`.
    """

    all_ops = default_ops = ()

    def __init__(self, api_field, *, placeholder=None, **kw):
        self.api_field = api_field
        self.op_name = f"{api_field}__op"
        self.ops = self.default_ops
        kw.setdefault("required", False)
        if placeholder is not None:
            kw.setdefault("widget", forms.TextInput(attrs={"placeholder": placeholder}))
        super().__init__(**kw)

    @property
    def ops(self):
        return self._ops

    @ops.setter
    def ops(self, ops):
        # `params`: the query parameters this field reads (and the API may name in its 400s),
        # worked out once: every list request reads them.
        self._ops = tuple(ops)
        self.params = tuple(f"{self.api_field}__{op}" for op in self._ops)

    @property
    def negatable(self):
        return "neq" in self._ops or "nin" in self._ops

    def allowed(self, declared):
        """This field's operators among those an endpoint declares for its API field."""
        return tuple(op for op in self.all_ops if op in declared)

    def bind_into(self, query, data, name):
        """Put the field's value from the URL's `query` into the form's `data`; returns the
        parameters it read (any other parameter of the query is the form's to explain)."""
        value = self.bind(query)
        if value is not None:
            data[name] = value
        return {param for param in self.params if param in query}

    def bind(self, query):
        return query.get(self.params[0])

    def to_api(self, value, negate=False):
        return {self.params[0]: value} if value is not None else {}

    def chip(self, value, negate=False):
        """The filter in words, for its chip and for a saved view's summary."""
        return f"{self.label}: {self.shown(value)}"

    def shown(self, value):
        return str(value)


def _split_values(raw, separators=re.compile(r"[,\n\r]+")):
    return [part.strip() for part in separators.split(raw) if part.strip()]


class NegatableFilter(ApiFilter):
    """Values of a field, "is" (`__eq`, several: `__in`) or "is not" (`__neq` / `__nin`).

    The input is named `<field>__in` and the "is / is not" choice `<field>__op`; the URL may
    say any of the four operators. When it says both polarities (`state__in=a&state__nin=b`),
    the field takes the first and the other stays a filter of its own (see ListForm.extras).
    """

    all_ops = ("eq", "in", "neq", "nin")
    default_ops = ("eq", "in")

    def bind_into(self, query, data, name):
        if not any(param in query for param in self.params):  # most fields, most requests
            if self.negatable:
                asked = query.get(self.op_name)
                data[self.op_name] = "" if asked in (None, "", "not") else asked
                return {self.op_name} if asked is not None else set()
            return set()
        # An empty input (a plain form sends every one; or only separators) is read, and
        # says nothing.
        used = {p for p in self.params if p in query and not any(map(self.read, query.getlist(p)))}
        for polarity in (("in", "eq"), ("nin", "neq")):
            params = [f"{self.api_field}__{op}" for op in polarity if op in self.ops]
            values = [v for param in params for raw in query.getlist(param) for v in self.read(raw)]
            if values:
                used.update(param for param in params if param in query)
                data[name] = self.bound_value(values)
                negate = polarity[0] == "nin" or query.get(self.op_name) == "not"
                break
        else:
            negate = False
        if self.negatable:
            asked = query.get(self.op_name)
            odd = asked not in (None, "", "not")
            data[self.op_name] = asked if odd else ("not" if negate else "")
            used.add(self.op_name)
        return used

    def read(self, raw):
        return _split_values(raw)

    def to_api(self, values, negate=False):
        """{param: value}; a ValidationError when the endpoint has no operator for it."""
        if not values:
            return {}
        one, many = ("neq", "nin") if negate else ("eq", "in")
        if len(values) == 1 and one in self.ops:
            return {f"{self.api_field}__{one}": values[0]}
        if many in self.ops:
            return {f"{self.api_field}__{many}": values}
        if one in self.ops:
            raise forms.ValidationError("This list filters on one value at a time here.")
        raise forms.ValidationError("This list cannot filter on what this is not.")

    def chip(self, values, negate=False):
        return f"{self.label}{' is not' if negate else ''}: {self.shown(values)}"

    def shown(self, values):
        return ", ".join(values)


class ValuesFilter(NegatableFilter, forms.CharField):
    """Values typed into one input (comma, space or newline separated)."""

    kind = "values"

    def __init__(self, api_field, *, item_pattern=None, item_message=None, max_items=100, **kw):
        self.item_pattern = item_pattern
        self.item_message = item_message or "is not a valid value"
        self.max_items = max_items
        kw.setdefault("max_length", 20000)
        kw.setdefault("placeholder", "value, or a, b, c")
        super().__init__(api_field, **kw)

    def bound_value(self, values):
        return ", ".join(values)

    def split(self, text):
        # Names may contain spaces, so spaces separate values only when there is no comma
        # or newline (pasted lists of ids are usually one per line or comma-separated).
        if "," in text or "\n" in text:
            parts = re.split(r"[,\n\r]+", text)
        elif self.item_pattern is not None:
            parts = text.split()
        else:
            parts = [text]
        return [p.strip() for p in parts if p.strip()]

    def clean(self, value):
        text = super().clean(value)
        values = list(dict.fromkeys(self.split(text or "")))
        if len(values) > self.max_items:
            raise forms.ValidationError(f"At most {self.max_items} values at once.")
        for item in values:
            if len(item) > 512:
                raise forms.ValidationError("A value is longer than 512 characters.")
            if self.item_pattern is not None and not self.item_pattern.fullmatch(item):
                raise forms.ValidationError(f"“{item[:80]}” {self.item_message}.")
        return values


class ChoicesFilter(NegatableFilter, forms.MultipleChoiceField):
    """One or several of an API field's enum values, as tick boxes (the filter bar shows them
    as a compact drop-down)."""

    kind = "choices"

    def __init__(self, api_field, *, choices, **kw):
        kw.setdefault("widget", forms.CheckboxSelectMultiple(attrs={"class": "ticks"}))
        super().__init__(api_field, choices=[(c, state_word(c)) for c in choices], **kw)
        self.error_messages["invalid_choice"] = "“%(value)s” is not one of the known values."

    def bound_value(self, values):
        return list(dict.fromkeys(values))

    def read(self, raw):
        return [part.strip() for part in raw.split(",") if part.strip()]

    def shown(self, values):
        return ", ".join(state_word(v) for v in values)


class DateTimeFilter(ApiFilter, forms.CharField):
    """A bound of a date-time range: `<field>__gte` or `<field>__lte`.

    Accepts a date (2025-01-31: the whole day, in UTC), RFC 3339 with Z or an offset, the
    API's compact form (20250131T120000Z), or a local time without zone (read as UTC).
    `date_only`: a field of the API typed `date` (2025-01-31, nothing else).
    """

    all_ops = ("gte", "lte")

    def __init__(self, api_field, op, *, date_only=False, **kw):
        self.op = op
        self.date_only = date_only
        self.kind = "date" if date_only else "datetime"
        kw.setdefault("max_length", 40)
        kw.setdefault("placeholder", "2025-01-31" if date_only else "2025-01-31 or …T12:00:00Z")
        super().__init__(api_field, **kw)
        self.ops = self.default_ops = (op,)

    def allowed(self, declared):
        return (self.op,)  # a bound is one operator: the form offers it or not at all

    def clean(self, value):
        text = (super().clean(value) or "").strip()
        if not text:
            return None
        if self.date_only:
            moment = parse_datetime(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
            if moment is None:
                raise forms.ValidationError("Enter a date like 2025-01-31.")
            return moment.date()
        moment = parse_datetime(text, end_of_day=self.op == "lte")
        if moment is None:
            raise forms.ValidationError(
                "Enter a date like 2025-01-31 or a time like 2025-01-31T12:00:00Z."
            )
        return moment

    def shown(self, value):
        return value.isoformat() if self.date_only else format_datetime(value)


class BooleanFilter(ApiFilter, forms.ChoiceField):
    """Yes / no / any on a boolean API field → `<field>__eq=true|false` (the URL may also say
    `__neq`: a boolean that is not true is false)."""

    kind = "boolean"
    all_ops = ("eq", "neq")
    default_ops = ("eq",)

    def __init__(self, api_field, **kw):
        super().__init__(api_field, choices=[("", "Any"), ("true", "Yes"), ("false", "No")], **kw)

    @property
    def negatable(self):
        return False  # "is not yes" is "no": the choice says it

    def bind(self, query):
        value = query.get(f"{self.api_field}__eq")
        if value is None and "neq" in self.ops and f"{self.api_field}__neq" in query:
            value = query.get(f"{self.api_field}__neq")
            value = {"true": "false", "false": "true"}.get(value.lower(), value)
        return value

    def clean(self, value):
        value = super().clean((value or "").lower())
        return {"true": True, "false": False}.get(value)

    def to_api(self, value, negate=False):
        return {f"{self.api_field}__eq": value} if value is not None else {}

    def shown(self, value):
        return "yes" if value else "no"


def parse_datetime(text, *, end_of_day=False):
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            day = datetime.strptime(text, "%Y-%m-%d").date()
        except ValueError:
            return None
        moment = datetime.combine(day, time.max if end_of_day else time.min, tzinfo=UTC)
        return moment.replace(microsecond=0)
    match = re.fullmatch(r"(\d{8})T(\d{6})Z", text)
    if match:
        try:
            return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return None
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-23:59 is after the last day Python has
        return None


# -- the list form -------------------------------------------------------------------------------

# Rendered filter inputs, keyed by everything their HTML depends on. A list page renders
# about twenty inputs through Django's widget templates (~4 ms, a third of a 50-row page);
# the same inputs with the same values come back on every page view and "load more".
_WIDGET_HTML = {}
_WIDGET_HTML_SIZE = 2048
_WIDGET_VALUE_LIMIT = 300  # long typed values (pasted id lists) are rendered, not kept


class FilterBoundField(BoundField):
    """A BoundField whose widget HTML is memoised: rendering is a pure function of the
    widget (class, attributes, choices), the field's name, value and final attributes."""

    @property
    def op(self):
        """The "is / is not" choice of a negatable filter (core/_filter_field.html draws
        it), or None. Not a form field of its own: a dozen more fields cost every request."""
        field = self.field
        if not getattr(field, "negatable", False):
            return None
        data = self.form.data if self.form.is_bound else {}
        return OpChoice(
            field.op_name, f"{field.label}: is or is not", data.get(field.op_name) == "not"
        )

    def as_widget(self, widget=None, attrs=None, only_initial=False):
        if widget is not None or attrs or only_initial:
            return super().as_widget(widget, attrs, only_initial)
        widget = self.field.widget
        value = self.value()
        shown = repr(value)
        if len(shown) > _WIDGET_VALUE_LIMIT or self.field.localize:
            return super().as_widget()
        final_attrs = self.build_widget_attrs({}, widget)
        if self.auto_id and "id" not in widget.attrs:
            final_attrs.setdefault("id", self.auto_id)
        key = (
            type(widget),
            getattr(widget, "input_type", None),
            repr(sorted(widget.attrs.items())),
            repr(getattr(widget, "choices", None)),
            self.html_name,
            shown,
            repr(sorted(final_attrs.items())),
            type(self.form.renderer),
        )
        html = _WIDGET_HTML.get(key)
        if html is None:
            html = widget.render(
                name=self.html_name, value=value, attrs=final_attrs, renderer=self.form.renderer
            )
            if len(_WIDGET_HTML) >= _WIDGET_HTML_SIZE:
                _WIDGET_HTML.clear()
            _WIDGET_HTML[key] = html
        return html


OWN_PARAMS = ("order", "limit", "after", "filter")  # read by every list, never a filter


def encode_query(pairs):
    """A list URL's query string: the API's syntax, commas and colons left readable."""
    return urlencode(pairs, safe=",:", quote_via=quote)


MAX_REFUSALS = 5
MAX_VALUES, MAX_VALUE_LENGTH = 100, 512


def extra_value(facts, param, raw):
    """(the value to send, None) for a filter no field reads, checked against the type the
    spec gives its field; or (None, why it is refused). A date-time is sent in the API's own
    RFC 3339 form; anything else as written."""
    base, op = split_param(param)
    spec = facts.filters.get(base) or {"type": "string"}
    items = raw.split(",") if op in ("in", "nin") else [raw]
    if not raw.strip() or any(not item.strip() for item in items):
        return None, "has an empty value."
    if len(items) > MAX_VALUES or any(len(item) > MAX_VALUE_LENGTH for item in items):
        return None, f"at most {MAX_VALUES} values of at most {MAX_VALUE_LENGTH} characters."
    kind, enum = spec["type"], spec.get("enum")
    shown = []
    for item in items:
        text = item.strip()
        if kind == "date-time":
            moment = parse_datetime(text) if DATE_TIME.fullmatch(text) else None
            if moment is None:
                return None, f"“{text[:40]}” is not a date-time such as 2025-01-31T12:00:00Z."
            text = format_datetime(moment)
        elif kind == "date" and (not DATE.fullmatch(text) or parse_datetime(text) is None):
            return None, f"“{text[:40]}” is not a date such as 2025-01-31."
        elif kind == "boolean":
            if text.lower() not in ("true", "false"):
                return None, f"“{text[:40]}” is not true or false."
            text = text.lower()
        elif kind == "integer" and not re.fullmatch(r"-?[0-9]{1,18}", text):
            return None, f"“{text[:40]}” is not a whole number."
        if enum is not None and text not in (str(e) for e in enum):
            return None, f"“{text[:40]}” is not one of: {', '.join(str(e) for e in enum)}."
        shown.append(text)
    return ",".join(shown), None


DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})|\d{8}T\d{6}Z"
)


@dataclass(frozen=True)
class ExtraFilter:
    """A filter of the URL (or of a saved view) that no field of the form edits: sent to the
    API as written, as its own parameter (`route` "param") or inside `filter=` ("filter")."""

    param: str
    value: str
    route: str

    def chip(self):
        return f"{self.param} = {self.value} — kept as written"


@dataclass(frozen=True)
class Chip:
    """One active filter: its words, and the list's query without it (its remove link)."""

    text: str
    query: str
    kept: bool = False  # no field edits it: kept as written


class CanonicalQuery:
    """The one query string of a list form's filters (`canonical_pairs()`), which a link to
    the list says and the address bar shows."""

    def canonical_query(self):
        return encode_query(self.canonical_pairs())

    def is_canonical(self, query):
        """Whether a query string already says exactly this, in any order or encoding."""
        given = sorted((key, value) for key, values in query.lists() for value in values)
        return given == sorted(self.canonical_pairs())

    def is_filtered(self):
        return bool(self.api_filters())

    def empty_query(self):
        """The query string of the list without any filter ("Clear filters")."""
        return ""


@dataclass(frozen=True)
class OpChoice:
    """The "is / is not" choice of a negatable filter: its input's name (`<field>__op`, "" or
    "not"), its accessible label, and whether it says "is not"."""

    name: str
    label: str
    negated: bool


class ListForm(CanonicalQuery, Form):
    """Filters + order + page size of a list of the API, bound from the URL's query string.

    `endpoint` names the API list (its path as the spec spells it): its `x-filter` decides
    which operators each field offers, and what to do with a parameter no field reads. Such a
    parameter is never dropped: a filter the endpoint takes is kept as written (`extras`, sent
    and shown as a chip), anything else is refused (`refusals`: the form is invalid, nothing
    is searched). `filter=` (the API's legacy syntax) is unpacked where the endpoint takes it,
    and a bare `field=value` means `field__eq`, as in that syntax.
    """

    bound_field_class = FilterBoundField
    default_order = "DESC"
    default_limit = 50
    order_choices = [("DESC", "Newest first"), ("ASC", "Oldest first")]
    endpoint = None
    own_params = ()  # more parameters of dmportal's own that the page reads (never filters)
    kept = ()  # dmportal's own parameters kept in the list's canonical URL as given
    empty_pairs = ()  # what the URL says when no filter is set (set by the view)
    primary = ()  # names of the filters shown without opening "More filters"

    def __init__(self, query=None, **kwargs):
        self._configure()
        data = None
        self.extras, self.refusals, self.kept_pairs = [], [], []
        self.refused_keys, self.given, self.key_in_extras = set(), (), False
        if query is not None:
            query = self.expand(query)
            self.given = query
            data = {"order": query.get("order", "").upper(), "limit": query.get("limit", "")}
            used = {*OWN_PARAMS, *self.own_params, *self.kept}
            self.kept_pairs = [(name, query[name]) for name in self.kept if query.get(name)]
            for name, field in self.base_fields.items():
                if hasattr(field, "bind_into"):
                    used |= field.bind_into(query, data, name)
                elif hasattr(field, "bind"):  # a field of another base (team's EqFilter)
                    value = field.bind(query)
                    if value is not None:
                        data[name] = value
                    used |= {param for param in field.params if param in query}
            self.sort_out(query, used)
        super().__init__(data, **kwargs)
        # Added last so that they come after the filters in the rendered form.
        self.fields["order"] = forms.ChoiceField(
            choices=self.order_choices, required=False, label="Order"
        )
        self.fields["limit"] = forms.IntegerField(
            min_value=2,
            max_value=1000,
            required=False,
            label="Page size",
            widget=forms.NumberInput(
                attrs={"min": 2, "max": 1000, "placeholder": str(self.default_limit)}
            ),
            error_messages={
                "min_value": "The page size is between 2 and 1000.",
                "max_value": "The page size is between 2 and 1000.",
                "invalid": "The page size is a whole number between 2 and 1000.",
            },
        )

    @classmethod
    def _configure(cls):
        """Once per form class: each filter's operators from the endpoint's `x-filter`."""
        if "_configured" in cls.__dict__:
            return
        facts = list_filters(cls.endpoint) if cls.endpoint else None
        fields = {}
        for name, field in cls.base_fields.items():
            if isinstance(field, ApiFilter):
                field = copy.deepcopy(field)  # the declared field may be a parent class's
                if facts is not None and field.api_field in facts.filters:
                    field.ops = field.allowed(facts.ops(field.api_field))
            fields[name] = field
        cls.base_fields = fields
        cls._configured = True

    @property
    def facts(self):
        return list_filters(self.endpoint) if self.endpoint else None

    def normalise(self, key):
        """A bare `field` (the legacy syntax's equality) → `field__eq`."""
        facts = self.facts
        if facts is None or key in OWN_PARAMS or key in self.own_params or key in self.kept:
            return key
        if split_param(key)[1] is None and facts.is_field(key):
            return f"{key}__eq"
        return key

    def expand(self, query):
        """The URL's parameters with `filter=` unpacked (a parameter given both ways: the
        separate one wins, as at the API) and bare names made `__eq`."""
        facts = self.facts
        legacy = facts is not None and facts.legacy_filter
        merged = MultiValueDict()
        for key, values in query.lists():
            if not (legacy and key == "filter"):
                merged.setlistdefault(self.normalise(key), []).extend(values)
        given = set(merged)
        for text in query.getlist("filter") if legacy else ():
            for key, value in parse_qsl(text, keep_blank_values=True):
                if self.normalise(key) not in given:
                    merged.appendlist(self.normalise(key), value)
        return merged

    def sort_out(self, query, used):
        """The parameters no field read: kept as written (a valid value of a filter this
        endpoint takes), or refused. At most MAX_REFUSALS are named."""
        facts = self.facts
        refusals = []
        for key, values in query.lists():
            if key in used:
                continue
            shown = key[:100]
            route = facts.route(key) if facts is not None else None
            if looks_like_key(key) or any(map(looks_like_key, values)):
                # Never sent, kept, echoed or named: the message says what, not which.
                self.refused_keys.add(key)
                if not self.key_in_extras:
                    refusals.insert(0, KEY_REFUSED)
                self.key_in_extras = True
            elif route is None:
                self.refused_keys.add(key)
                refusals.append(self.not_a_filter(key))
            elif len(values) > 1:
                self.refused_keys.add(key)
                refusals.append(f"“{shown}” is given more than once: keep one.")
            else:
                value, problem = extra_value(facts, key, values[0])
                if problem is not None:
                    self.refused_keys.add(key)
                    refusals.append(f"“{shown}”: {problem}")
                else:
                    self.extras.append(ExtraFilter(key, value, route))
        if len(refusals) > MAX_REFUSALS:
            more = len(refusals) - MAX_REFUSALS
            refusals = [*refusals[:MAX_REFUSALS], f"… and {more} more parameters like these."]
        self.refusals = refusals

    def query_without_refused(self):
        """The URL's query without the parameters the form refused (its "leave them out"),
        and never a value shaped like a key (core/forms.py)."""
        pairs = [
            (key, value)
            for key, values in self.given.lists()
            for value in values
            if key not in self.refused_keys and not looks_like_key(value)
        ]
        return encode_query(pairs)

    def not_a_filter(self, key):
        facts, shown = self.facts, key[:100]
        base = key.rpartition("__")[0]
        if facts is not None and base in facts.filters:
            ops = ", ".join(f"__{o}" for o in facts.ops(base))
            return f"“{shown}”: this list filters {base} only with {ops}."
        return f"“{shown}” is not a filter of this list."

    def full_clean(self):
        super().full_clean()
        if self.key_in_extras:  # a key in a parameter no field reads: refused like a field's
            self.key_refused = [*self.key_refused, NON_FIELD_ERRORS]

    def filter_fields(self):
        return [(n, f) for n, f in self.fields.items() if hasattr(f, "to_api")]

    def primary_fields(self):
        return [self[name] for name in self.primary if name in self.fields]

    def secondary_fields(self):
        return [self[name] for name, _ in self.filter_fields() if name not in self.primary]

    def secondary_in_use(self):
        """Open "More filters" when one of them has a value or an error."""
        return any(self.data.get(bound.name) or bound.errors for bound in self.secondary_fields())

    def clean(self):
        cleaned = super().clean()
        for message in self.refusals:
            self.add_error(None, message)
        # A range whose start is after its end matches nothing: say so instead.
        by_api = {}
        for name, field in self.filter_fields():
            if getattr(field, "kind", "") in ("datetime", "date") and cleaned.get(name):
                by_api.setdefault(field.api_field, {})[field.op] = name
            elif getattr(field, "negatable", False) and self.data.get(field.op_name) not in (
                "",
                "not",
                None,
            ):
                self.add_error(name, "Choose “is” or “is not”.")
            elif isinstance(field, NegatableFilter) and cleaned.get(name):
                try:
                    field.to_api(cleaned[name], self.negated(field))
                except forms.ValidationError as exc:
                    self.add_error(name, exc)
        for ops in by_api.values():
            if "gte" in ops and "lte" in ops and cleaned[ops["gte"]] > cleaned[ops["lte"]]:
                self.add_error(ops["lte"], "The end of the range is before its start.")
        return cleaned

    def negated(self, field):
        """Whether the form says "is not" for `field`."""
        return getattr(field, "negatable", False) and self.data.get(field.op_name) == "not"

    @property
    def order(self):
        return (self.cleaned_data.get("order") or self.default_order) if self.is_bound else None

    @property
    def limit(self):
        return self.cleaned_data.get("limit") or self.default_limit

    def sent(self, name, field):
        """What the field sends to the API ({param: value}), "is not" included."""
        value = self.cleaned_data.get(name)
        return field.to_api(value, True) if self.negated(field) else field.to_api(value)

    def api_filters(self):
        """{param: value} to send; worked out once, after the form was validated."""
        if getattr(self, "_api_filters", None) is None:
            filters = {}
            for name, field in self.filter_fields():
                filters.update(self.sent(name, field))
            filters.update((e.param, e.value) for e in self.extras if e.route == "param")
            self._api_filters = filters
        return self._api_filters

    def api_params(self):
        """The parameters beyond the filters: `filter=` with what only that syntax can say."""
        legacy = [(e.param, e.value) for e in self.extras if e.route == "filter"]
        return {"filter": encode_query(legacy)} if legacy else {}

    def filter_pairs(self, without=()):
        """The filters as the URL and a saved view say them, (param, text) in the form's order
        then the extras as written; `without`: parameters to leave out."""
        pairs = []
        for key, value in self.api_filters().items():
            if isinstance(value, datetime):
                value = format_datetime(value)
            elif isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, list):
                value = ",".join(value)
            pairs.append((key, value))
        pairs.extend((e.param, e.value) for e in self.extras if e.route == "filter")
        return [(key, value) for key, value in pairs if key not in without]

    def canonical_pairs(self, without=(), order=None):
        pairs = self.filter_pairs(without) or list(self.empty_pairs)
        order = order or self.order
        if order != self.default_order:
            pairs.append(("order", order))
        if self.limit != self.default_limit:
            pairs.append(("limit", str(self.limit)))
        return pairs + self.kept_pairs

    def is_filtered(self):
        return bool(self.filter_pairs())

    def empty_query(self):
        return encode_query(self.empty_pairs)

    def query_text(self):
        """The filters alone (no order, no page size): what a saved view (device query) holds."""
        return encode_query(self.filter_pairs())

    def order_query(self):
        """The list's query in the other order (the API orders by creation time only)."""
        return encode_query(self.canonical_pairs(order="ASC" if self.order == "DESC" else "DESC"))

    def chips(self):
        """The active filters of a valid form, each with the query that removes it."""
        if not self.is_bound or not self.is_valid():
            return []
        chips = []
        for name, field in self.filter_fields():
            sent = self.sent(name, field)
            if not sent:
                continue
            value, negate = self.cleaned_data.get(name), self.negated(field)
            if hasattr(field, "chip"):
                text = field.chip(value, negate)
            else:
                text = f"{field.label}: {value}"
            chips.append(Chip(text, encode_query(self.canonical_pairs(without=set(sent)))))
        for extra in self.extras:
            query = encode_query(self.canonical_pairs(without={extra.param}))
            chips.append(Chip(extra.chip(), query, kept=True))
        return chips

    def words(self):
        """The filters in words (a saved view's summary in the Views menu)."""
        return [chip.text for chip in self.chips()]

    @property
    def render_key(self):
        """Everything the rendered filter form depends on (with the page's path): the key of
        its cached HTML (core/_filter_form.html). The same filters and errors render the same
        form, so it is built once per worker instead of on every page view (~0.9 ms)."""
        if not self.is_bound:
            return ""
        data = sorted((name, repr(value)) for name, value in self.data.items())
        errors = sorted((name, list(messages)) for name, messages in self.errors.items())
        return repr(
            (
                type(self).__module__,
                type(self).__qualname__,
                self.prefix,
                data,
                errors,
                self.extras,
                self.empty_pairs,
                self.kept_pairs,
                self.query_without_refused() if self.refused_keys else "",
            )
        )

    def field_for_param(self, param):
        """The form field that owns an API query parameter (for the API's own 400s)."""
        for name, field in self.filter_fields():
            if param in field.params:
                return name
        return param if param in ("order", "limit") else None


class RowsForm(CanonicalQuery, Form):
    """The filters of a list of dmportal's own rows (a plain form whose cleaned values, when
    not empty, are the filters); the order (newest first) and the page size are fixed. A
    parameter that is none of its fields is refused, never ignored."""

    default_order = "DESC"
    default_limit = 50

    @property
    def order(self):
        return self.default_order

    @property
    def limit(self):
        return self.default_limit

    def clean(self):
        cleaned = super().clean()
        for key in self.data if hasattr(self.data, "lists") else ():
            if key not in self.fields and key != "after":
                self.add_error(None, f"“{key[:100]}” is not a filter of this list.")
        return cleaned

    def api_filters(self):
        return {name: value for name, value in self.cleaned_data.items() if value}

    def canonical_pairs(self):
        return [(name, str(value)) for name, value in self.api_filters().items()]

    def field_for_param(self, param):
        return None


# -- lists of dmportal's own rows --------------------------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BAD_CURSOR = "The “load more” cursor in this link is not valid."


@dataclass(frozen=True)
class RowsPage:
    """A page of database rows, read by the list templates as they read the API's Page."""

    items: list
    next_cursor: str | None = None
    after: str | None = None  # the cursor this page was asked with
    has_more = property(lambda self: self.next_cursor is not None)
    total_count = None  # never counted: the lists are short and capped
    stopped = None  # a keyset cannot loop


class Keyset:
    """ "Load more" over dmportal's own rows, newest first: the rows are ordered by `fields`,
    descending (the last one unique, such as the pk), and the cursor is the last row's values
    as ASCII numbers joined by "-" (a date-time as microseconds since 1970), so rows added
    meanwhile neither repeat nor shift the pages."""

    def __init__(self, *fields):
        self.fields = fields

    def page(self, rows, *, after, limit):
        rows = rows.order_by(*(f"-{name}" for name in self.fields))
        if after is not None:
            rows = rows.filter(self.before(self.values(rows.model, after)))
        found = list(rows[: limit + 1])
        more = len(found) > limit
        found = found[:limit]
        return RowsPage(found, next_cursor=self.cursor(found[-1]) if more else None, after=after)

    def check(self, after):
        numbers = [parse_number(part) for part in after.split("-")]
        if len(numbers) != len(self.fields) or None in numbers:
            raise api.InvalidRequest(BAD_CURSOR)
        return numbers

    def values(self, model, after):
        values = []
        for name, number in zip(self.fields, self.check(after), strict=True):
            field = model._meta.pk if name == "pk" else model._meta.get_field(name)
            if isinstance(field, models.DateTimeField):
                try:
                    number = EPOCH + timedelta(microseconds=number)
                except OverflowError:
                    raise api.InvalidRequest(BAD_CURSOR) from None
            values.append(number)
        return values

    def before(self, values):
        """Rows after the cursor's, newest first: (a < x) or (a = x and b < y) or ..."""
        condition = Q()
        for i, name in enumerate(self.fields):
            same = dict(zip(self.fields[:i], values[:i], strict=True))
            condition |= Q(**same, **{f"{name}__lt": values[i]})
        return condition

    def cursor(self, row):
        parts = []
        for name in self.fields:
            value = getattr(row, name)
            if isinstance(value, datetime):
                value = (value - EPOCH) // timedelta(microseconds=1)
            parts.append(str(value))
        return "-".join(parts)


# -- the one view path of every list --------------------------------------------------------------


class Table:
    """What the shared table partials need to know about one table on a page.

    `columns` is the number of columns, or the list of column specs a page builds its head
    and rows from (each with `key` and `label`); `next_extra` is added to the "load more"
    link (the device list's column set, so a later page has the same cells as the head).
    """

    def __init__(self, table_id, *, path, query, page, columns, template, next_extra=""):
        self.id = table_id
        self.page = page
        self.columns = columns
        self.base_query = query
        self.path = path
        self.template = template  # the page's template: its #thead and #rows partials
        self.next_extra = next_extra
        self.clear_url = path

    @property
    def colspan(self):
        return self.columns if isinstance(self.columns, int) else len(self.columns)

    @property
    def next_url(self):
        cursor = self.page.next_cursor if self.page else None
        if cursor is None:
            return None
        extra = f"&{self.next_extra}" if self.next_extra else ""
        return with_query(self.path, f"{self.base_query}{extra}&after={cursor}".lstrip("&"))


def with_query(path, query):
    return f"{path}?{query}" if query else path


def list_response(
    request,
    *,
    template,
    form,
    fetch,
    table_id,
    columns,
    keyset=None,
    context=None,
    path=None,
    count_total=True,
    push=True,
    next_extra="",
):
    """Validate the filters, fetch one page, render the page or the right partial.

    A list of the API: `fetch(filters=..., limit=..., order=..., after=..., include_total=...)`
    returns a Page. A list of dmportal's own rows: `fetch(filters=...)` returns a queryset,
    which `keyset` pages. `push=False` for lists inside a panel of another page: their URL is
    not the page's. A form's `api_params()` (the legacy `filter=`), when it has any, are given
    to `fetch` as `params`.
    """
    path = path or request.path
    partial = is_partial(request)
    after = load_more_cursor(request, keyset)
    page = error = None
    if form.is_valid():
        query = form.canonical_query()
        if push and not partial and after is None and not form.is_canonical(request.GET):
            # A plain form submit (or a hand-edited link): go to the canonical URL.
            return HttpResponseRedirect(with_query(path, query))
        page, error = fetch_page(request, form, fetch, keyset, after=after, count=count_total)
    else:
        # Keep what was typed, errors and all; never a pasted key (core/forms.py).
        query = query_without_keys(request.GET)
        if form.key_refused and not partial:
            # A plain submit put the key in the address bar and the history: go elsewhere.
            messages.error(request, form.key_refusal())
            return HttpResponseRedirect(with_query(path, query))
    table = Table(
        table_id,
        path=path,
        query=query,
        page=page,
        columns=columns,
        template=template,
        next_extra=next_extra,
    )
    table.clear_url = with_query(path, form.empty_query())
    context = {**(context or {}), "form": form, "table": table, "page": page, "list_error": error}
    status = error.status if error else (400 if form.errors else 200)
    if partial and after is not None:
        return render(request, f"{template}#rows", context, status=status)
    if not partial:
        return with_error_headers(render(request, template, context, status=status), error)
    response = render(request, f"{template}#listing", context, status=status)
    if push:
        response["HX-Push-Url"] = with_query(path, query)
    return with_error_headers(response, error)


def load_more_cursor(request, keyset):
    """The "load more" cursor of this request (None: the first page), checked: a keyset's own
    form, or an API cursor (an id). A crafted one is refused, never sent upstream."""
    after = request.GET.get("after") or None
    if after is not None and keyset is not None:
        keyset.check(after)
    elif after is not None and not is_cursor(after):
        raise api.InvalidRequest("The “load more” cursor in this link is not an id.")
    return after


def fetch_page(request, form, fetch, keyset, *, after, count):
    """(page, None), or (None, the error to show in the list) when the first page failed.

    The API's own 400s go onto the filters they name. A "load more" failure is raised: the
    middleware puts it in the table's status line."""
    try:
        if keyset is not None:
            return keyset.page(
                fetch(filters=form.api_filters()), after=after, limit=form.limit
            ), None
        page = fetch(
            filters=form.api_filters(),
            limit=form.limit,
            order=form.order,
            after=after,
            include_total=count and after is None,
            **extra_params(form),
        )
    except api.ApiError as exc:
        if after is not None:
            raise
        if isinstance(exc, api.BadRequest) and fields_on_form(form, exc):
            return None, None
        return None, describe(exc, request)
    return page, None


def extra_params(form):
    """What a list call takes beyond the filters, for a form that has any: `params`, holding
    the legacy `filter=` with what only that syntax can say (ListForm.api_params). Every
    reader of a list (its page, "load more", an export) passes it, or the filters it holds
    would be dropped."""
    params = form.api_params() if hasattr(form, "api_params") else {}
    return {"params": params} if params else {}


def fields_on_form(form, exc):
    """Put the API's field errors on the filters they name; whether any was."""
    mapped = False
    for param, message in exc.fields:
        name = form.field_for_param(param)
        if name is not None:
            form.add_error(name, message)
            mapped = True
    return mapped
