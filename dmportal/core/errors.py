"""Every failure becomes one page or one HTMX fragment, rendered here, from one table.

The table (`PAGES`) says, for each kind of exception, what dmportal answers: the status, a
title and a message in plain words, a `kind` (for the page's `data-error-kind` and for the
views that treat some kinds apart), and a few flags. An exception is looked up along its
class's MRO, so the most specific class that has a row decides (like httpx's exception map);
a row may apply only when its `when(exc)` says so (a 404 of a list, a write whose outcome is
unknown), and rows of one class are tried in the order they were registered. This module
registers dmportal's own failures and the API client's errors (dmapi knows nothing of pages);
each app registers its own in `AppConfig.ready()` (accounts: the connection errors).

Views do not catch API errors: `ApiErrorMiddleware` passes what the table catches to
`error_response`, which says what happened, with the HTTP status and error type from the
API, the upstream request id and dmportal's own. For HTMX requests the fragment goes where
the content would have gone: the request's own target, except for a table's "load more" row
(`<table>-pager`), whose error goes into the table's status line (`<table>-status`) so the
button stays and can be clicked again.

The same page and fragment say when dmportal itself cannot go on: its database is down or
locked (503, nothing saved; `handler500` and the middleware both come here, and that page is
drawn without the signed-in header, whose queries would fail again), a view failed (500,
`handler500`, the same bare page), or dmportal or Django refused a malformed request (400,
`Refused`, `handler400`: a query string that is not UTF-8, too many form fields, a body too
large, a foreign host).
"""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import InterfaceError, OperationalError
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from dmportal.dmapi import errors as api
from dmportal.dmapi.ids import ID_PATTERN

from .htmx import is_partial
from .ratelimit import UserRateLimited

# API path prefixes → the noun a person would use, for "that device does not exist".
NOUNS = (
    ("/v3/device-events/", "device event"),
    ("/v3/device-groups/", "device group"),
    ("/v3/devices/", "device"),
    ("/v3/users", "user"),
    ("/v3/user-invitations", "invitation"),
    ("/v3/policy-groups", "policy group"),
    ("/v3/api-keys", "API key"),
    ("/v3/applications", "application"),
    ("/v3/access-keys", "access key"),
    ("/v3/accounts", "account"),
)

# dmportal's own database cannot be used right now (down, locked, connection lost): a 503 that
# says so, not a 500. Other database errors (IntegrityError, ProgrammingError) are bugs.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ID_IN_PATH = re.compile(rf"/{ID_PATTERN}(/|\?|$)")


def noun_for(path):
    for prefix, noun in NOUNS:
        if path and path.startswith(prefix):
            return noun
    return "item"


class CsrfRefused(Exception):
    """Django's CSRF check refused a POST (`CSRF_FAILURE_VIEW`); `reason` is for the log."""


