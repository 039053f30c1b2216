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

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from urllib.parse import quote, urlencode

from django import forms
from django.contrib import messages
from django.db import models
from django.db.models import Q
from django.forms.boundfield import BoundField
from django.http import HttpResponseRedirect
from django.shortcuts import render

from dmportal.dmapi import errors as api
from dmportal.dmapi.filters import format_datetime
from dmportal.dmapi.ids import is_cursor, parse_number

from .errors import describe, with_error_headers
from .forms import Form, query_without_keys
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
    `placeholder` when given one, sent as its one query parameter (`params[0]`)."""

    def __init__(self, api_field, *, placeholder=None, **kw):
        self.api_field = api_field
        kw.setdefault("required", False)
        if placeholder is not None:
            kw.setdefault("widget", forms.TextInput(attrs={"placeholder": placeholder}))
        super().__init__(**kw)

    def to_api(self, value):
        return {self.params[0]: value} if value is not None else {}

    def bind(self, query):
        return query.get(self.params[0])


class ValuesFilter(ApiFilter, forms.CharField):
    """Equality on an API field; several values (comma, space or newline separated) → `__in`.

    The input is named `<field>__in`; the URL may also say `<field>__eq`.
    """

    kind = "values"

    def __init__(self, api_field, *, item_pattern=None, item_message=None, max_items=100, **kw):
        self.item_pattern = item_pattern
        self.item_message = item_message or "is not a valid value"
        self.max_items = max_items
        kw.setdefault("max_length", 20000)
        kw.setdefault("placeholder", "one value, or several separated by commas")
        super().__init__(api_field, **kw)

    @property
    def params(self):
        return (f"{self.api_field}__in", f"{self.api_field}__eq")

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

    def to_api(self, values):
        if not values:
            return {}
        if len(values) == 1:
            return {f"{self.api_field}__eq": values[0]}
        return {f"{self.api_field}__in": values}

    def bind(self, query):
        values = []
        for param in self.params:
            for raw in query.getlist(param):
                values.extend(p for p in re.split(r"[,\n\r]+", raw) if p.strip())
        return ", ".join(v.strip() for v in values) if values else None


class ChoicesFilter(ApiFilter, forms.MultipleChoiceField):
    """One or several of an API field's enum values → `__eq` / `__in`."""

    kind = "choices"

    def __init__(self, api_field, *, choices, **kw):
        kw.setdefault("widget", forms.SelectMultiple(attrs={"size": min(len(choices), 6)}))
        super().__init__(api_field, choices=[(c, state_word(c)) for c in choices], **kw)
        self.error_messages["invalid_choice"] = "“%(value)s” is not one of the known values."

    @property
    def params(self):
        return (f"{self.api_field}__in", f"{self.api_field}__eq")

    def to_api(self, values):
        return ValuesFilter.to_api(self, values)

    def bind(self, query):
        values = []
        for param in self.params:
            for raw in query.getlist(param):
                values.extend(p.strip() for p in raw.split(",") if p.strip())
        return list(dict.fromkeys(values)) or None


class DateTimeFilter(ApiFilter, forms.CharField):
    """A bound of a date-time range: `<field>__gte` or `<field>__lte`.

    Accepts a date (2025-01-31: the whole day, in UTC), RFC 3339 with Z or an offset, the
    API's compact form (20250131T120000Z), or a local time without zone (read as UTC).
    """

    kind = "datetime"

    def __init__(self, api_field, op, **kw):
        self.op = op
        kw.setdefault("max_length", 40)
        kw.setdefault("placeholder", "2025-01-31 or 2025-01-31T12:00:00Z")
        super().__init__(api_field, **kw)

    @property
    def params(self):
        return (f"{self.api_field}__{self.op}",)

    def clean(self, value):
        text = (super().clean(value) or "").strip()
        if not text:
            return None
        moment = parse_datetime(text, end_of_day=self.op == "lte")
        if moment is None:
            raise forms.ValidationError(
                "Enter a date like 2025-01-31 or a time like 2025-01-31T12:00:00Z."
            )
        return moment


class BooleanFilter(ApiFilter, forms.ChoiceField):
    """Yes / no / any on a boolean API field → `<field>__eq=true|false`."""

    kind = "boolean"

    def __init__(self, api_field, **kw):
        super().__init__(api_field, choices=[("", "Any"), ("true", "Yes"), ("false", "No")], **kw)

    @property
    def params(self):
        return (f"{self.api_field}__eq",)

    def clean(self, value):
        value = super().clean((value or "").lower())
        return {"true": True, "false": False}.get(value)


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


class CanonicalQuery:
    """The one query string of a list form's filters (`canonical_pairs()`), which a link to
    the list says and the address bar shows."""

    def canonical_query(self):
        return urlencode(self.canonical_pairs(), safe=",:", quote_via=quote)

    def is_canonical(self, query):
        """Whether a query string already says exactly this, in any order or encoding."""
        given = sorted((key, value) for key, values in query.lists() for value in values)
        return given == sorted(self.canonical_pairs())

    def is_filtered(self):
        return bool(self.api_filters())


