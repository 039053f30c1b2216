"""Every failure of an API call becomes one page or one HTMX fragment, rendered here.

Views do not catch API errors: `ApiErrorMiddleware` passes them to `error_response`, which
says in plain words what happened, with the HTTP status and error type from the API, the
upstream request id and dmportal's own. For HTMX requests the fragment goes where the content
would have gone: the request's own target, except for a table's "load more" row
(`<table>-pager`), whose error goes into the table's status line (`<table>-status`) so the
button stays and can be clicked again.
"""

import re
from dataclasses import dataclass, field

from django.shortcuts import render
from django.urls import reverse

from dmportal.dmapi import errors as api

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


ID_IN_PATH = re.compile(r"/[0-9a-f]{32}(/|$|\?)")


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
        return ErrorInfo(exc.title, exc.message, exc.status, actions=actions, kind="connection")
    if not isinstance(exc, api.ApiError):
        return ErrorInfo(
            "Something went wrong",
            "dmportal failed while handling this request. The failure was logged with the "
            "request id below.",
            500,
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
    elif isinstance(exc, api.RateLimited) or (
        isinstance(exc, api.ServerError) and exc.status in (502, 503, 504)
    ):
        info.title = "The Device Management service is busy"
        info.retry_after = getattr(exc, "retry_after", None)
        wait = f"about {format_wait(info.retry_after)}" if info.retry_after else "a few seconds"
        info.explanation = (
            f"The service asked dmportal to slow down or is briefly unavailable, and it did not "
            f"recover after retries. Try again in {wait}."
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
        info.title = "That request is not valid"
        info.explanation = exc.message
        info.status = 400
        info.kind = "invalid"
    else:
        info.explanation = exc.message
    return info


def format_wait(seconds):
    seconds = round(seconds)
    if seconds < 90:
        return f"{seconds} seconds"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} minutes"
    return f"{round(minutes / 60)} hours"


PAGER_TARGET = re.compile(r"^([A-Za-z][\w-]*)-pager$")


def error_response(request, exc):
    info = describe(exc, request)
    context = {"error": info}
    if request.htmx and not request.htmx.history_restore_request:
        response = render(request, "core/_error.html", context, status=info.status)
        pager = PAGER_TARGET.match(request.htmx.target or "")
        if pager:
            response["HX-Retarget"] = f"#{pager.group(1)}-status"
            response["HX-Reswap"] = "innerHTML"
    else:
        response = render(request, "core/error_page.html", context, status=info.status)
    return with_error_headers(response, info)


def with_error_headers(response, info):
    if info is not None and info.retry_after:
        response["Retry-After"] = str(round(info.retry_after))
    return response
