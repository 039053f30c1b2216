"""The one way a view performs an API write and shows its failure.

`perform` runs the write once (writes are never retried), records it in dmportal's activity
log (ok, failed, or unknown when it was sent and no answer came back; with the upstream
request id) and, on failure, puts the error on the form (`form_api_error`), keeping what was
typed.

The activity log belongs to accounts, which builds on core: `perform` sends `write_performed`
and accounts' receiver (accounts/signals.py) writes the entry, in the same thread (there is
no request-wide transaction: the entry is committed as it is written). A write is refused if
nothing listens, rather than made without a record.
"""

from contextlib import nullcontext

from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal

from dmportal.dmapi import errors as api

from .errors import PAGES, describe

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
    write_performed.send(
        perform,
        request=request,
        action=action,
        target=name(result),
        result=entry["result"],
        detail=entry["detail"],
        upstream_request_id=entry["upstream"] or "",
    )
    return result, error
