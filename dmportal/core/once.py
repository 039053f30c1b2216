"""One-time form tokens: a form that creates a secret can be sent once.

The form carries a random token that was put in the session when it was rendered. The POST
consumes it, so a reload that re-sends the POST creates nothing; the page then says the
secret was already created (and cannot be shown again). `core.flows.secret_once` is the one
view flow that uses them.
"""

import hashlib
import logging
import secrets

from django.core.cache import cache

log = logging.getLogger("dmportal.core")

ONCE_SESSION_KEY = "dm_once"
SPENT_SESSION_KEY = "dm_once_spent"
ONCE_KEEP = 20


def once_issue(request):
    token = secrets.token_urlsafe(24)
    tokens = list(request.session.get(ONCE_SESSION_KEY, []))[-(ONCE_KEEP - 1) :]
    request.session[ONCE_SESSION_KEY] = [*tokens, token]
    return token


def once_consume(request, token):
    """ "ok" (first use), "spent" (already used to create something) or "unknown"."""
    if not isinstance(token, str) or not token:
        return "unknown"
    tokens = list(request.session.get(ONCE_SESSION_KEY, []))
    spent = list(request.session.get(SPENT_SESSION_KEY, []))
    if token in tokens:
        tokens.remove(token)
        request.session[ONCE_SESSION_KEY] = tokens
        request.session[SPENT_SESSION_KEY] = [*spent[-(ONCE_KEEP - 1) :], token]
        return "ok" if _first_use(token) else "spent"
    if token in spent:
        return "spent"
    return "unknown"


def _first_use(token):
    # Two requests racing with the same token both find it in their copy of the session: the
    # cache lets only one through (atomic `add`). If the shared cache is down, the session's
    # check stands alone (a race could then create two keys), rather than an outage of Redis
    # failing every create.
    digest = hashlib.sha256(token.encode()).hexdigest()
    try:
        return cache.add(f"dmportal:once:{digest}", 1, timeout=24 * 3600)
    except Exception as exc:  # any cache failure, like core/ratelimit.py
        log.warning(
            "The cache is unavailable (%s): a one-time token was checked in the session only",
            type(exc).__name__,
        )
        return True


def once_release(request, token):
    """The write failed: nothing was created with this token (a resend gets a fresh form)."""
    spent = list(request.session.get(SPENT_SESSION_KEY, []))
    if token in spent:
        spent.remove(token)
        request.session[SPENT_SESSION_KEY] = spent
