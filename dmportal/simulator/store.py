"""In-memory data with the indexes that keep list pages fast at 100,000 devices.

Reads take no lock. Writers hold ``Store.lock`` and never mutate a list or an object that a
reader may hold: they build a new object dict, and new (copied) ID lists, and swap them in. A
reader that picked up the old list finishes its page on a consistent snapshot.

A page is found by bisecting the sorted ID list for the cursor, then walking forward (or back, for
DESC) until ``limit + 1`` matches are seen. An equality or ``__in`` filter on an indexed field
walks that field's per-value ID lists instead of the whole collection; a ``__lte``/``__gte``
range on a *ranged* field (the certificate expiry dates) bisects a (value, ID) list kept sorted
by value. Each object's JSON is serialised once and cached until the object changes.

Counts (``include=total_count``) without a scan: one indexed equality (sum of the per-value
lists), its negation (``__neq``/``__nin``: the collection size minus those), or one range on a
ranged field (two bisections). Other counts scan once and are remembered until the next write.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import json
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from .filters import ListQuery, Predicate

_SEP = (",", ":")


def dumps(obj) -> bytes:
    return json.dumps(obj, separators=_SEP, ensure_ascii=False).encode()


@contextmanager
def bulk_build():
    """Pause the cyclic garbage collector while building hundreds of thousands of dicts (none
    of which form cycles), then freeze the result: collections stop rescanning seeded data,
    which would otherwise cost tens of milliseconds per full collection at 100k devices."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.freeze()


class Page:
    __slots__ = ("has_more", "items", "total_count")

    def __init__(self, items: list[bytes], has_more: bool, total_count: int | None):
        self.items = items
        self.has_more = has_more
        self.total_count = total_count


def _walk(ids: list[str], after: str | None, descending: bool) -> Iterator[str]:
    if descending:
        end = bisect_left(ids, after) if after else len(ids)
        for i in range(end - 1, -1, -1):
            yield ids[i]
    else:
        start = bisect_right(ids, after) if after else 0
        for i in range(start, len(ids)):
            yield ids[i]


