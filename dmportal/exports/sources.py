"""The lists that can be exported: a registry that apps fill in their `AppConfig.ready()`.

A source says how to read every row of one list page as that page reads them: the page's own
filter form (bound from the same query string, so the export holds exactly the list the URL
shows), a function for one page of the API's list (or, for a list of dmportal's own rows, the
queryset), the columns it can export and those it exports by default, and what a file of it
is called.
"""

from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    value: Any = None  # value(record, context) -> the cell's value; default: record[key]

    def value_of(self, record, context):
        if self.value is not None:
            return self.value(record, context)
        return record.get(self.key) if isinstance(record, dict) else getattr(record, self.key)


@dataclass(frozen=True)
class ExportSource:
    name: str  # in the export's URL and the file's name: "devices"
    noun: str  # one row: "device"
    form: type  # the list page's filter form
    columns: tuple  # every Column it can export
    default_columns: tuple  # the keys exported when the user chose none
    list_url: Any  # list_url(parent) -> the list page's URL
    # A list of the API: page(client, *, parent, filters, limit, order, after, include_total)
    # returns a dmapi Page. A list of dmportal's own rows: rows(*, user, connection, filters)
    # returns a queryset, walked by primary key; record(row) is its JSON Lines record.
    page: Any = None
    rows: Any = None
    record: Any = None
    parent: str | None = None  # the list belongs to one thing (a device, a group): its id
    prepare: Any = None  # prepare(client) -> the context the column values read (group names)
    clean: Any = None  # clean(record) -> the record as written (leave out what must not be)
    columns_for: Any = None  # columns_for(request) -> the keys the user chose for this list
    title: str = ""  # "Devices"; "Devices of group {parent}"
    file_prefix: Any = None  # file_prefix(parent) -> "group-<id>-devices"
    # resolve(key) -> a Column for a key not among `columns` (a custom attribute's), or None
    resolve: Any = None
    counts_total: bool = True  # False: the API's list offers no total (`include=total_count`)
    extra: dict = field(default_factory=dict)

    @property
    def uses_api(self):
        return self.page is not None

    def column_map(self):
        return {column.key: column for column in self.columns}

    def chosen(self, keys):
        """The columns for these keys, in their order (unknown keys left out); the default
        columns when none is known."""
        known = self.column_map()
        chosen = [c for c in (known.get(k) or self._resolved(k) for k in keys or ()) if c]
        return chosen or [known[k] for k in self.default_columns]

    def _resolved(self, key):
        return self.resolve(key) if self.resolve else None

    def bind(self, query):
        """The list's form bound from a query string (the list URL's), validated."""
        form = self.form(QueryDict(query) if isinstance(query, str) else query)
        form.is_valid()
        return form

    def prefix(self, parent):
        return self.file_prefix(parent) if self.file_prefix else self.name

    def describe(self, parent):
        return (self.title or self.name.replace("-", " ").capitalize()).format(parent=parent)


SOURCES = {}


def register(source):
    existing = SOURCES.get(source.name)
    if existing is not None and existing != source:
        raise ValueError(f"An export source named {source.name!r} is already registered.")
    SOURCES[source.name] = source
    return source


def source_for(name):
    return SOURCES.get(name)
