"""dmapi/errors.py: the error tree, what an error carries and says, and upstream text made
safe to show."""

import pytest

from dmportal.dmapi import errors as api

TREE = {
    api.InvalidRequest: api.ApiError,
    api.ResponseError: api.ApiError,
    api.BadRequest: api.ResponseError,
    api.AuthenticationFailed: api.ResponseError,
    api.PermissionDenied: api.ResponseError,
    api.NotFound: api.ResponseError,
    api.Conflict: api.ResponseError,
    api.RateLimited: api.ResponseError,
    api.ServerError: api.ResponseError,
    api.UnexpectedStatus: api.ResponseError,
    api.TransportError: api.ApiError,
    api.Timeout: api.TransportError,
    api.ConnectionFailed: api.TransportError,
    api.TLSFailure: api.TransportError,
    api.CircuitOpen: api.TransportError,
    api.MalformedResponse: api.ApiError,
}


@pytest.mark.parametrize(("cls", "parent"), TREE.items(), ids=lambda c: c.__name__)
def test_the_tree_of_the_module_docstring(cls, parent):
    assert cls.__bases__[0] is parent
    assert cls.__name__ in api.__doc__
    assert cls.default_message  # every error says something without a message


def test_invalid_request_is_also_a_value_error():
    assert issubclass(api.InvalidRequest, ValueError)


# An answer's status → the error it raises (also used by test_client.py, through the client).
STATUS_CLASSES = [
    (400, api.BadRequest),
    (401, api.AuthenticationFailed),
    (403, api.PermissionDenied),
    (404, api.NotFound),
    (409, api.Conflict),
    (429, api.RateLimited),
    (500, api.ServerError),
    (502, api.ServerError),
    (503, api.ServerError),
    (599, api.ServerError),
    (418, api.UnexpectedStatus),
    (302, api.UnexpectedStatus),
    (600, api.UnexpectedStatus),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
def test_error_class_for_status(status, cls):
    assert api.error_class_for_status(status) is cls


def test_str_names_the_status_type_call_and_request_id():
    error = api.NotFound(
        "Device not found.", status=404, type="not_found", request_id="up-1",
        method="GET", path="/v3/devices/x/",
    )  # fmt: skip
    assert str(error) == "404 not_found: Device not found. [GET /v3/devices/x/] (request id up-1)"
    assert repr(error) == f"NotFound({str(error)!r})"
    assert api.ApiError("plain").__str__() == "plain"


def test_defaults_and_fields():
    error = api.BadRequest(fields=[("name", "too long"), ("limit", "too big")])
    assert error.message == api.BadRequest.default_message
    assert error.field_errors == {"name": "too long", "limit": "too big"}
    assert error.fields == (("name", "too long"), ("limit", "too big"))
    assert api.RateLimited(retry_after=3).retry_after == 3


def test_upstream_text_is_cleaned_and_bounded():
    error = api.ServerError(
        "line\nbreak\x00\u202e" + "x" * 400, type="t\r\nX-Injected: 1" + "y" * 100,
        request_id="r" * 100,
    )  # fmt: skip
    assert "\n" not in error.message
    assert "\x00" not in error.message
    assert "\u202e" not in error.message
    assert len(error.message) == api.MAX_MESSAGE_LENGTH
    assert error.message.endswith("…")
    assert "\r" not in error.type
    assert len(error.type) == 64
    assert len(error.request_id) == 64
    assert api.clean_text(None) == ""
    assert api.clean_text(12) == "12"
    assert api.ApiError(type="").type is None


@pytest.mark.parametrize(
    ("type_", "arrived"),
    [("read_timeout", True), ("connection_error", True), ("connect_timeout", False),
     ("connect_error", False), ("circuit_open", False), (None, False)],
)  # fmt: skip
def test_whether_a_request_may_have_arrived(type_, arrived):
    assert api.Timeout(type=type_).may_have_arrived is arrived


def test_circuit_open_says_why_and_when():
    error = api.CircuitOpen(failures=5, seconds=30, retry_after=12.5)
    assert (error.type, error.failures, error.seconds, error.retry_after) == (
        "circuit_open", 5, 30, 12.5,
    )  # fmt: skip
    assert not error.may_have_arrived
