"""core/errors.py: the error table, what describe() says for every kind of failure, and
how error_response and the middleware use it."""

import logging

import pytest
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
)
from django.db import InterfaceError, OperationalError
from django.http import Http404
from django_htmx.middleware import HtmxDetails

from dmportal.accounts.errors import CredentialUnreadable, HostNotAllowed, NoConnection
from dmportal.core.errors import (
    PAGES,
    CsrfRefused,
    ErrorPage,
    ErrorTable,
    Refused,
    describe,
    error_response,
)
from dmportal.core.middleware import ApiErrorMiddleware
from dmportal.core.ratelimit import UserRateLimited
from dmportal.dmapi import errors as api

DEVICE = "/v3/devices/" + "0" * 32 + "/"


# -- the table ---------------------------------------------------------------------------------


class Base(Exception):
    pass


class Child(Base):
    pass


class Grandchild(Child):
    pass


def test_the_most_specific_class_with_a_row_wins():
    table = ErrorTable()
    base, child = ErrorPage(500, "base", ""), ErrorPage(400, "child", "")
    table.register(Base, base)
    table.register(Child, child)
    assert table.lookup(Base()) is base
    assert table.lookup(Child()) is child
    assert table.lookup(Grandchild()) is child  # along the MRO
    assert table.lookup(ValueError()) is None


def test_rows_of_one_class_apply_in_order_when_they_say_so():
    table = ErrorTable()
    odd = ErrorPage(400, "odd", "", when=lambda exc: exc.args[0] % 2)
    other = ErrorPage(400, "other", "")
    table.register(Base, odd)
    table.register(Base, other)
    table.register(Base, odd)  # again: nothing changes (an app's ready() may run twice)
    assert table.lookup(Base(1)) is odd
    assert table.lookup(Base(2)) is other


def test_a_row_for_several_classes():
    table = ErrorTable()
    row = ErrorPage(400, "either", "")
    table.register((KeyError, IndexError), row)
    assert table.lookup(KeyError()) is row
    assert table.lookup(IndexError()) is row


# -- what describe() says ----------------------------------------------------------------------

