"""``GET /v3/metrics``: account statistics, as deterministic seeded series.

Every metric of the spec's ``include`` list has a daily total that is a pure function of (seed,
metric, day) scaled by the fleet's size, with fewer events at weekends and a daily profile
(busier in working hours, UTC). A bucket's value is the difference of a cumulative count at
minute resolution, so any interval (``5m`` .. ``365d``, ``1w`` .. ``53w``) adds up exactly: 24
hourly buckets sum to their day. Relative to the data's ``now`` (its day D):

* D-1 ("yesterday"): full registrations fall to about a third, registration updates and TLS
  handshakes to 60 % (the overview's "registrations dropped yesterday");
* D-3: Connect REST API errors are eight times their usual level;
* D-10: failed bootstraps are six times their usual level.

No data lies in the future: a bucket that starts after the live clock is not returned, and the
current bucket counts up to the clock. Data exists from 800 days before the data's ``now``
(earlier buckets are zeros) up to the live clock, however long the simulator has been running.

Parameters (400 ``validation_error`` naming the parameter when wrong):

* ``include`` (required): metric names, comma-separated, optionally ``total_count``; at least one
  metric. ``interval`` (required): ``<n>m|h|d|w`` within 5m-525600m, 1h-8760h, 1d-365d, 1w-53w.
* ``start`` and ``end``, or ``period`` (same grammar as ``interval``), not both. ``start``/``end``
  take ``2017``, ``20170207``, ``2017-02-07``, ``20170207T092056Z``, ``20170207T092056990Z``
  or RFC 3339 (``2017-02-07T09:20:56.990Z``); ``end`` is exclusive, at most 365 days after
  ``start``. With ``period``, the range ends at the live clock and starts at ``now - period``
  rounded down to the interval's unit (minute, hour, UTC day, or Monday for weeks).
* ``limit`` 2-1000 (default 50; out of range is a 400, as in the IAM lists), ``order`` ASC/DESC,
  ``after``: a metric ID from an earlier page (the next page starts after that bucket).

The envelope has no ``order`` (``successful-response``); ``after`` echoes the cursor bucket's
timestamp, as in the spec's example (so a client must take the cursor from the last item's
``id``, never from the envelope). Metric IDs are 32 hex characters: the bucket's start in
milliseconds, kind 0x0040 and the interval in minutes.

Access: the developer key gets 403 ``access_denied`` (the spec declares 403 here; account-wide
statistics are treated as administration), so a dashboard can show "not available for this key".
"""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import UTC, datetime

from . import errors
from .ids import DAY_MS, ID_RE, KIND_METRIC, id_ms, iso_s, make_id, to_ms
from .routes import Api, Request, Response, json_response, route

METRICS = (
    "transactions",
    "full_registrations",
    "registration_updates",
    "deleted_registrations",
    "expired_registrations",
    "bootstraps_successful",
    "bootstraps_failed",
    "bootstraps_pending",
    "handshakes_successful",
    "connect_rest_api_success",
    "connect_rest_api_error",
    "device_proxy_request_success",
    "device_proxy_request_error",
    "device_subscription_request_success",
    "device_subscription_request_error",
    "device_observations",
)
# Events per device per day.
RATES = {
    "transactions": 48.0,
    "full_registrations": 0.02,
    "registration_updates": 2.0,
    "deleted_registrations": 0.004,
    "expired_registrations": 0.006,
    "bootstraps_successful": 0.012,
    "bootstraps_failed": 0.0015,
    "bootstraps_pending": 0.0008,
    "handshakes_successful": 2.1,
    "connect_rest_api_success": 3.0,
    "connect_rest_api_error": 0.04,
    "device_proxy_request_success": 1.4,
    "device_proxy_request_error": 0.02,
    "device_subscription_request_success": 0.3,
    "device_subscription_request_error": 0.004,
    "device_observations": 9.0,
}
# (days before the data's now, metric, factor)
ANOMALIES = (
    (1, "full_registrations", 0.35),
    (1, "registration_updates", 0.6),
    (1, "handshakes_successful", 0.6),
    (3, "connect_rest_api_error", 8.0),
    (10, "bootstraps_failed", 6.0),
)
HOUR_WEIGHTS = (2, 2, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 7, 7, 8, 8, 7, 6, 5, 4, 4, 3, 3, 2)
_MINUTE_PREFIX = [0]
for _w in HOUR_WEIGHTS:
    _MINUTE_PREFIX.append(_MINUTE_PREFIX[-1] + 60 * _w)