class Refused(BadRequest):
    """dmportal refuses a request before acting on it (nothing is sent to the API): a 400
    "dmportal refused this request" whose explanation is `message`, in our words."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


# -- the table -----------------------------------------------------------------------------------

# A title or message is a string, or a function of (exception, request) for words that depend
# on them; a status is an int or such a function.
Said = str | Callable[[BaseException, Any], str]


@dataclass(frozen=True)
class ErrorPage:
    """How one kind of failure is shown: one row of the table."""

    status: int | Callable[[BaseException, Any], int]
    title: Said
    message: Said
    kind: str = "error"
    when: Callable[[BaseException], bool] | None = None  # the row applies only if this says so
    bare: bool = False  # a full page without the header (whose queries need the database)
    not_sent: bool = False  # nothing reached the API, so there is no upstream id to have
    about_api: bool = True  # False: dmportal's own page, no upstream request id to speak of
    quote_api: bool = True  # show the API's own message (not when ours says it better)
    actions: Callable[[BaseException, Any], list] | None = None  # [(label, url)]
    # What ApiErrorMiddleware does with it: `caught` ones become this page (False: Django's
    # handler400/handler500 draw it, after Django has logged it), logged at `log` (None: not
    # logged there); `respond(request, exc)` answers instead of the page (a redirect).
    caught: bool = True
    log: int | None = logging.WARNING
    respond: Callable | None = None


class ErrorTable:
    """Exception classes → rows, looked up along an exception's MRO: the most specific class
    with a row that applies wins. Used for error pages (`PAGES`) and for other mappings of
    errors to words (the connection form's key check, accounts/services.py)."""

    def __init__(self):
        self._rows = {}

    def register(self, classes, row):
        """Add `row` for an exception class (or a tuple of them), after its earlier rows.
        Registering the same row again changes nothing (an app's ready() may run twice)."""
        for cls in classes if isinstance(classes, tuple) else (classes,):
            rows = self._rows.setdefault(cls, [])
            if row not in rows:
                rows.append(row)

    def lookup(self, exc):
        for cls in type(exc).__mro__:
            for row in self._rows.get(cls, ()):
                when = getattr(row, "when", None)
                if when is None or when(exc):
                    return row
        return None


PAGES = ErrorTable()
register = PAGES.register


def said(value, exc, request):
    return value(exc, request) if callable(value) else value


# -- dmportal's own failures ---------------------------------------------------------------------

register(
    BaseException,  # a bug (`handler500`): bare, as the database or the header may have failed
    ErrorPage(
        500,
        "dmportal failed",
        "Something went wrong inside dmportal. The failure was logged; quote the request id "
        "below if you report it.",
        kind="internal",
        bare=True,
        caught=False,
    ),
)
register(
    DATABASE_UNAVAILABLE,
    # Writes of this request were in transactions that rolled back, or never began.
    ErrorPage(
        503,
        "dmportal's database is unavailable",
        "dmportal could not use its own database (it is down, or busy with another change). "
        "Nothing was saved; try again in a moment.",
        kind="database",
        bare=True,
        log=logging.ERROR,
    ),
)


def refusal(message):
    """dmportal or Django refused a malformed request, said in our words (Django's own
    messages quote what was sent). Django logs these and draws them with `handler400`."""
    return ErrorPage(
        400, "dmportal refused this request", message, kind="refused", not_sent=True, caught=False
    )


register(
    (SuspiciousOperation, BadRequest),
    refusal("The request was malformed, so dmportal did not act on it. Nothing was saved."),
)
register(Refused, refusal(lambda exc, request: exc.message))
register(
    (TooManyFieldsSent, TooManyFilesSent),
    refusal(
        lambda exc, request: (
            f"The form sent more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields, more "
            "than any dmportal form has. Nothing was saved."
        )
    ),
)
register(
    RequestDataTooBig,
    refusal(
        lambda exc, request: (
            f"The request was larger than the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024} KB "
            "dmportal accepts. Nothing was saved."
        )
    ),
)
register(DisallowedHost, refusal("dmportal does not answer to the host name in this request."))
register(
    Http404,  # `handler404`: no URL matched, or a view found nothing of the user's
    ErrorPage(
        404,
        "Page not found",
        "dmportal has no page at this address, or it is not yours to see.",
        kind="page_not_found",
        about_api=False,
        caught=False,
    ),
)
register(
    CsrfRefused,
    ErrorPage(
        403,
        "This form has expired",
        "dmportal could not verify that this request came from its own page (the security "
        "token was missing or stale, for example after signing in again in another tab). "
        "Nothing was changed. Reload the page and try again.",
        kind="csrf",
        about_api=False,
        caught=False,
    ),
)
register(
    UserRateLimited,
    ErrorPage(
        429,
        "Too many requests from your account in dmportal",
        lambda exc, request: (
            f"dmportal lets each person make {exc.limit} requests to Device Management every "
            f"{format_wait(exc.period)}, to protect the account's API quota. Nothing was sent "
            f"for this one: wait {format_wait(exc.retry_after)} and try again."
        ),
        kind="user_rate_limited",
        not_sent=True,
        log=None,  # logged by the limiter, once a window
    ),
)


# -- the API client's errors ---------------------------------------------------------------------


def _key_rejected(exc, request):
    connection = getattr(request, "connection", None)
    return (
        "The Device Management API did not accept the key of "
        + (f"the connection “{connection.label}”" if connection else "this connection")
        + ". It may have been deactivated, deleted or replaced. Enter a new key to go on."
    )


def _replace_the_key(exc, request):
    connection = getattr(request, "connection", None)
    if connection is None:
        return []
    return [("Replace the key", reverse("connection_edit", args=[connection.pk]))]


def _rate_limit_wait(exc):
    return f"about {format_wait(exc.retry_after)}" if exc.retry_after else "a few seconds"


def _circuit_open(exc, request):
    stopped = f"for {exc.seconds:g} s " if exc.seconds else ""
    failures = exc.failures or "several"
    return (
        f"dmportal stopped calling it {stopped}after {failures} failures in a row (no answer, "
        "or server errors), so nothing was sent for this page. Try again in about "
        f"{format_wait(exc.retry_after or 1)}."
    )


def _own_circuit_open(exc, request):
    return (
        f"Device Management did not answer your last {exc.failures or 'several'} requests in "
        "time (large pages or heavy filters?), so dmportal stopped sending yours for a while; "
        "nothing was sent for this page, and other people's pages are not affected. Try a "
        f"smaller page or narrower filters in about {format_wait(exc.retry_after or 1)}."
    )


def _outcome_unknown(exc):
    return exc.method in WRITE_METHODS and exc.may_have_arrived


register(
    api.ApiError,
    ErrorPage(502, "The Device Management API call failed", lambda exc, request: exc.message),
)
register(
    api.AuthenticationFailed,
    ErrorPage(
        403,
        "The API key was rejected",
        _key_rejected,
        kind="key_rejected",
        actions=_replace_the_key,
    ),
)
register(
    api.PermissionDenied,
    ErrorPage(
        403,
        "This API key is not allowed to do this",
        "The Device Management API refused this request for the key of the active connection. "
        "An administrator of the account can grant it more rights, or you can switch to a "
        "connection with an administrator key.",
        kind="forbidden",
    ),
)
register(
    api.NotFound,
    # A list answered 404 ("Unable to find page" in the spec): nothing was named.
    ErrorPage(
        404,
        "The API could not find this list",
        "The Device Management API answered that this page of results does not exist. Go back "
        "to the first page and try again.",
        kind="not_found",
        when=lambda exc: not ID_IN_PATH.search(exc.path or ""),
    ),
)
register(
    api.NotFound,
    ErrorPage(
        404,
        lambda exc, request: f"That {noun_for(exc.path)} does not exist",
        lambda exc, request: (
            f"The Device Management API has no {noun_for(exc.path)} here. It may have been "
            "deleted, or the link may be for another account."
        ),
        kind="not_found",
    ),
)
register(
    api.RateLimited,
    ErrorPage(
        429,
        lambda exc, request: f"Rate limited: retry in {_rate_limit_wait(exc)}",
        lambda exc, request: (
            "The Device Management API is limiting how many requests this account may make, "
            f"and asked to wait {_rate_limit_wait(exc)} before the next one. dmportal does not "
            "make a page wait that long: try again then."
        ),
        kind="rate_limited",
    ),
)
register(
    api.ServerError,
    ErrorPage(
        503,
        "The Device Management service is busy",
        "The service is briefly unavailable, and it did not recover after retries. Try again "
        "in a few seconds.",
        kind="busy",
        when=lambda exc: exc.status in (502, 503, 504),
    ),
)
register(
    api.ServerError,
    ErrorPage(
        502,
        "The Device Management service failed",
        "The service answered with a server error. If this keeps happening, give the upstream "
        "request id below to Device Management support.",
        kind="server_error",
    ),
)
register(
    api.Conflict,
    ErrorPage(
        409,
        "The change conflicts with the current state",
        "The Device Management API refused the change.",
    ),
)
register(
    api.BadRequest,
    ErrorPage(
        400,
        "The Device Management API rejected the request",
        "Check the values below and try again.",
        kind="bad_request",
    ),
)
register(
    api.CircuitOpen,
    ErrorPage(
        503,
        "Your requests are paused for a moment",
        _own_circuit_open,
        kind="unavailable",
        quote_api=False,
        when=lambda exc: exc.own,  # one user's slow pages (dmapi/breaker.py)
    ),
)
register(
    api.CircuitOpen,
    ErrorPage(
        503,
        "Device Management is unavailable",
        _circuit_open,
        kind="unavailable",
        quote_api=False,  # said above, in other words
    ),
)
register(
    # First for both classes: a write that may have arrived, whatever stopped the answer.
    (api.Timeout, api.TransportError),
    ErrorPage(
        lambda exc, request: 504 if isinstance(exc, api.Timeout) else 502,
        "The outcome of this change is unknown",
        lambda exc, request: (
            f"{exc.message} The change was sent, but no answer came back: it may or may not "
            "have been made, and dmportal did not send it again. Reload the page to see "
            "whether it was made before trying again."
        ),
        kind="outcome_unknown",
        when=_outcome_unknown,
    ),
)
register(
    api.Timeout,
    ErrorPage(
        504,
        "The Device Management API did not answer in time",
        "dmportal gave up waiting. Nothing reached us from the service, so only dmportal's "
        "request id is known. Try again shortly.",
        kind="timeout",
    ),
)
register(
    api.TLSFailure,
    ErrorPage(
        502,
        "The API's certificate could not be verified",
        lambda exc, request: (
            f"{exc.message} dmportal never talks to the API over an unverified connection."
        ),
        kind="tls",
    ),
)
register(
    api.TransportError,
    ErrorPage(
        502,
        "The Device Management API could not be reached",
        lambda exc, request: f"{exc.message} Try again shortly.",
        kind="unreachable",
    ),
)
register(
    api.MalformedResponse,
    # A write the API answered 2xx, but with a body that cannot be read: it was most likely made.
    ErrorPage(
        502,
        "The outcome of this change is unknown",
        lambda exc, request: (
            f"{exc.message} The API answered that it accepted the change, but dmportal could "
            "not read the rest of the answer, so it cannot say what was changed. Reload the page "
            "to see whether it was made before trying again."
        ),
        kind="outcome_unknown",
        when=lambda exc: exc.method in WRITE_METHODS and 200 <= (exc.status or 0) <= 299,
    ),
)
register(
    api.MalformedResponse,
    ErrorPage(
        502,
        "The Device Management API sent an unreadable response",
        lambda exc, request: (
            f"{exc.message} dmportal did not show it. If this keeps happening, quote the "
            "request ids below."
        ),
        kind="malformed",
    ),
)
register(
    api.InvalidRequest,
    # Refused by dmportal's client before sending: the words are ours, not the API's.
    ErrorPage(
        400,
        "That request is not valid",
        lambda exc, request: exc.message,
        kind="invalid",
        not_sent=True,
        quote_api=False,
    ),
)


# -- what a page is drawn from -------------------------------------------------------------------


@dataclass
class ErrorInfo:
    title: str
    explanation: str
    status: int  # dmportal's response status
    api_status: int | None = None
    api_type: str | None = None
    api_message: str | None = None
    upstream_request_id: str | None = None
    fields: tuple = ()
    retry_after: float | None = None
    actions: list = field(default_factory=list)  # [(label, url)]
    kind: str = "error"
    bare: bool = False  # a full page without the header (whose queries need the database)
    not_sent: bool = False  # nothing reached the API, so there is no upstream id to have
    about_api: bool = True  # False: the page says nothing of an upstream request id


def describe(exc, request=None):
    """An ErrorInfo for any exception that views let through, from its row of `PAGES`."""
    page = PAGES.lookup(exc)
    info = ErrorInfo(
        title=said(page.title, exc, request),
        explanation=said(page.message, exc, request),
        status=said(page.status, exc, request),
        retry_after=getattr(exc, "retry_after", None),
        actions=list(page.actions(exc, request)) if page.actions else [],
        kind=page.kind,
        bare=page.bare,
        not_sent=page.not_sent,
        about_api=page.about_api,
    )
    if isinstance(exc, api.ApiError):
        info.api_status = exc.status
        info.api_type = exc.type
        info.api_message = exc.message if page.quote_api else None
        info.upstream_request_id = exc.request_id
        info.fields = exc.fields
    else:  # dmportal's own failure about an API call that was answered (core.writes)
        info.upstream_request_id = getattr(exc, "upstream_request_id", None) or None
    return info


def format_wait(seconds):
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    return f"{round(minutes / 60)} hours"


PAGER_TARGET = re.compile(r"([A-Za-z][\w-]*)-pager")


def error_response(request, exc):
    info = describe(exc, request)
    context = {"error": info}
    if is_partial(request):
        response = render(request, "core/_error.html", context, status=info.status)
        pager = PAGER_TARGET.fullmatch(request.headers.get("HX-Target") or "")
        if pager:
            response["HX-Retarget"] = f"#{pager.group(1)}-status"
            response["HX-Reswap"] = "innerHTML"
    else:
        template = "core/error_page_bare.html" if info.bare else "core/error_page.html"
        response = render(request, template, context, status=info.status)
    if info.bare:
        # The middleware that marks signed-in pages uncacheable may be what failed.
        add_never_cache_headers(response)
    return with_error_headers(response, info)


def with_error_headers(response, info):
    if info is not None and info.retry_after:
        response["Retry-After"] = str(round(info.retry_after))
    return response
