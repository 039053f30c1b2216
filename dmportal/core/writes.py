"""The one way a view performs an API write and shows its failure.

`perform` runs the write once (writes are never retried), records it in dmportal's activity
log (ok, failed, or unknown when it was sent and no answer came back; with the upstream
request id) and, on failure, puts the error on the form (`form_api_error`), keeping what was
typed.

The activity log belongs to accounts, which builds on core: `perform` sends `write_performed`
and accounts' receiver (accounts/signals.py) writes the entry, in the same thread (there is
no request-wide transaction: the entry is committed as it is written). A write is refused if
nothing listens, rather than made without a record. If the API took the write (or may have)
and the entry cannot be written because dmportal's database is unavailable, the view must not
say "nothing was saved": `perform` raises WriteNotRecorded, whose page says that the change
was made upstream, with its request id, and the audit log line keeps what the entry would
have held.
"""

import logging
from contextlib import nullcontext

from django.core.exceptions import ImproperlyConfigured
from django.db import InterfaceError, OperationalError
from django.dispatch import Signal

from dmportal.dmapi import errors as api

from .errors import PAGES, ErrorPage, describe, register

log = logging.getLogger("dmportal.audit")


class WriteNotRecorded(OperationalError):
    """The API took a write (or may have: `outcome` "unknown"), and dmportal's database could
    not record it in the activity log."""

    def __init__(self, *, action, target, outcome, upstream_request_id):
        super().__init__(f"{action} {outcome}, not recorded: the database is unavailable")
        self.action = action
        self.target = target
        self.outcome = outcome
        self.upstream_request_id = upstream_request_id


def _not_recorded(exc, request):
    if exc.outcome == "unknown":
        return (
            "dmportal sent the change and no answer came back, so it may have been made; "
            "dmportal's own database is unavailable, so it is not in your activity log. Look "
            "at the list in a moment before you try again."
        )
    return (
        "Device Management made the change (its request id is below). dmportal's own "
        "database is unavailable, so the change is not in your activity log and this page "
        "cannot show it. Do not make it again: look at the list in a moment."
    )


register(
    WriteNotRecorded,
    ErrorPage(
        503,
        "The change was sent, but dmportal could not record it",
        _not_recorded,
        kind="database",
        bare=True,
        log=logging.ERROR,
    ),
)

# Sent once per write, after it: request, action, target, result ("ok", "failed", or "unknown"
# when the write was sent and no answer came back), detail, upstream_request_id.
write_performed = Signal()


def form_api_error(form, exc, request, field_for=None):
    """Field errors where the API names a form field, otherwise an error box on the form.

    `field_for(api_name)` maps the API's field name to a form field name (default: same name).
    """
    mapped = False
    if isinstance(exc, api.BadRequest | api.Conflict):
        for name, message in exc.fields:
            target = field_for(name) if field_for else name
            if target in form.fields:
                form.add_error(target, message)
                mapped = True
    if not mapped:
        form.api_error = describe(exc, request)
    form.upstream_request_id = exc.request_id
    return form


def perform(request, action, target, call, *, form=None, field_for=None, detail="", around=None):
    """Run one API write and log it in the activity log; never retried.

    Returns (result, None) or (None, error). With a `form`, a failure is put on it. `target`
    may be a function of the result (None on failure), for writes whose answer names what
    changed. `around` is an optional context manager factory the call runs inside (the team
    pages use it to remember which sections the API refuses).
    """
    if not write_performed.has_listeners():
        raise ImproperlyConfigured("No activity log receives write_performed: nothing was sent.")
    name = target if callable(target) else (lambda result: target)
    try:
        with around() if around is not None else nullcontext():
            result = call()
    except api.ApiError as exc:
        if form is not None:
            form_api_error(form, exc, request, field_for=field_for)
        result, error = None, exc
        outcome = "unknown" if PAGES.lookup(exc).kind == "outcome_unknown" else "failed"
        entry = {"result": outcome, "detail": exc.message, "upstream": exc.request_id}
    else:
        error = None
        entry = {"result": "ok", "detail": detail, "upstream": getattr(result, "request_id", "")}
    try:
        write_performed.send(
            perform,
            request=request,
            action=action,
            target=name(result),
            result=entry["result"],
            detail=entry["detail"],
            upstream_request_id=entry["upstream"] or "",
        )
    except (OperationalError, InterfaceError) as exc:
        if entry["result"] == "failed":
            raise  # nothing was changed upstream, and nothing here: "nothing was saved" holds
        log.error(
            "%s %s by %r: %s (not in the activity log: the database is unavailable)",
            action,
            entry["result"],
            getattr(getattr(request, "user", None), "username", ""),
            name(result),
            extra={
                "event": action,
                "result": entry["result"],
                "target": name(result),
                "upstream_request_id": entry["upstream"] or "",
            },
        )
        raise WriteNotRecorded(
            action=action,
            target=name(result),
            outcome=entry["result"],
            upstream_request_id=entry["upstream"] or "",
        ) from exc
    return result, error