class Collection:
    """Objects of one kind, keyed by ID, kept in ID (= creation) order."""

    def __init__(
        self,
        name: str,
        indexed: Iterable[str] = (),
        multi: Iterable[str] = (),
        ranged: Iterable[str] = (),
    ):
        self.name = name
        self.ids: list[str] = []
        self.objs: dict[str, dict] = {}
        self._json: dict[str, tuple[dict, bytes]] = {}
        self.indexed = frozenset(indexed)
        self.multi = frozenset(multi)  # list-valued fields, indexed per element
        self.index: dict[str, dict] = {f: {} for f in (*self.indexed, *self.multi)}
        # Ranged fields: every (value, id) with a non-null value, sorted (copied on write).
        self.ranged = frozenset(ranged)
        self.by_value: dict[str, list[tuple]] = {f: [] for f in self.ranged}
        self._slices: dict[tuple, list[str]] = {}
        # Counts that need a scan (several filters, a date range) are remembered until the
        # next write: ~100 ms at 100,000 devices the first time, then free. Keyed by the
        # collection's version, so a write makes every remembered count stale at once.
        self.version = 0
        self._counts: dict[tuple, int] = {}
        # IDs grow with creation time, so a created_at range is a contiguous slice of any
        # ID-sorted list (found by bisection instead of a scan); checked, not assumed.
        self.created_in_id_order = True

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, object_id: str) -> dict | None:
        return self.objs.get(object_id)

    def json(self, object_id: str) -> bytes:
        return self._render(object_id, self.objs[object_id])

    def _render(self, object_id: str, obj: dict) -> bytes:
        # The cache entry remembers which version of the object it was made from: a reader that
        # serialised an old version while a writer swapped in a new one cannot leave stale JSON.
        cached = self._json.get(object_id)
        if cached is not None and cached[0] is obj:
            return cached[1]
        data = dumps(obj)
        self._json[object_id] = (obj, data)
        return data

    # --- bulk load (seeding): objects arrive in ID order, no copying needed -------------------
    def load(self, objs: Iterable[dict]) -> None:
        for obj in objs:
            oid = obj["id"]
            self.ids.append(oid)
            self.objs[oid] = obj
            for f in self.indexed:
                self.index[f].setdefault(obj.get(f), []).append(oid)
            for f in self.multi:
                for v in obj.get(f) or ():
                    self.index[f].setdefault(v, []).append(oid)
        self.ids.sort()
        for f in self.ranged:
            values = self.by_value[f]
            values.extend((o[f], o["id"]) for o in self.objs.values() if o.get(f) is not None)
            values.sort()
        self.version += 1
        stamps = [self.objs[oid].get("created_at") or "" for oid in self.ids]
        self.created_in_id_order = all(a <= b for a, b in itertools.pairwise(stamps))
        for table in self.index.values():
            for lst in table.values():
                lst.sort()

    # --- writes (caller holds Store.lock) ------------------------------------------------------
    def _keys(self, obj: dict | None) -> dict[str, set]:
        out: dict[str, set] = {}
        if obj is None:
            return {f: set() for f in self.index}
        for f in self.indexed:
            out[f] = {obj.get(f)}
        for f in self.multi:
            out[f] = set(obj.get(f) or ())
        return out

    def put(self, obj: dict) -> None:
        oid = obj["id"]
        old = self.objs.get(oid)
        if old is None:
            ids = list(self.ids)
            at = bisect_left(ids, oid)
            ids.insert(at, oid)
            self.ids = ids
            stamp = obj.get("created_at") or ""
            before = self.objs[ids[at - 1]].get("created_at") or "" if at else ""
            after = self.objs[ids[at + 1]].get("created_at") or "" if at + 1 < len(ids) else None
            if stamp < before or (after is not None and after < stamp):
                self.created_in_id_order = False
        self._reindex(oid, old, obj)
        self.objs[oid] = obj
        self._json.pop(oid, None)
        self.version += 1

    def remove(self, object_id: str) -> dict | None:
        old = self.objs.get(object_id)
        if old is None:
            return None
        ids = list(self.ids)
        del ids[bisect_left(ids, object_id)]
        self.ids = ids
        self._reindex(object_id, old, None)
        del self.objs[object_id]
        self._json.pop(object_id, None)
        self.version += 1
        return old

    def _reindex(self, oid: str, old: dict | None, new: dict | None) -> None:
        for f in self.ranged:
            was = None if old is None else old.get(f)
            now = None if new is None else new.get(f)
            if was == now:
                continue
            values = list(self.by_value[f])
            if was is not None:
                at = bisect_left(values, (was, oid))
                if at < len(values) and values[at] == (was, oid):
                    del values[at]
            if now is not None:
                values.insert(bisect_left(values, (now, oid)), (now, oid))
            self.by_value[f] = values
        before, after = self._keys(old), self._keys(new)
        for f, table in self.index.items():
            for v in before[f] - after[f]:
                lst = list(table.get(v, ()))  # sorted: a copy and a bisection, not a scan
                at = bisect_left(lst, oid)
                if at < len(lst) and lst[at] == oid:
                    del lst[at]
                if lst:
                    table[v] = lst
                else:
                    table.pop(v, None)
            for v in after[f] - before[f]:
                lst = list(table.get(v, ()))
                lst.insert(bisect_left(lst, oid), oid)
                table[v] = lst

    # --- reads ----------------------------------------------------------------------------------
    def members(self, field_name: str, value) -> list[str]:
        return self.index[field_name].get(value, [])

    def _range(self, field_name: str, preds: list[Predicate]) -> tuple[int, int] | None:
        """The slice of ``by_value[field]`` that the field's range predicates allow, or None if
        no predicate bounds that field (``eq`` counts as both bounds)."""
        values = self.by_value[field_name]
        lo, hi, bounded = 0, len(values), False
        for p in preds:
            if p.field != field_name or p.kind not in ("date", "date-time", "string"):
                continue
            if p.op in ("gte", "eq"):
                lo, bounded = max(lo, bisect_left(values, (p.value,))), True
            if p.op in ("lte", "eq"):
                # (value, "~") sorts after every (value, id): ids are lowercase hex.
                hi, bounded = min(hi, bisect_right(values, (p.value, "~"))), True
        return (lo, max(lo, hi)) if bounded else None

    def _range_ids(self, field_name: str, lo: int, hi: int) -> list[str]:
        key = (self.version, field_name, lo, hi)
        ids = self._slices.get(key)
        if ids is None:
            ids = sorted(oid for _, oid in self.by_value[field_name][lo:hi])
            if len(self._slices) > 32:
                self._slices.clear()
            self._slices[key] = ids
        return ids

    def _candidates(self, preds: list[Predicate], scope: list[str] | None):
        """Pick the cheapest ID source: the whole collection, a scope, an index or a range.

        Every object drawn is still tested against all predicates (and the scope's own test),
        so the choice changes speed only, never the result."""
        best: list[list[str]] | None = None
        best_size = len(scope) if scope is not None else len(self.ids)
        for f in self.ranged:
            bounds = self._range(f, preds)
            if bounds is not None and bounds[1] - bounds[0] < best_size * 0.5:
                best, best_size = [self._range_ids(f, *bounds)], bounds[1] - bounds[0]
        for p in preds:
            if p.field == "id" and p.op in ("eq", "in"):
                # Every collection is keyed by ID: the dict is the index.
                lists = [sorted(v for v in p.values() if v in self.objs)]
                size = len(lists[0])
            elif p.indexable and p.field in self.indexed:
                lists = [self.index[p.field].get(v, []) for v in p.values()]
                size = sum(len(x) for x in lists)
            else:
                continue
            if size < best_size * 0.5:
                best, best_size = lists, size
        if best is None:
            return [scope if scope is not None else self.ids]
        return best

    def _clip(self, ids: list[str], preds: list[Predicate]) -> list[str]:
        """The part of an ID-sorted list that a created_at range can match."""
        if not self.created_in_id_order:
            return ids
        lo, hi = 0, len(ids)
        objs = self.objs

        def stamp(oid):
            return objs[oid].get("created_at") or ""

        for p in preds:
            if p.field == "created_at" and p.kind == "date-time":
                if p.op == "gte":
                    lo = max(lo, bisect_left(ids, p.value, lo, hi, key=stamp))
                elif p.op == "lte":
                    hi = min(hi, bisect_right(ids, p.value, lo, hi, key=stamp))
        return ids if (lo, hi) == (0, len(ids)) else ids[lo:hi]

    def _scope(self, member_of, test):
        """``member_of=(list_field, value)``: only objects whose list field contains value."""
        if member_of is None:
            return None, test, test is None
        list_field, value = member_of
        scope = self.index[list_field].get(value, [])

        def in_scope(obj: dict) -> bool:
            return value in (obj.get(list_field) or ()) and (test is None or test(obj))

        return scope, in_scope, test is None

    def page(
        self,
        query: ListQuery,
        member_of: tuple[str, str] | None = None,
        test: Callable[[dict], bool] | None = None,
    ) -> Page:
        """One page of objects matching the query's predicates.

        ``member_of``: restrict to objects whose list field (e.g. ``groups``) holds a value;
        ``test``: an extra condition the filter grammar cannot express (e.g. "my own key").
        """
        preds = query.predicates
        scope, test, plain = self._scope(member_of, test)
        descending = query.order == "DESC"
        sources = [self._clip(lst, preds) for lst in self._candidates(preds, scope)]
        streams = [_walk(lst, query.after, descending) for lst in sources]
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, reverse=descending)
        objs = self.objs
        found: list[tuple[str, dict]] = []
        want = query.limit + 1
        for oid in merged:
            obj = objs.get(oid)
            if obj is None:
                continue
            if all(p.test(obj) for p in preds) and (test is None or test(obj)):
                found.append((oid, obj))
                if len(found) == want:
                    break
        has_more = len(found) > query.limit
        items = [self._render(oid, obj) for oid, obj in found[: query.limit]]
        total = self._count(preds, scope, test, plain) if query.want_total else None
        return Page(items, has_more, total)

    def count(
        self,
        preds: list[Predicate],
        member_of: tuple[str, str] | None = None,
        test: Callable[[dict], bool] | None = None,
    ) -> int:
        scope, test, plain = self._scope(member_of, test)
        return self._count(preds, scope, test, plain)

    def _count_without_scan(self, preds: list[Predicate]) -> int | None:
        """The count from an index alone, when the predicates allow it; None otherwise."""
        fields = {p.field for p in preds}
        if len(fields) != 1:
            return None
        (field_name,) = fields
        if field_name in self.ranged and all(p.op in ("lte", "gte", "eq") for p in preds):
            lo, hi = self._range(field_name, preds)
            return hi - lo
        if len(preds) != 1 or field_name not in self.indexed:
            return None
        p = preds[0]
        table = self.index[field_name]
        if p.indexable:
            return sum(len(table.get(v, ())) for v in p.values())
        if p.op in ("neq", "nin") and p.kind in ("string", "integer", "boolean"):
            # Objects without the field are indexed under None, so every object is counted once.
            return len(self.ids) - sum(len(table.get(v, ())) for v in p.values())
        return None

    def _count(self, preds, scope, test, plain: bool) -> int:
        """``plain``: no condition beyond the predicates and the scope itself."""
        if not preds and plain:
            return len(scope) if scope is not None else len(self.ids)
        if scope is None and test is None:
            fast = self._count_without_scan(preds)
            if fast is not None:
                return fast
        key = None
        if plain:  # no opaque test function: the predicates and the scope say it all
            key = (self.version, tuple(preds), None if scope is None else (id(scope), len(scope)))
            if key in self._counts:
                return self._counts[key]
        objs = self.objs
        total = 0
        for lst in self._candidates(preds, scope):
            for oid in self._clip(lst, preds):
                obj = objs.get(oid)
                if (
                    obj is not None
                    and all(p.test(obj) for p in preds)
                    and (test is None or test(obj))
                ):
                    total += 1
        if key is not None:
            if len(self._counts) > 256:
                self._counts.clear()
            self._counts[key] = total
        return total


