"""Every failure of an API call becomes one page or one HTMX fragment, rendered here.

Views do not catch API errors: `ApiErrorMiddleware` passes them to `error_response`, which
says in plain words what happened, with the HTTP status and error type from the API, the
upstream request id and dmportal's own. For HTMX requests the fragment goes where the content
would have gone: the request's own target, except for a table's "load more" row
(`<table>-pager`), whose error goes into the table's status line (`<table>-status`) so the
button stays and can be clicked again.

The same page and fragment say when dmportal itself cannot go on: its database is down or
locked (503, nothing saved; `handler500` and the middleware both come here, and that page is
drawn without the signed-in header, whose queries would fail again), a view failed (500,
`handler500`, the same bare page), or dmportal or Django refused a malformed request (400,
`Refused`, `handler400`: a query string that is not UTF-8, too many form fields, a body too
large, a foreign host).
"""

import re
from dataclasses import dataclass, field

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


class CredentialError(Exception):
    """The active connection cannot be used (no connection, or its key cannot be read)."""

    title = "No connection"
    status = 409

    def __init__(self, message, *, connection=None):
        super().__init__(message)
        self.message = message
        self.connection = connection


class NoConnection(CredentialError):
    title = "Add a connection first"


class CredentialUnreadable(CredentialError):
    title = "This connection must be re-entered"


class HostNotAllowed(CredentialError):
    title = "This connection's API host is not allowed"


