"""Find devices from whatever identifier a customer reads out.

The API matches exactly and one field at a time, so one search is one list call per field
(id, endpoint name, serial number, name, vendor ID), sent at the same time from a small
thread pool and merged by device id. Several values (comma, semicolon or newline separated)
go into one `__in` call per field. Text with spaces is looked up as typed and word by word in
the same call (`name__in=Leeds boiler 12,Leeds,boiler,12`), so a device name and a pasted
list of serial numbers both work without the person saying which it is.

The worker threads only call the API: the client and its pooled session are thread-safe,
Django's database connections are not shared across threads, so nothing here touches them.
"""

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlencode

from dmportal.core.parallel import submit
from dmportal.dmapi import errors as api
from dmportal.dmapi import resources
from dmportal.dmapi.ids import is_id

LIST_SEPARATORS = re.compile(r"[,;\r\n]+")
MAX_TEXT = 2000
MAX_VALUES = 50
MAX_VALUE_LENGTH = 255
HITS_PER_LOOKUP = 25


@dataclass(frozen=True)
class Field:
    name: str  # the API's field
    label: str
    max_length: int  # longer values cannot match (DeviceData limits in the spec)


FIELDS = (
    Field("id", "device ID", 32),
    Field("endpoint_name", "endpoint name", 64),
    Field("serial_number", "serial number", 64),
    Field("name", "name", 128),
    Field("vendor_id", "vendor ID", 255),
)


class QueryError(ValueError):
    pass


@dataclass(frozen=True)
class Query:
    text: str
    values: tuple  # what is looked up, in the order typed
    kind: str  # "single" (one token), "words" (text with spaces), "list" (separated values)

    @property
    def id_shaped(self):
        """One value without spaces: if it is the only hit, open the device directly."""
        return self.kind == "single"


def parse_query(text):
    """The values to look up in what was typed; QueryError when there is nothing usable."""
    text = (text or "").strip()
    if not text:
        raise QueryError("Type an identifier: a device ID, endpoint name, serial number, …")
    if len(text) > MAX_TEXT:
        raise QueryError(f"That is more than {MAX_TEXT} characters.")
    if LIST_SEPARATORS.search(text):
        kind = "list"
        values = [v.strip() for v in LIST_SEPARATORS.split(text)]
    elif len(text.split()) > 1:
        kind = "words"
        values = [text, *text.split()]
    else:
        kind = "single"
        values = [text]
    values = tuple(dict.fromkeys(v for v in values if v))
    if not values:
        raise QueryError("Type an identifier: a device ID, endpoint name, serial number, …")
    if len(values) > MAX_VALUES:
        raise QueryError(f"At most {MAX_VALUES} values at once (this has {len(values)}).")
    for value in values:
        if len(value) > MAX_VALUE_LENGTH:
            raise QueryError(f"“{value[:40]}…” is longer than any identifier can be.")
    return Query(text=text, values=values, kind=kind)


@dataclass
class Lookup:
    """One field's look-up: the values sent, and its page, its error, or why it was skipped."""

    field: Field
    values: tuple = ()
    skipped: str = ""
    page: object = None
    error: api.ApiError | None = None
    error_info: object = None  # set by the view (core.errors.describe needs the request)

    @property
    def filters(self):
        if len(self.values) == 1:
            return {f"{self.field.name}__eq": self.values[0]}
        return {f"{self.field.name}__in": list(self.values)}

    @property
    def param(self):
        return next(iter(self.filters))

    @property
    def hit_count(self):
        if self.page is None:
            return 0
        if self.page.total_count is not None:
            return self.page.total_count
        return len(self.page.items)

    @property
    def truncated(self):
        return self.page is not None and self.page.has_more

    @property
    def list_query(self):
        """The device list's query string showing every match of this look-up."""
        return urlencode({f"{self.field.name}__in": ",".join(self.values)}, safe=",")


def plan_lookups(query):
    lookups = []
    for f in FIELDS:
        if f.name == "id":
            values = tuple(dict.fromkeys(v.lower() for v in query.values if is_id(v.lower())))
            reason = "only a value of 32 hexadecimal characters can be a device ID"
        else:
            values = tuple(v for v in query.values if len(v) <= f.max_length)
            reason = f"a {f.label} has at most {f.max_length} characters"
        lookups.append(Lookup(f, values) if values else Lookup(f, skipped=reason))
    return lookups


@dataclass
class Hit:
    device: dict
    matches: list = field(default_factory=list)  # [(field label, value)]

    @property
    def id(self):
        value = self.device.get("id")
        return value if isinstance(value, str) else ""


@dataclass
class SearchResult:
    query: Query
    lookups: list
    hits: list

    @property
    def tried(self):
        return [lookup for lookup in self.lookups if not lookup.skipped]

    @property
    def skipped(self):
        return [lookup for lookup in self.lookups if lookup.skipped]

    @property
    def failed(self):
        return [lookup for lookup in self.lookups if lookup.error is not None]

    @property
    def all_failed(self):
        return bool(self.tried) and len(self.failed) == len(self.tried)

    @property
    def truncated(self):
        return [lookup for lookup in self.lookups if lookup.truncated]

    @property
    def unmatched(self):
        """Values of a pasted list that no look-up found (None when a look-up failed: then
        nothing can be said about them)."""
        if self.query.kind != "list" or self.failed:
            return None
        found = {value.lower() for hit in self.hits for _, value in hit.matches}
        return [v for v in self.query.values if v.lower() not in found]

    def only_device_id(self):
        """The device to open directly: an ID-shaped query, one device found, nothing failed."""
        if not self.query.id_shaped or self.failed or len(self.hits) != 1:
            return None
        device_id = self.hits[0].id
        return device_id if is_id(device_id) else None


def device_search(client, query, *, hits_per_lookup=HITS_PER_LOOKUP):
    """Run every applicable look-up at once and merge the devices they found."""
    lookups = plan_lookups(query)
    active = [lookup for lookup in lookups if not lookup.skipped]
    if not active:
        return SearchResult(query=query, lookups=lookups, hits=[])
    with ThreadPoolExecutor(max_workers=len(active), thread_name_prefix="dm-search") as pool:
        futures = [
            (
                lookup,
                submit(
                    pool,
                    resources.device_page,
                    client,
                    filters=lookup.filters,
                    limit=hits_per_lookup,
                    include_total=True,
                ),
            )
            for lookup in active
        ]
    for lookup, future in futures:
        try:
            lookup.page = future.result()
        except api.ApiError as exc:
            lookup.error = exc
    return SearchResult(query=query, lookups=lookups, hits=merge(lookups))


def merge(lookups):
    """One hit per device, in field order, each saying which field(s) and value matched."""
    hits = {}
    for lookup in lookups:
        if lookup.page is None:
            continue
        sought = set(lookup.values)
        for n, device in enumerate(lookup.page.items):
            key = device.get("id") if isinstance(device.get("id"), str) else f"#{lookup.param}{n}"
            hit = hits.setdefault(key, Hit(device))
            actual = device.get(lookup.field.name)
            if lookup.field.name == "id" and isinstance(actual, str):
                actual = actual.lower()
            value = actual if isinstance(actual, str) and actual in sought else None
            value = value or ", ".join(lookup.values)
            hit.matches.append((lookup.field.label, value))
    return list(hits.values())
