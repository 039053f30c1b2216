"""Device events (device history), generated lazily and deterministically per device.

Seeding 100,000 devices with half a million events up front would make start-up slow, so a
device's seeded events are a pure function of (seed, device sequence number, the device's seeded
facts): generated on first request and cached. An event ID embeds its device's sequence number,
so ``GET /v3/device-events/{id}/`` finds its device without any global table. Only a listing
across all devices (no ``device_id`` filter) builds the global, indexed collection, once.
Events appended at run time (device updated, suspended, resumed) go into both views.

Fields follow the spec's examples: ``event_type`` is the code (``UPD4_FAIL_101``),
``event_type_category`` a summary category code (``FAIL_MANIFEST_REJECTED``) and
``event_type_description`` the message type the Portal shows (``SUCCESS``, ``FAIL``, ``INFO``);
``description`` is the human text. The spec declares no filter on the category, so failures are
found by their event types (``FAIL_TYPES``): ``event_type__in=UPD4_FAIL_101,UPD4_FAIL_305``.
A deterministic share of registered devices (``EventLog.recent_failure``) also failed an update
within the 24 hours before the data's ``now``, so an overview of the last day has failures.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from .filters import ListQuery
from .ids import KIND_EVENT, id_ms, iso_us, make_id
from .store import Collection, Page, bulk_build

# (event_type, event_type_category, event_type_description, state_change, description)
# fmt: off
CREATED = ("update.device.device-created", "DEVICE_CREATED", "SUCCESS", True,
           "Device record created")
UPDATED = ("update.device.device-updated", "DEVICE_UPDATED", "INFO", False, "Device record updated")
BOOTSTRAPPED = ("bootstrap.device.bootstrapped", "BOOTSTRAP_SUCCESS", "SUCCESS", True,
                "Device bootstrapped")
REGISTERED = ("connector.device.registered", "REGISTRATION", "SUCCESS", True, "Device registered")
REG_UPDATE = ("connector.device.registration-updated", "REGISTRATION_UPDATE", "INFO", False,
              "Registration updated")
DEREGISTERED = ("connector.device.deregistered", "DEREGISTRATION", "INFO", True,
                "Device deregistered")
FW_STARTED = ("UPD2_100", "UPDATE_STARTED", "INFO", False, "Firmware update started")
FW_DONE = ("UPD2_200", "UPDATE_SUCCESS", "SUCCESS", True, "Firmware update completed")
FW_FAILED = ("UPD4_FAIL_101", "FAIL_UPDATE_ERROR", "FAIL", False,
             "Update error, nonspecific network error")
FW_REJECTED = ("UPD4_FAIL_305", "FAIL_MANIFEST_REJECTED", "FAIL", False,
               "Manifest rejected: the device class does not match")
SUSPENDED = ("lifecycle.device.suspended", "DEVICE_SUSPENDED", "INFO", True, "Device suspended")
RESUMED = ("lifecycle.device.resumed", "DEVICE_RESUMED", "INFO", True, "Device returned to service")
CREATED_BY_API = ("update.device.device-created", "DEVICE_CREATED", "SUCCESS", True,
                  "Device record created through the API")
# fmt: on
FAIL_TYPES = (FW_FAILED[0], FW_REJECTED[0])
RECENT_FAILURE_WINDOW_MS = 20 * 3600_000  # placed within the last 20 h before ``now``

_LATER = (REG_UPDATE, REG_UPDATE, FW_STARTED, UPDATED)
_EVENT_SEQ_BITS = 16  # low bits of the ID sequence: the event's index within its device


@dataclass(frozen=True)
class DeviceFacts:
    """What event generation needs to know about a seeded device (immutable)."""

    device_id: str
    created_ms: int
    state: str
    suspended_ms: int | None


def _event(device_id: str, seq: int, index: int, ms: int, kind: tuple, **extra) -> dict:
    event_type, category, type_description, state_change, text = kind
    ts = iso_us(ms)
    obj = {
        "object": "device-event",
        "id": make_id(ms, KIND_EVENT, (seq << _EVENT_SEQ_BITS) | index),
        "device_id": device_id,
        "date_time": ts,
        "created_at": ts,
        "etag": ts,
        "event_type": event_type,
        "event_type_category": category,
        "event_type_description": type_description,
        "description": extra.pop("description", text),
        "state_change": state_change,
        "changes": extra.pop("changes", {}),
        "data": extra.pop("data", {}),
        "sim_revision": 1,
    }
    obj.update(extra)
    return obj


class EventLog:
    def __init__(self, seed: int, now_ms: int, facts: list[DeviceFacts]):
        self.seed = seed
        self.now_ms = now_ms
        self.facts = facts  # index = device sequence number - 1
        self.seq_by_device = {f.device_id: i + 1 for i, f in enumerate(facts)}
        self.seeded = len(facts)
        self.recent_failure = _recent_failures(facts)
        self._cache: dict[int, list[dict]] = {}
        self._runtime: dict[str, list[dict]] = {}  # device id -> appended events, in ID order
        self._global: Collection | None = None
        self._lock = threading.Lock()

    # --- generation -----------------------------------------------------------------------------
    def _generate(self, seq: int) -> list[dict]:  # noqa: C901 - seeded draws in a fixed order
        cached = self._cache.get(seq)
        if cached is not None:
            return cached
        f = self.facts[seq - 1]
        # random.random() only: randint/choice/sample cost several times more, and this runs
        # for every device when the global event list is first needed.
        rng = random.Random(self.seed * 1_000_003 + seq)
        draw = rng.random
        plan: list[tuple] = [CREATED]
        if f.state != "unenrolled":
            plan.append(BOOTSTRAPPED)
        if f.state in ("registered", "deregistered"):
            plan.append(REGISTERED)
            for _ in range(int(draw() * 4)):
                plan.append(_LATER[int(draw() * len(_LATER))])
                if plan[-1] is FW_STARTED:
                    plan.append(FW_DONE if draw() < 0.8 else FW_FAILED)
        if f.state == "deregistered":
            plan.append(DEREGISTERED)
        end = f.suspended_ms or self.now_ms
        span = max(end - f.created_ms, 2 * len(plan))
        times = [f.created_ms]
        for offset in sorted(1 + int(draw() * (span - 1)) for _ in range(len(plan) - 1)):
            times.append(max(f.created_ms + offset, times[-1] + 1))  # strictly increasing
        events = []
        for index, (kind, ms) in enumerate(zip(plan, times, strict=True)):
            extra: dict = {}
            if kind in (FW_STARTED, FW_DONE, FW_FAILED):
                extra["data"] = {"campaign": f"Spring rollout {1 + int(draw() * 9)}"}
            if kind is UPDATED:
                extra["changes"] = {"description": {"old": "", "new": "Moved to new site"}}
            events.append(_event(f.device_id, seq, index, ms, kind, **extra))
        if f.suspended_ms is not None:
            events.append(
                _event(
                    f.device_id,
                    seq,
                    len(events),
                    f.suspended_ms,
                    SUSPENDED,
                    description="Device suspended by operator",
                )
            )
        if seq in self.recent_failure:
            span = RECENT_FAILURE_WINDOW_MS - 60_000
            last = id_ms(events[-1]["id"])
            ms = max(self.now_ms - 60_000 - int(draw() * span), last + 1)
            if ms < self.now_ms:
                kind = FW_REJECTED if seq % 2 else FW_FAILED
                data = {"campaign": f"Spring rollout {1 + int(draw() * 9)}"}
                events.append(_event(f.device_id, seq, len(events), ms, kind, data=data))
        self._cache[seq] = events
        return events

    # --- devices created at run time --------------------------------------------------------------
    def register(self, device_id: str) -> None:
        """Give a device created at run time its own sequence number (caller holds the lock)."""
        if device_id not in self.seq_by_device:
            self.seq_by_device[device_id] = len(self.seq_by_device) + 1

    # --- reads ------------------------------------------------------------------------------------
    def for_device(self, device_id: str) -> list[dict]:
        seq = self.seq_by_device.get(device_id)
        seeded = self._generate(seq) if seq and seq <= self.seeded else []
        return seeded + self._runtime.get(device_id, [])

    def get(self, event_id: str) -> dict | None:
        if self._global is not None:
            return self._global.get(event_id)
        for events in self._runtime.values():
            for e in events:
                if e["id"] == event_id:
                    return e
        if int(event_id[12:16], 16) != KIND_EVENT:
            return None
        packed = int(event_id[16:], 16)
        seq, index = packed >> _EVENT_SEQ_BITS, packed & ((1 << _EVENT_SEQ_BITS) - 1)
        if not 1 <= seq <= self.seeded:
            return None
        events = self._generate(seq)
        if index < len(events) and events[index]["id"] == event_id:
            return events[index]
        return None

    def _all(self) -> Collection:
        with self._lock:
            if self._global is None:
                coll = Collection("device_events", indexed=("device_id", "event_type"))
                with bulk_build():
                    everything = []
                    for seq in range(1, len(self.facts) + 1):
                        everything.extend(self._generate(seq))
                    for events in self._runtime.values():
                        everything.extend(events)
                    everything.sort(key=lambda e: e["id"])
                    coll.load(everything)
                self._global = coll
                self._cache.clear()  # the global collection now holds every seeded event
            return self._global

    def page(self, query: ListQuery) -> Page:
        device_ids = None
        for p in query.predicates:
            if p.field == "device_id" and p.op in ("eq", "in"):
                device_ids = p.values() if device_ids is None else device_ids & p.values()
        if device_ids is not None and self._global is None:
            coll = Collection("device_events")
            coll.load(e for d in sorted(device_ids) for e in self.for_device(d))
            return coll.page(query)
        return self._all().page(query)

    # --- writes (caller holds Store.lock) ---------------------------------------------------------
    def append(self, device_id: str, ms: int, kind: tuple, **extra) -> dict:
        # Also under the events lock: a global index being built must not miss this event.
        with self._lock:
            return self._append(device_id, ms, kind, **extra)

    def _append(self, device_id: str, ms: int, kind: tuple, **extra) -> dict:
        seq = self.seq_by_device.get(device_id, 0)
        existing = self.for_device(device_id)
        last = existing[-1]["id"] if existing else ""
        # Keep IDs increasing with time even if two writes land in the same millisecond.
        ms = max(ms, id_ms(last) if last else ms)
        index = len(existing)
        event = _event(device_id, seq, index, ms, kind, **extra)
        while last and event["id"] <= last:
            ms += 1
            event = _event(device_id, seq, index, ms, kind, **extra)
        self._runtime[device_id] = [*self._runtime.get(device_id, []), event]
        if self._global is not None:
            self._global.put(event)
        return event


def _recent_failures(facts: list[DeviceFacts]) -> frozenset[int]:
    """The sequence numbers of the registered, unsuspended devices that get an update failure in
    the last 24 h: about one in 37 of them, and at least three from the middle of the fleet."""
    candidates = [
        i + 1 for i, f in enumerate(facts) if f.state == "registered" and f.suspended_ms is None
    ]
    picked = {seq for seq in candidates if seq % 37 == 5}
    middle = [seq for seq in candidates if seq > len(facts) // 2]
    picked.update(middle[:3])
    return frozenset(picked)
