"""Errors raised by the Device Management client.

Nothing from `requests` or `urllib3` crosses this boundary: every failure of a call is one of

    ApiError                         anything the client raises for a call
    ├── InvalidRequest               refused before sending (bad base URL, limit, id, filter)
    ├── ResponseError                the API answered with an error status
    │   ├── BadRequest          400  (type "validation_error" carries `fields`)
    │   ├── AuthenticationFailed 401 (the key was rejected: invalid_apikey, invalid_token, ...)
    │   ├── PermissionDenied    403
    │   ├── NotFound            404
    │   ├── Conflict            409
    │   ├── RateLimited         429  (`retry_after` seconds when the API said)
    │   ├── ServerError         5xx
    │   └── UnexpectedStatus    anything else, including redirects (never followed)
    ├── TransportError               no answer we could use
    │   ├── Timeout                  connect or read timeout, or the call's deadline
    │   ├── ConnectionFailed         refused or DNS failure (type "connect_error": never
    │   │                            sent), reset or broken body ("connection_error")
    │   ├── TLSFailure               certificate or handshake failure (never retried)
    │   └── CircuitOpen              not sent: the API failed too often in a row (breaker.py)
    └── MalformedResponse            a 2xx whose body is not the JSON we expect

Each error carries what the API returned: `status`, `type`, `message`, `fields` (name and
message pairs) and `request_id` (from the error body, else the X-Request-ID header), and
`str(error)` includes the request id. Messages come from the API or from this module, never
from a request's headers, so they cannot contain the API key.
"""

MAX_MESSAGE_LENGTH = 300


def clean_text(value, limit=MAX_MESSAGE_LENGTH):
    """Upstream text made safe to show and log: a string, no control characters, bounded."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


class ApiError(Exception):
    """Base class of every error of a Device Management API call."""

    default_message = "The Device Management API call failed."

    def __init__(
        self,
        message=None,
        *,
        status=None,
        type=None,  # the API's own name for it
        fields=(),
        request_id=None,
        method=None,
        path=None,
    ):
        self.message = clean_text(message) or self.default_message
        self.status = status
        self.type = clean_text(type, 64) or None
        self.fields = tuple(fields)
        self.request_id = clean_text(request_id, 64) or None
        self.method = method
        self.path = path
        super().__init__(self.message)

    def __str__(self):
        parts = []
        if self.status:
            parts.append(str(self.status))
        if self.type:
            parts.append(self.type)
        head = " ".join(parts)
        text = f"{head}: {self.message}" if head else self.message
        if self.method and self.path:
            text += f" [{self.method} {self.path}]"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __repr__(self):
        return f"{type(self).__name__}({str(self)!r})"

    @property
    def field_errors(self):
        """{field name: message} of a validation error."""
        return dict(self.fields)


class InvalidRequest(ApiError, ValueError):
    default_message = "The request was refused before it was sent."


class ResponseError(ApiError):
    default_message = "The Device Management API returned an error."


class BadRequest(ResponseError):
    default_message = "The Device Management API rejected the request."


class AuthenticationFailed(ResponseError):
    default_message = "The API key was rejected."


class PermissionDenied(ResponseError):
    default_message = "This API key is not allowed to do this."


class NotFound(ResponseError):
    default_message = "Not found."


class Conflict(ResponseError):
    default_message = "The request conflicts with the current state."


class RateLimited(ResponseError):
    default_message = "Too many requests."

    def __init__(self, message=None, *, retry_after=None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(ResponseError):
    default_message = "The Device Management service failed."


class UnexpectedStatus(ResponseError):
    default_message = "The Device Management API answered with an unexpected status."


class TransportError(ApiError):
    default_message = "The Device Management API could not be reached."

    @property
    def may_have_arrived(self):
        """Whether the request may have reached the API although no answer came back (a read
        timeout, a connection that broke after it was sent): a write's outcome is unknown."""
        return self.type in ("read_timeout", "connection_error")


class Timeout(TransportError):
    default_message = "The Device Management API did not answer in time."


class ConnectionFailed(TransportError):
    default_message = "The connection to the Device Management API failed."


class TLSFailure(TransportError):
    default_message = "The TLS certificate of the Device Management API could not be verified."


class CircuitOpen(TransportError):
    """Not sent: the circuit breaker stopped calling this API after failures in a row."""

    default_message = "Device Management is unavailable; dmportal stopped calling it for now."

    def __init__(
        self, message=None, *, failures=None, seconds=None, retry_after=None, own=False, **kwargs
    ):
        super().__init__(message, type="circuit_open", **kwargs)
        self.failures = failures
        self.seconds = seconds
        self.retry_after = retry_after
        self.own = own  # the caller's own circuit (its read timeouts), not the host's


class MalformedResponse(ApiError):
    default_message = "The Device Management API sent a response that could not be read."


_BY_STATUS = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
}


def error_class_for_status(status):
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 500 <= status <= 599:
        return ServerError
    return UnexpectedStatus