DAY_WEIGHT = _MINUTE_PREFIX[-1]
MINUTE_MS = 60_000
UNIT_MS = {"m": MINUTE_MS, "h": 3600_000, "d": DAY_MS, "w": 7 * DAY_MS}
UNIT_RANGE = {"m": (5, 525_600), "h": (1, 8760), "d": (1, 365), "w": (1, 53)}
SPAN_RE = re.compile(r"^(\d{1,6})([mhdw])$")
MAX_RANGE_MS = 365 * DAY_MS
HISTORY_DAYS = 800
DEFAULT_LIMIT, MIN_LIMIT, MAX_LIMIT = 50, 2, 1000
_TIME_FORMS = (
    (re.compile(r"^\d{4}$"), "%Y"),
    (re.compile(r"^\d{8}$"), "%Y%m%d"),
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "%Y-%m-%d"),
    (re.compile(r"^\d{8}T\d{6}Z$"), "%Y%m%dT%H%M%SZ"),
    (re.compile(r"^\d{8}T\d{9}Z$"), "compact-ms"),
    (re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"), "rfc3339"),
)


class MetricSeries:
    """Cumulative counts per metric, from which any bucket is two lookups."""

    def __init__(self, seed: int, devices: int, now_ms: int):
        self.seed = seed
        self.devices = max(devices, 1)
        self.now_ms = now_ms
        self.today = now_ms // DAY_MS
        self.first_day = self.today - HISTORY_DAYS
        # Per metric: day totals from first_day on, and their prefix sums (one longer),
        # extended as the clock moves on.
        self._totals: dict[str, list[int]] = {m: [] for m in METRICS}
        self._prefix: dict[str, list[int]] = {m: [0] for m in METRICS}
        self._lock = threading.Lock()

    def day_total(self, metric: str, day: int) -> int:
        digest = hashlib.blake2b(f"{self.seed}:{metric}:{day}".encode(), digest_size=8).digest()
        noise = 0.85 + 0.3 * int.from_bytes(digest) / 2**64
        weekend = (day + 3) % 7 >= 5  # day 0 (1970-01-01) was a Thursday
        factor = 0.75 if weekend else 1.0
        for days_before, name, boost in ANOMALIES:
            if name == metric and day == self.today - days_before:
                factor *= boost
        return round(RATES[metric] * self.devices * factor * noise)

    def _tables(self, day: int) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
        """The tables, computed at least up to ``day``."""
        if len(self._totals[METRICS[-1]]) <= day - self.first_day:  # the last one extended
            with self._lock:
                for metric in METRICS:
                    totals, prefix = self._totals[metric], self._prefix[metric]
                    for d in range(self.first_day + len(totals), day + 1):
                        totals.append(self.day_total(metric, d))
                        prefix.append(prefix[-1] + totals[-1])
        return self._totals, self._prefix

    def cumulative(self, metric: str, ms: int) -> int:
        """Events of ``metric`` before the instant ``ms`` (minute resolution)."""
        day = ms // DAY_MS
        if day < self.first_day:
            return 0
        totals, prefix = self._tables(day)
        index = day - self.first_day
        minute = (ms % DAY_MS) // MINUTE_MS
        hour, rest = divmod(minute, 60)
        weight = _MINUTE_PREFIX[hour] + HOUR_WEIGHTS[hour] * rest
        return prefix[metric][index] + totals[metric][index] * weight // DAY_WEIGHT

    def between(self, metric: str, start_ms: int, end_ms: int) -> int:
        return self.cumulative(metric, end_ms) - self.cumulative(metric, start_ms)


def _span(raw: str | None, name: str, problems: list) -> tuple[int, str] | None:
    """``"30d"`` -> (milliseconds, unit); None (and a problem) when malformed or out of range."""
    m = SPAN_RE.match(raw or "")
    if not m:
        problems.append(errors.field(name, f"{name} must look like 5m, 2h, 3d or 4w."))
        return None
    amount, unit = int(m.group(1)), m.group(2)
    low, high = UNIT_RANGE[unit]
    if not low <= amount <= high:
        problems.append(errors.field(name, f"{name} must be within {low}{unit}-{high}{unit}."))
        return None
    return amount * UNIT_MS[unit], unit