class ListForm(CanonicalQuery, Form):
    """Filters + order + page size of a list of the API, bound from the URL's query string."""

    bound_field_class = FilterBoundField
    default_order = "DESC"
    default_limit = 50
    order_choices = [("DESC", "Newest first"), ("ASC", "Oldest first")]

    def __init__(self, query=None, **kwargs):
        data = None
        if query is not None:
            data = {"order": query.get("order", "").upper(), "limit": query.get("limit", "")}
            for name, field in self.base_fields.items():
                value = field.bind(query)
                if value is not None:
                    data[name] = value
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

    primary = ()  # names of the filters shown without opening "More filters"

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
        # A range whose start is after its end matches nothing: say so instead.
        by_api = {}
        for name, field in self.filter_fields():
            if field.kind == "datetime" and cleaned.get(name) is not None:
                by_api.setdefault(field.api_field, {})[field.op] = name
        for ops in by_api.values():
            if "gte" in ops and "lte" in ops and cleaned[ops["gte"]] > cleaned[ops["lte"]]:
                self.add_error(ops["lte"], "The end of the range is before its start.")
        return cleaned

    @property
    def order(self):
        return (self.cleaned_data.get("order") or self.default_order) if self.is_bound else None

    @property
    def limit(self):
        return self.cleaned_data.get("limit") or self.default_limit

    def api_filters(self):
        filters = {}
        for name, field in self.filter_fields():
            filters.update(field.to_api(self.cleaned_data.get(name)))
        return filters

    def canonical_pairs(self):
        pairs = []
        for key, value in self.api_filters().items():
            if isinstance(value, datetime):
                value = format_datetime(value)
            elif isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, list):
                value = ",".join(value)
            pairs.append((key, value))
        if self.order != self.default_order:
            pairs.append(("order", self.order))
        if self.limit != self.default_limit:
            pairs.append(("limit", str(self.limit)))
        return pairs

    @property
    def render_key(self):
        """Everything the rendered filter form depends on (with the page's path): the key of
        its cached HTML (core/_filter_form.html). The same filters and errors render the same
        form, so it is built once per worker instead of on every page view (~0.9 ms)."""
        if not self.is_bound:
            return ""
        data = sorted((name, repr(value)) for name, value in self.data.items())
        errors = sorted((name, list(messages)) for name, messages in self.errors.items())
        return repr((type(self).__module__, type(self).__qualname__, self.prefix, data, errors))

    def field_for_param(self, param):
        """The form field that owns an API query parameter (for the API's own 400s)."""
        for name, field in self.filter_fields():
            if param in field.params:
                return name
        return param if param in ("order", "limit") else None


class RowsForm(CanonicalQuery, Form):
    """The filters of a list of dmportal's own rows (a plain form whose cleaned values, when
    not empty, are the filters); the order (newest first) and the page size are fixed."""

    default_order = "DESC"
    default_limit = 50

    @property
    def order(self):
        return self.default_order

    @property
    def limit(self):
        return self.default_limit

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
    """What the shared table partials need to know about one table on a page."""

    def __init__(self, table_id, *, path, query, page, columns, template):
        self.id = table_id
        self.page = page
        self.columns = columns
        self.base_query = query
        self.path = path
        self.template = template  # the page's template: its #thead and #rows partials

    @property
    def next_url(self):
        cursor = self.page.next_cursor if self.page else None
        if cursor is None:
            return None
        return with_query(self.path, f"{self.base_query}&after={cursor}".lstrip("&"))


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
):
    """Validate the filters, fetch one page, render the page or the right partial.

    A list of the API: `fetch(filters=..., limit=..., order=..., after=..., include_total=...)`
    returns a Page. A list of dmportal's own rows: `fetch(filters=...)` returns a queryset,
    which `keyset` pages. `push=False` for lists inside a panel of another page: their URL is
    not the page's.
    """
    path = path or request.path
    partial = is_partial(request)
    after = request.GET.get("after") or None
    if after is not None and keyset is not None:
        keyset.check(after)
    elif after is not None and not is_cursor(after):
        raise api.InvalidRequest("The “load more” cursor in this link is not an id.")
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
    table = Table(table_id, path=path, query=query, page=page, columns=columns, template=template)
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
        )
    except api.ApiError as exc:
        if after is not None:
            raise
        if isinstance(exc, api.BadRequest) and fields_on_form(form, exc):
            return None, None
        return None, describe(exc, request)
    return page, None


def fields_on_form(form, exc):
    """Put the API's field errors on the filters they name; whether any was."""
    mapped = False
    for param, message in exc.fields:
        name = form.field_for_param(param)
        if name is not None:
            form.add_error(name, message)
            mapped = True
    return mapped