# exception, dmportal's status, kind, words of the title
CASES = [
    (api.AuthenticationFailed(status=401), 403, "key_rejected", "The API key was rejected"),
    (api.PermissionDenied(status=403), 403, "forbidden", "not allowed to do this"),
    (api.NotFound(status=404, path="/v3/devices/"), 404, "not_found", "could not find this list"),
    (api.NotFound(status=404, path=DEVICE), 404, "not_found", "That device does not exist"),
    (api.NotFound(status=404, path="/v3/users/" + "a" * 32), 404, "not_found", "That user"),
    (api.RateLimited(status=429, retry_after=5), 429, "rate_limited", "retry in about 5 seconds"),
    (api.RateLimited(status=429), 429, "rate_limited", "retry in a few seconds"),
    (api.ServerError(status=503), 503, "busy", "service is busy"),
    (api.ServerError(status=504), 503, "busy", "service is busy"),
    (api.ServerError(status=500), 502, "server_error", "service failed"),
    (api.Conflict(status=409), 409, "error", "conflicts with the current state"),
    (api.BadRequest(status=400), 400, "bad_request", "rejected the request"),
    (api.UnexpectedStatus("Odd.", status=302), 502, "error", "API call failed"),
    (api.CircuitOpen(failures=5, seconds=30, retry_after=9), 503, "unavailable", "unavailable"),
    (api.Timeout(type="read_timeout", method="GET"), 504, "timeout", "did not answer in time"),
    (api.Timeout(type="read_timeout", method="PUT"), 504, "outcome_unknown", "outcome"),
    (
        api.ConnectionFailed(type="connection_error", method="POST"),
        502,
        "outcome_unknown",
        "outcome",
    ),
    (api.ConnectionFailed(type="connect_error", method="POST"), 502, "unreachable", "reached"),
    (api.TLSFailure(method="PUT"), 502, "tls", "certificate could not be verified"),
    (api.MalformedResponse(), 502, "malformed", "unreadable response"),
    (api.MalformedResponse(status=200, method="GET"), 502, "malformed", "unreadable response"),
    (api.MalformedResponse(status=200, method="PUT"), 502, "outcome_unknown", "outcome"),
    (api.MalformedResponse(status=502, method="PUT"), 502, "malformed", "unreadable response"),
    (api.InvalidRequest("Bad cursor."), 400, "invalid", "That request is not valid"),
    (NoConnection("Add one."), 409, "connection", "Add a connection first"),
    (CredentialUnreadable("Re-enter."), 409, "connection", "must be re-entered"),
    (HostNotAllowed("Not here."), 409, "connection", "API host is not allowed"),
    (UserRateLimited(limit=300, period=60, retry_after=7), 429, "user_rate_limited", "Too many"),
    (OperationalError("locked"), 503, "database", "database is unavailable"),
    (InterfaceError("gone"), 503, "database", "database is unavailable"),
    (Refused("Our words."), 400, "refused", "dmportal refused this request"),
    (TooManyFieldsSent(), 400, "refused", "dmportal refused this request"),
    (RequestDataTooBig(), 400, "refused", "dmportal refused this request"),
    (DisallowedHost(), 400, "refused", "dmportal refused this request"),
    (SuspiciousOperation(), 400, "refused", "dmportal refused this request"),
    (BadRequest(), 400, "refused", "dmportal refused this request"),
    (Http404(), 404, "page_not_found", "Page not found"),
    (CsrfRefused("token missing"), 403, "csrf", "This form has expired"),
    (RuntimeError("a bug"), 500, "internal", "dmportal failed"),
    (KeyboardInterrupt(), 500, "internal", "dmportal failed"),
]


@pytest.mark.parametrize(("exc", "status", "kind", "title"), CASES, ids=lambda v: repr(v)[:40])
def test_describe(rf, exc, status, kind, title):
    info = describe(exc, rf.get("/"))
    assert (info.status, info.kind) == (status, kind)
    assert title in info.title
    assert info.explanation


def test_what_an_api_error_carries_onto_the_page():
    exc = api.BadRequest(
        "Bad name.", status=400, type="validation_error", request_id="up-1",
        fields=[("name", "too long")],
    )  # fmt: skip
    info = describe(exc)
    assert (info.api_status, info.api_type, info.api_message) == (
        400,
        "validation_error",
        "Bad name.",
    )
    assert info.upstream_request_id == "up-1"
    assert info.fields == (("name", "too long"),)
    assert not info.not_sent


def test_our_own_words_are_not_quoted_as_the_apis():
    assert describe(api.InvalidRequest("Bad cursor.")).api_message is None
    assert describe(api.InvalidRequest("Bad cursor.")).not_sent
    assert describe(api.CircuitOpen(failures=5, seconds=30, retry_after=9)).api_message is None


def test_waits_and_limits_are_in_words():
    assert "about 60 minutes" in describe(api.RateLimited(retry_after=3600)).title
    assert describe(api.RateLimited(retry_after=3600)).retry_after == 3600
    limited = describe(UserRateLimited(limit=300, period=60, retry_after=7))
    assert "300 requests to Device Management every 60 seconds" in limited.explanation
    assert "wait 7 seconds" in limited.explanation
    assert limited.retry_after == 7
    assert (
        "in about 9 seconds"
        in describe(api.CircuitOpen(failures=5, seconds=30, retry_after=9)).explanation
    )


def test_refusals_say_why_in_our_words(settings):
    assert describe(Refused("Our words.")).explanation == "Our words."
    assert (
        f"more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields"
        in describe(TooManyFieldsSent("field x=1&y=2")).explanation
    )
    assert "KB" in describe(RequestDataTooBig()).explanation
    assert "host name" in describe(DisallowedHost("evil.example")).explanation
    assert "evil.example" not in describe(DisallowedHost("evil.example")).explanation