def _instant(raw: str, name: str, problems: list) -> int | None:
    for pattern, form in _TIME_FORMS:
        if not pattern.match(raw):
            continue
        try:
            if form == "compact-ms":
                moment = datetime.strptime(raw[:15], "%Y%m%dT%H%M%S")
                return to_ms(moment.replace(tzinfo=UTC)) + int(raw[15:18])
            if form == "rfc3339":
                head, _, frac = raw[:-1].partition(".")
                moment = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
                return to_ms(moment) + int((frac or "0").ljust(3, "0")[:3])
            return to_ms(datetime.strptime(raw, form).replace(tzinfo=UTC))
        except ValueError:
            break
    problems.append(
        errors.field(name, f"'{raw[:40]}' is not a time such as 20170207 or 2017-02-07T09:20:56Z.")
    )
    return None


def _align(ms: int, unit: str) -> int:
    if unit == "w":
        monday = (ms // DAY_MS - 4) // 7 * 7 + 4  # day 4 (1970-01-05) was a Monday
        return monday * DAY_MS
    return ms // UNIT_MS[unit] * UNIT_MS[unit]


@route("GET", "/v3/metrics")
def metrics_list(api: Api, req: Request) -> Response:  # noqa: C901 - the spec's parameter checks
    if not req.principal.is_admin:
        raise errors.access_denied("Account statistics are not available to this key.")
    q = req.query
    problems: list[dict] = []
    names = [p.strip() for p in q.get("include", "").split(",") if p.strip()]
    unknown = [n for n in names if n not in METRICS and n != "total_count"]
    wanted = [n for n in METRICS if n in names]
    if "include" not in q or not names:
        problems.append(errors.field("include", "include is required: the metrics to return."))
    elif unknown:
        problems.append(errors.field("include", f"'{unknown[0][:60]}' is not a metric."))
    elif not wanted:
        problems.append(errors.field("include", "include must name at least one metric."))
    interval = _span(q.get("interval"), "interval", problems) if "interval" in q else None
    if "interval" not in q:
        problems.append(errors.field("interval", "interval is required."))
    now = api.now_ms()
    start = end = None
    if "period" in q:
        if "start" in q or "end" in q:
            problems.append(
                errors.field("period", "Give either period, or start and end, not both.")
            )
        period = _span(q["period"], "period", problems)
        if period is not None and interval is not None:
            start, end = _align(now - period[0], interval[1]), now
    else:
        for name in ("start", "end"):
            if name not in q:
                problems.append(errors.field(name, f"{name} is required unless period is given."))
        if "start" in q and "end" in q:
            start = _instant(q["start"], "start", problems)
            end = _instant(q["end"], "end", problems)
            if start is not None and end is not None:
                if end <= start:
                    problems.append(errors.field("end", "end must be after start."))
                elif end - start > MAX_RANGE_MS:
                    problems.append(
                        errors.field("end", "start and end may be at most 365 days apart.")
                    )
    limit = DEFAULT_LIMIT
    if q.get("limit", "") != "":
        try:
            limit = int(q["limit"], 10)
        except ValueError:
            problems.append(errors.field("limit", f"'{q['limit'][:20]}' is not an integer."))
        else:
            if not MIN_LIMIT <= limit <= MAX_LIMIT:
                problems.append(errors.field("limit", "limit must be between 2 and 1000."))
    order = (q.get("order") or "ASC").upper()
    if order not in ("ASC", "DESC"):
        problems.append(errors.field("order", "order must be ASC or DESC."))
    after = q.get("after") or None
    if after is not None and not (ID_RE.match(after) and int(after[12:16], 16) == KIND_METRIC):
        problems.append(errors.field("after", "after must be the id of a metric."))
    if problems:
        raise errors.validation(problems, "Invalid query parameters.")

    step = interval[0]
    last = min(end, now)  # nothing after the live clock
    starts = list(range(start, last, step)) if last > start else []
    total = len(starts)
    if order == "DESC":
        starts.reverse()
    if after is not None:
        cursor = id_ms(after)
        starts = [s for s in starts if (s > cursor if order == "ASC" else s < cursor)]
    page, has_more = starts[:limit], len(starts) > limit
    series: MetricSeries = api.store.metrics
    minutes = step // MINUTE_MS
    data = []
    for bucket in page:
        item = {"id": make_id(bucket, KIND_METRIC, minutes), "timestamp": iso_s(bucket)}
        bucket_end = min(bucket + step, end, now)
        for metric in wanted:
            item[metric] = series.between(metric, bucket, bucket_end)
        data.append(item)
    envelope = {
        "object": "list",
        "limit": limit,
        "after": iso_s(id_ms(after)) if after else None,
        "has_more": has_more,
    }
    if "total_count" in names:
        envelope["total_count"] = total
    envelope["data"] = data
    return json_response(200, envelope)