class Refused(BadRequest):
    """dmportal refuses a request before acting on it (nothing is sent to the API): a 400
    "dmportal refused this request" whose explanation is `message`, in our words."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


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


def describe(exc, request=None):
    """An ErrorInfo for any exception that views let through."""
    connection = getattr(request, "connection", None) if request is not None else None
    if isinstance(exc, CredentialError):
        actions = []
        if exc.connection is not None:
            actions.append(
                ("Re-enter the key", reverse("connection_edit", args=[exc.connection.pk]))
            )
        actions.append(("Manage connections", reverse("connection_list")))
        return ErrorInfo(
            exc.title, exc.message, exc.status, actions=actions, kind="connection", not_sent=True
        )
    if isinstance(exc, DATABASE_UNAVAILABLE):
        return ErrorInfo(
            "dmportal's database is unavailable",
            "dmportal could not use its own database (it is down, or busy with another "
            "change). Nothing was saved; try again in a moment.",
            503,
            kind="database",
            bare=True,
        )
    if isinstance(exc, SuspiciousOperation | BadRequest):
        return ErrorInfo(
            "dmportal refused this request", refusal(exc), 400, kind="refused", not_sent=True
        )
    if isinstance(exc, UserRateLimited):
        return ErrorInfo(
            "Too many requests from your account in dmportal",
            f"dmportal lets each person make {exc.limit} requests to Device Management every "
            f"{format_wait(exc.period)}, to protect the account's API quota. Nothing was sent "
            f"for this one: wait {format_wait(exc.retry_after)} and try again.",
            429,
            retry_after=exc.retry_after,
            kind="user_rate_limited",
            not_sent=True,
        )
    if not isinstance(exc, api.ApiError):
        # A bug (`handler500`): drawn bare, as the database or the header may be what failed.
        return ErrorInfo(
            "dmportal failed",
            "Something went wrong inside dmportal. The failure was logged; quote the request id "
            "below if you report it.",
            500,
            kind="internal",
            bare=True,
        )
    info = ErrorInfo(
        title="The Device Management API call failed",
        explanation="",
        status=502,
        api_status=exc.status,
        api_type=exc.type,
        api_message=exc.message,
        upstream_request_id=exc.request_id,
        fields=exc.fields,
    )
    what = noun_for(exc.path)
    if isinstance(exc, api.AuthenticationFailed):
        info.title = "The API key was rejected"
        info.explanation = (
            "The Device Management API did not accept the key of "
            + (f"the connection “{connection.label}”" if connection else "this connection")
            + ". It may have been deactivated, deleted or replaced. Enter a new key to go on."
        )
        info.status = 403
        info.kind = "key_rejected"
        if connection is not None:
            info.actions.append(
                ("Replace the key", reverse("connection_edit", args=[connection.pk]))
            )
    elif isinstance(exc, api.PermissionDenied):
        info.title = "This API key is not allowed to do this"
        info.explanation = (
            "The Device Management API refused this request for the key of the active "
            "connection. An administrator of the account can grant it more rights, or you can "
            "switch to a connection with an administrator key."
        )
        info.status = 403
        info.kind = "forbidden"
    elif isinstance(exc, api.NotFound) and not ID_IN_PATH.search(exc.path or ""):
        # A list answered 404 ("Unable to find page" in the spec): nothing was named.
        info.title = "The API could not find this list"
        info.explanation = (
            "The Device Management API answered that this page of results does not exist. "
            "Go back to the first page and try again."
        )
        info.status = 404
        info.kind = "not_found"
    elif isinstance(exc, api.NotFound):
        info.title = f"That {what} does not exist"
        info.explanation = (
            f"The Device Management API has no {what} here. It may have been deleted, or the "
            "link may be for another account."
        )
        info.status = 404
        info.kind = "not_found"
    elif isinstance(exc, api.RateLimited):
        info.retry_after = exc.retry_after
        wait = f"about {format_wait(exc.retry_after)}" if exc.retry_after else "a few seconds"
        info.title = f"Rate limited: retry in {wait}"
        info.explanation = (
            "The Device Management API is limiting how many requests this account may make, "
            f"and asked to wait {wait} before the next one. dmportal does not make a page wait "
            "that long: try again then."
        )
        info.status = 429
        info.kind = "rate_limited"
    elif isinstance(exc, api.ServerError) and exc.status in (502, 503, 504):
        info.title = "The Device Management service is busy"
        info.explanation = (
            "The service is briefly unavailable, and it did not recover after retries. Try "
            "again in a few seconds."
        )
        info.status = 503
        info.kind = "busy"
    elif isinstance(exc, api.ServerError):
        info.title = "The Device Management service failed"
        info.explanation = (
            "The service answered with a server error. If this keeps happening, give the "
            "upstream request id below to Device Management support."
        )
        info.kind = "server_error"
    elif isinstance(exc, api.Conflict):
        info.title = "The change conflicts with the current state"
        info.explanation = "The Device Management API refused the change."
        info.status = 409
    elif isinstance(exc, api.BadRequest):
        info.title = "The Device Management API rejected the request"
        info.explanation = "Check the values below and try again."
        info.status = 400
        info.kind = "bad_request"
    elif isinstance(exc, api.CircuitOpen):
        info.title = "Device Management is unavailable"
        info.explanation = (
            f"dmportal stopped calling it for {exc.seconds:g} s after {exc.failures} failures in "
            "a row (no answer, or server errors), so nothing was sent for this page. Try again "
            f"in about {format_wait(exc.retry_after or 1)}."
        )
        info.api_message = None  # said above, in other words
        info.retry_after = exc.retry_after
        info.status = 503
        info.kind = "unavailable"
    elif (
        isinstance(exc, api.TransportError) and exc.method in WRITE_METHODS and exc.may_have_arrived
    ):
        info.title = "The outcome of this change is unknown"
        info.explanation = (
            f"{exc.message} The change was sent, but no answer came back: it may or may not "
            "have been made, and dmportal did not send it again. Reload the page to see "
            "whether it was made before trying again."
        )
        info.status = 504 if isinstance(exc, api.Timeout) else 502
        info.kind = "outcome_unknown"
    elif isinstance(exc, api.Timeout):
        info.title = "The Device Management API did not answer in time"
        info.explanation = (
            "dmportal gave up waiting. Nothing reached us from the service, so only dmportal's "
            "request id is known. Try again shortly."
        )
        info.status = 504
        info.kind = "timeout"
    elif isinstance(exc, api.TLSFailure):
        info.title = "The API's certificate could not be verified"
        info.explanation = (
            f"{exc.message} dmportal never talks to the API over an unverified connection."
        )
        info.kind = "tls"
    elif isinstance(exc, api.TransportError):
        info.title = "The Device Management API could not be reached"
        info.explanation = f"{exc.message} Try again shortly."
        info.kind = "unreachable"
    elif isinstance(exc, api.MalformedResponse):
        info.title = "The Device Management API sent an unreadable response"
        info.explanation = (
            f"{exc.message} dmportal did not show it. If this keeps happening, quote the "
            "request ids below."
        )
        info.kind = "malformed"
    elif isinstance(exc, api.InvalidRequest):
        # Refused by dmportal's client before sending: the words are ours, not the API's.
        info.title = "That request is not valid"
        info.explanation = exc.message
        info.api_message = None
        info.not_sent = True
        info.status = 400
        info.kind = "invalid"
    else:
        info.explanation = exc.message
    return info


def refusal(exc):
    """Why dmportal or Django refused a request, in our words (Django's own messages quote
    what was sent)."""
    if isinstance(exc, Refused):
        return exc.message
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return (
            f"The form sent more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields, more than "
            "any dmportal form has. Nothing was saved."
        )
    if isinstance(exc, RequestDataTooBig):
        return (
            f"The request was larger than the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024} KB "
            "dmportal accepts. Nothing was saved."
        )
    if isinstance(exc, DisallowedHost):
        return "dmportal does not answer to the host name in this request."
    return "The request was malformed, so dmportal did not act on it. Nothing was saved."


def format_wait(seconds):
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    return f"{round(minutes / 60)} hours"


PAGER_TARGET = re.compile(r"^([A-Za-z][\w-]*)-pager$")


def error_response(request, exc):
    info = describe(exc, request)
    context = {"error": info}
    if is_partial(request):
        response = render(request, "core/_error.html", context, status=info.status)
        pager = PAGER_TARGET.match(request.headers.get("HX-Target") or "")
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