def test_failures_of_dmportal_itself_are_bare_pages():
    assert describe(OperationalError()).bare
    assert describe(RuntimeError()).bare
    assert not describe(api.ServerError(status=500)).bare


def test_a_rejected_key_names_the_connection_and_offers_to_replace_it(rf, user, connection):
    request = rf.get("/")
    request.connection = connection
    info = describe(api.AuthenticationFailed(status=401), request)
    assert "“Acme production”" in info.explanation
    assert info.actions == [("Replace the key", f"/connections/{connection.pk}/")]
    assert describe(api.AuthenticationFailed(status=401), rf.get("/")).actions == []


def test_a_connection_error_links_to_the_connection(user, connection):
    info = describe(CredentialUnreadable("Re-enter.", connection=connection))
    assert info.actions == [
        ("Re-enter the key", f"/connections/{connection.pk}/"),
        ("Manage connections", "/connections/"),
    ]
    assert info.not_sent


def subclasses(cls):
    return [cls, *(c for sub in cls.__subclasses__() for c in subclasses(sub))]


def test_every_api_error_class_is_caught_and_shown():
    for cls in subclasses(api.ApiError):
        page = PAGES.lookup(cls())
        assert page.caught, cls
        assert describe(cls()).title, cls


# -- error_response and the middleware -------------------------------------------------------


def htmx_request(rf, **headers):
    request = rf.get("/devices/", HTTP_HX_REQUEST="true", **headers)
    request.htmx = HtmxDetails(request)
    request.request_id = "f" * 32
    return request


def test_a_load_more_error_goes_to_the_tables_status_line(rf):
    response = error_response(
        htmx_request(rf, HTTP_HX_TARGET="devices-pager"), api.ServerError(status=503)
    )
    assert response.status_code == 503
    assert response["HX-Retarget"] == "#devices-status"
    assert response["HX-Reswap"] == "innerHTML"
    other = error_response(htmx_request(rf, HTTP_HX_TARGET="listing"), api.ServerError(status=503))
    assert "HX-Retarget" not in other


def test_retry_after_and_no_cache_headers(rf):
    limited = error_response(htmx_request(rf), api.RateLimited(status=429, retry_after=12.4))
    assert limited["Retry-After"] == "12"
    bare = error_response(htmx_request(rf), OperationalError())
    assert "no-cache" in bare["Cache-Control"]


def test_the_middleware_leaves_bugs_and_refusals_to_django(rf):
    middleware = ApiErrorMiddleware(lambda request: None)
    for exc in (RuntimeError(), SuspiciousOperation(), Http404()):
        assert middleware.process_exception(rf.get("/"), exc) is None


def test_the_middleware_logs_what_it_catches_by_kind(rf, caplog):
    middleware = ApiErrorMiddleware(lambda request: None)
    request = htmx_request(rf)
    with caplog.at_level(logging.INFO, logger="dmportal"):
        response = middleware.process_exception(request, api.ServerError("Boom.", status=500))
        middleware.process_exception(request, OperationalError("locked"))
        middleware.process_exception(request, UserRateLimited(limit=1, period=1, retry_after=1))
    assert response.status_code == 502
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "dmportal"]
    assert lines == [
        (logging.WARNING, "Request failed (server_error): 500: Boom."),
        (logging.ERROR, "Request failed (database): locked"),
    ]  # the limiter logs its own, once a window


def test_no_connection_sends_the_person_to_add_one(client, user):
    client.force_login(user)
    page = client.get("/devices/")
    assert (page.status_code, page["Location"]) == (302, "/connections/add/")
    fragment = client.get("/devices/", HTTP_HX_REQUEST="true")
    assert fragment["HX-Redirect"] == "/connections/add/"
    restore = client.get(
        "/devices/", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert restore.status_code == 302
