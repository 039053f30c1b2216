"""`/healthz` (liveness) and `/readyz` (readiness), for load balancers and deploys: anonymous,
never cached, no session, no API call (core/middleware.py answers them before the Host check).

Readiness is the database, the shared cache and whatever the apps add: each registers a check
with `readiness_check(name)` in its `AppConfig.ready()` (accounts: the encryption keys).
"""

import logging
import uuid

from django.contrib.auth.decorators import login_not_required
from django.core.cache import caches
from django.db import Error as DatabaseFailure
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

log = logging.getLogger("dmportal")

# name → a function returning "ok" or a short fixed reason (never an exception's text, which
# may name hosts or users); it may raise django.db.Error when the database cannot be used.
READINESS_CHECKS = {}


def readiness_check(name):
    """Register a function as a readiness check named `name` (a decorator)."""

    def register(check):
        READINESS_CHECKS[name] = check
        return check

    return register


@login_not_required
@never_cache
@require_safe
def healthz(request):
    """Liveness: the process answers. Touches neither the database nor the cache."""
    return HttpResponse("ok\n", content_type="text/plain")


@login_not_required
@never_cache
@require_safe
def readyz(request):
    """Readiness: the database, the shared cache and the apps' checks all pass.

    200 `{"status": "ready", ...}`, or 503 `{"status": "not ready", ...}` with a short reason
    per check; the details go to the log. Once the database failed, the checks after it are
    "not checked".
    """
    checks = {"database": "ok", "cache": cache_state()}
    checks.update(dict.fromkeys(READINESS_CHECKS, "not checked"))
    try:
        database_check()  # core's own, whatever the apps register
        for name, check in READINESS_CHECKS.items():
            checks[name] = check()
    except DatabaseFailure as exc:
        log.warning("Readiness: the database is unavailable (%s: %s)", type(exc).__name__, exc)
        checks["database"] = "unavailable"
    ready = all(state == "ok" for state in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


def database_check():
    """One query, so that the database is checked even if no app's check reads it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def cache_state():
    """Whether the default cache (Redis with CACHE_URL) stores and returns a value."""
    key, value = f"dmportal:readyz:{uuid.uuid4().hex}", "ok"
    cache = caches["default"]
    try:
        cache.set(key, value, timeout=10)
        stored = cache.get(key) == value
    except Exception as exc:  # any backend failure means "not ready", never a 500
        log.warning("Readiness: the cache is unavailable (%s: %s)", type(exc).__name__, exc)
        return "unavailable"
    if not stored:
        log.warning("Readiness: the cache did not return what was stored in it")
        return "not storing"
    return "ok"
