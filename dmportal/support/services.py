"""Writes of the support desk: the recent-calls log and staff notes."""

import logging

from django.conf import settings

from dmportal.core.logging import redact

from .models import ApiCall, DeviceNote

log = logging.getLogger("dmportal.support")

PATH_LIMIT = 2000
# The log is trimmed when an insert crosses a multiple of this many rows (ids are shared by all
# users), not on every request: trimming costs a look-up and a delete (~1 ms, a sixth of a
# "load more" under load). The log may hold up to this many calls over its size meanwhile.
PRUNE_EVERY = 50


def call_log_save(request, started_at):
    """Store the request's API calls (one bulk insert) and keep the user's newest N.

    Runs once, after the response, in the request's own thread. Returns the rows written.
    """
    calls = getattr(request, "api_calls", None)
    user = getattr(request, "user", None)
    if not calls or user is None or not user.is_authenticated:
        return []
    connection = getattr(request, "_dm_connection", None)
    label = connection.label if connection else ""
    api_host = connection.api_host if connection else ""
    account_id = connection.account_id if connection else ""
    request_id = getattr(request, "request_id", "")[:32]
    rows = [
        ApiCall(
            user_id=user.pk,
            connection_label=label[:100],
            api_host=api_host[:200],
            account_id=account_id[:32],
            method=call.method[:8],
            # The key travels in a header, never in a path; a key pasted into a filter is
            # refused before any call (core/forms.py). This is the last line of defence.
            path=redact(call.path)[:PATH_LIMIT],
            status=call.status,
            duration_ms=max(0, round(call.duration_ms)),
            attempts=min(call.attempts, 32767),
            error=(call.error or "")[:64],
            upstream_request_id=(call.request_id or "")[:64],
            request_id=request_id,
            created_at=started_at,
        )
        for call in list(calls)
    ]
    ApiCall.objects.bulk_create(rows)
    first, last = rows[0].pk, rows[-1].pk
    if first is None or last is None or (first - 1) // PRUNE_EVERY != last // PRUNE_EVERY:
        call_log_prune(user.pk)
    return rows


def call_log_prune(user_id, keep=None):
    """Delete the user's calls older than the `keep`-th newest.

    One indexed look-up of the cut-off id (index user, -id), then a delete only when the log
    is over the limit: measured on SQLite (WAL) with 50,000 rows (100 users x 500), the
    look-up takes 0.15 ms, and insert + look-up + delete of a 4-call request 0.7 ms.
    """
    keep = settings.DMPORTAL_CALL_LOG_SIZE if keep is None else keep
    cutoff = (
        ApiCall.objects.filter(user_id=user_id)
        .order_by("-id")
        .values_list("id", flat=True)[keep : keep + 1]
    )
    cutoff = list(cutoff)
    if cutoff:
        ApiCall.objects.filter(user_id=user_id, id__lte=cutoff[0]).delete()


def note_create(*, user, scope, device_id, body):
    """A staff note on the account `scope` (accounts.services.account_scope)."""
    return DeviceNote.objects.create(
        api_host=scope.api_host,
        account_id=scope.account_id,
        device_id=device_id,
        author=user,
        author_name=user.get_username()[:150],
        body=body,
    )