class Store:
    """All collections of one simulated account, plus the lock that serialises writes."""

    def __init__(self):
        self.lock = threading.RLock()
        self.account: dict = {}
        self.devices = Collection(
            "devices",
            # Selective fields only: an index on a field with a handful of evenly spread values
            # (vendor_id, device_class...) would cost load time and never be chosen.
            indexed=(
                "state",
                "lifecycle_status",
                "mechanism",
                "device_execution_mode",
                "endpoint_name",
                "serial_number",
                "name",
                "host_gateway",
                "endpoint_type",
                # Booleans, for the overview's counts: "suspended" is the rare value.
                "operator_suspended",
                "system_suspended",
            ),
            multi=("groups",),
            ranged=("connector_expiration_date", "bootstrap_expiration_date"),
        )
        self.device_groups = Collection("device_groups", indexed=("name",))
        self.device_queries = Collection("device_queries", indexed=("name",))
        self.block_categories: list[dict] = []  # the vendor's fixed list, in display order
        self.users = Collection("users", indexed=("email", "status"), multi=("groups",))
        self.policy_groups = Collection("policy_groups", indexed=("name",))
        self.api_keys = Collection("api_keys", indexed=("owner", "key"), multi=("groups",))
        self.applications = Collection("applications", indexed=("status",), multi=("groups",))
        self.access_keys = Collection("access_keys", indexed=("application_id", "status"))
        self.invitations = Collection("invitations", indexed=("email",))
        self.events = None  # set by seed: events.EventLog
        self.metrics = None  # set by seed: metrics.MetricSeries
        # Full bearer key -> ("api-key" | "access-key", object id). Never rendered.
        self.secrets: dict[str, tuple[str, str]] = {}
        self.admin_group_id = ""
        self.developer_group_id = ""
        self.sequences: dict[int, int] = {}

    def next_seq(self, kind: int) -> int:
        seq = self.sequences.get(kind, 0) + 1
        self.sequences[kind] = seq
        return seq
