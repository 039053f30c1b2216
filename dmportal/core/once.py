"""One-time form tokens: a form that creates a secret can be sent once.

The form carries a random token that was put in the session when it was rendered. The POST
consumes it, so a reload that re-sends the POST creates nothing; the page then says the
secret was already created (and cannot be shown again). `core.flows.secret_once` is the one
view flow that uses them.
"""

import hashlib
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import SpentToken

ONCE_SESSION_KEY = "dm_once"
SPENT_SESSION_KEY = "dm_once_spent"
ONCE_KEEP = 20
SPENT_KEEP = timedelta(days=1)  # a form older than this was re-rendered long ago


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
    # database lets only one through (the digest is a primary key). Not the cache: without
    # CACHE_URL that is each worker's own memory, and two workers would both say "first".
    now = timezone.now()
    try:
        with transaction.atomic():
            SpentToken.objects.create(digest=_digest(token), created_at=now)
    except IntegrityError:
        return False
    SpentToken.objects.filter(created_at__lt=now - SPENT_KEEP).delete()
    return True


def _digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def once_release(request, token):
    """The write failed: nothing was created with this token (a resend gets a fresh form)."""
    spent = list(request.session.get(SPENT_SESSION_KEY, []))
    if token in spent:
        spent.remove(token)
        request.session[SPENT_SESSION_KEY] = spent
        SpentToken.objects.filter(digest=_digest(token)).delete()
