"""A per-user limit on the requests that reach the Device Management API (checklist E9).

Every signed-in user's API calls spend the quota of their Device Management account, and a
runaway script, a stuck retry loop or dozens of reloading tabs would spend it for everyone on
that account. So each user gets DMPORTAL_USER_RATE_LIMIT requests per window (settings: a
`(requests, seconds)` pair, or None when turned off).

What counts: a request for which a view asks for an API client. `accounts.services.api_client`
calls `rate_check(request)` before it decrypts anything, once per request however many calls
the view then makes. Requests that never build a client (static files, sign-in, the
connections pages, health checks, CSP reports) are not counted. A background job (an export)
counts each of its API calls with `rate_wait(user_id)` and waits when over the limit.

How: a fixed window per user in the default cache, the one all app servers share (Redis with
CACHE_URL). On Redis the count costs one round trip (INCR and EXPIRE in one MULTI/EXEC); on
the local-memory cache of a single machine it is two in-process operations. A burst at a
window's edge may see up to twice the limit within one window's length, which is fine for
protecting a quota. The count is per user, not per connection: one person switching between
connections (or adding more) gets no more requests. `window_hit` is the counter itself, also
used to cap the CSP reports that browsers send (core/views.py).

Over the limit, `UserRateLimited` is raised; ApiErrorMiddleware renders it like every other
error (core/errors.py): status 429 with Retry-After (the seconds left in the window), as a page
or an HTMX fragment, with dmportal's request id.

If the cache is down, the limiter fails open: the request is served uncounted and a warning is
logged (at most once a minute per process). The limit protects a quota that the API also
enforces itself (its 429s are retried with capped waits, then shown), whereas failing closed
would turn a Redis outage into an outage of the whole dashboard. Sign-in throttling, which
must not fail open, is in the database (accounts/throttle.py), and `/readyz` reports the
cache as down.
"""

import logging
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

log = logging.getLogger("dmportal.ratelimit")

CACHE_DOWN_LOG_SECONDS = 60
_cache_down_logged_at = None


class UserRateLimited(Exception):
    """The signed-in user made more API-reaching requests than the limit allows."""

    def __init__(self, *, limit, period, retry_after):
        super().__init__(
            f"More than {limit} requests in {period} s from one user; retry in {retry_after} s"
        )
        self.limit = limit
        self.period = period
        self.retry_after = retry_after


def rate_check(request):
    """Count this request against its user's limit; raise UserRateLimited when over it.

    Counts once per request: later calls for the same request return at once.
    """
    rate = settings.DMPORTAL_USER_RATE_LIMIT
    user = getattr(request, "user", None)
    if rate is None or user is None or not user.is_authenticated:
        return
    if getattr(request, "_dm_rate_counted", False):
        return
    request._dm_rate_counted = True
    limit, period = rate
    hit = window_hit(f"user:{user.pk}", period)
    if hit is None or hit.count <= limit:
        return
    if hit.count == limit + 1:  # once per window, not once per refused request
        log.warning(
            "User %s went over the rate limit of %d requests in %d s; refused for %d s",
            user.pk,
            limit,
            period,
            hit.retry_after,
            extra={"user_id": user.pk, "event": "rate_limited"},
        )
    raise UserRateLimited(limit=limit, period=period, retry_after=hit.retry_after)


def rate_wait(user_id, *, share=1.0):
    """For work that runs outside a request (a background job): count one API call of the
    user against the same limit, and return how many seconds to wait before making it (0:
    now). A job paces itself with this instead of failing; the calls it makes still spend
    the user's quota, so their pages and their jobs share one limit. `share`: the part of
    the limit the work may fill (a job leaves the rest to the user's pages)."""
    rate = settings.DMPORTAL_USER_RATE_LIMIT
    if rate is None:
        return 0
    limit, period = rate
    hit = window_hit(f"user:{user_id}", period)
    if hit is None or hit.count <= max(1, int(limit * share)):
        return 0
    return hit.retry_after


@dataclass(frozen=True)
class Hit:
    count: int  # hits in the current window, this one included
    retry_after: int  # seconds until the window ends


def window_hit(name, period):
    """Count one hit of `name` in the current `period`-second window of the shared cache.

    Returns a Hit, or None when the cache cannot be used (fail open, logged).
    """
    now = time.time()
    window = int(now // period)
    try:
        count = _count(f"dmportal:rate:{name}:{period}:{window}", timeout=period + 1)
    except Exception as exc:  # any cache failure: fail open (see the module docstring)
        _log_cache_down(exc)
        return None
    return Hit(count, max(1, math.ceil((window + 1) * period - now)))


def _count(key, *, timeout):
    """Add one to the counter `key` (created with `timeout` seconds to live); its new value."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        # One round trip. Django's RedisCache.incr is two (EXISTS, then INCRBY) and cannot
        # set an expiry; its client is reached through `_cache`, as Django's own methods do.
        key = cache.make_and_validate_key(key)
        pipeline = cache._cache.get_client(key, write=True).pipeline(transaction=True)
        pipeline.incr(key)
        pipeline.expire(key, timeout)
        count, _ = pipeline.execute()
        return count
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: this request starts a new window
        cache.add(key, 1, timeout=timeout)
        return 1


def _log_cache_down(exc):
    global _cache_down_logged_at
    now = time.monotonic()
    if _cache_down_logged_at is not None and now - _cache_down_logged_at < CACHE_DOWN_LOG_SECONDS:
        return
    _cache_down_logged_at = now
    log.warning(
        "The cache is unavailable (%s): rate limits are not applied until it is back",
        type(exc).__name__,
        extra={"event": "rate_limit_cache_down"},
    )
