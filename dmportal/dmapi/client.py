"""The Device Management API client: one `request()` path that every call goes through.

- One pooled `requests.Session` per (base URL, CA bundle) per process, shared by all users
  and threads, so TLS connections are kept alive and reused. The session keeps no cookies and
  has `trust_env` off: REQUESTS_CA_BUNDLE, proxies and ~/.netrc cannot change what we send or
  which certificates we trust. The CA bundle is also passed on every request.
- The API key travels only in the `Authorization` header of each request, never in the
  session, a URL, a log record or an error message.
- HTTPS only, TLS always verified. Every attempt has connect and read timeouts, and the whole
  response must arrive within `timeout` seconds (a slow drip cannot hold a worker).
- GET is retried on 429, 502, 503, 504 and on connection failures, with capped exponential
  backoff that honours Retry-After up to `retry_after_cap`. Other methods are never retried.
- A circuit breaker per base URL (`breaker.py`) fails calls at once, without sending them,
  after several calls in a row got no connection or a gateway's 502, 503 or 504; read
  timeouts count on the caller's own circuit (`outage_kind`, `breaker_scope`).
- Each call is logged once at INFO (method, path, status, duration, upstream request id,
  attempts) and reported to an optional `observer` as a `CallRecord`.
"""

import json
import logging
import random
import re
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlencode, urlsplit

import orjson
import requests
import urllib3
from requests.adapters import HTTPAdapter

from . import errors
from .breaker import CALLER, shared_breaker
from .errors import clean_text
from .filters import encode_filters
from .ids import is_cursor, parse_number
from .pages import MAX_LIMIT, MIN_LIMIT, Page, Record

log = logging.getLogger("dmportal.dmapi")

RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Answers that say the service itself is unavailable, whoever asked (for the breaker).
OUTAGE_STATUSES = frozenset({502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD"})
MAX_BODY_BYTES = 10 * 1024 * 1024
READ_CHUNK = 64 * 1024
# A key must be safe in an HTTP header before anything else is checked.
HEADER_SAFE = re.compile(r"[\x21-\x7e]{1,512}")


@dataclass(frozen=True, slots=True)
class CallRecord:
    """What one API call did, for logs, the recent-calls page and call counting."""

    method: str
    path: str  # path and query string; never contains a key
    status: int | None
    duration_ms: float
    request_id: str | None
    attempts: int
    error: str | None = None  # the error class name when the call failed


@dataclass(frozen=True, slots=True)
class ApiResponse:
    status: int
    data: object  # decoded JSON, or None for an empty answer
    request_id: str | None


class QuietHTTPSConnection(urllib3.connection.HTTPSConnection):
    """Never prints what it sends. `http.client`'s debug output (`HTTPConnection.debuglevel =
    1`, a common way to debug requests) prints each request with its headers to stdout,
    outside logging and its redaction: the Authorization header with the API key."""

    debuglevel = 0

    def set_debuglevel(self, level):
        pass


class QuietHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = QuietHTTPSConnection


class QuietHTTPAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            **self.poolmanager.pool_classes_by_scheme,
            "https": QuietHTTPSConnectionPool,
        }


class SessionPool:
    """One `requests.Session` per (base URL, CA bundle), created on first use."""

    def __init__(self, pool_maxsize=32):
        self.pool_maxsize = pool_maxsize
        self._sessions = {}
        self._lock = threading.Lock()

    def get(self, base_url, ca_bundle):
        key = (base_url, ca_bundle)
        session = self._sessions.get(key)
        if session is None:
            with self._lock:
                session = self._sessions.get(key)
                if session is None:
                    session = self._sessions[key] = self._new_session()
        return session

    def _new_session(self):
        session = requests.Session()
        session.trust_env = False
        # Responses are shared across users: never store a cookie one of them received.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        adapter = QuietHTTPAdapter(
            pool_connections=4, pool_maxsize=self.pool_maxsize, max_retries=0
        )
        session.mount("https://", adapter)
        return session

    def close(self):
        with self._lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()

    def __len__(self):
        return len(self._sessions)


default_pool = SessionPool()


def check_base_url(base_url):
    """The normalised base URL, or InvalidRequest when it is not a plain https:// origin."""
    if not isinstance(base_url, str):
        raise errors.InvalidRequest("The API base URL must be a string.")
    parts = urlsplit(base_url.strip())
    if parts.scheme != "https":
        raise errors.InvalidRequest(
            f"The API base URL must start with https:// (got {clean_text(base_url, 100)!r}); "
            "the Device Management API is only used over HTTPS."
        )
    if not parts.hostname or parts.username or parts.password or parts.query or parts.fragment:
        raise errors.InvalidRequest(
            f"The API base URL {clean_text(base_url, 100)!r} is not a plain https://host[:port]."
        )
    return f"https://{parts.netloc}{parts.path.rstrip('/')}"


class ApiClient:
    """A client for one API key on one base URL. Cheap to create: the session is pooled."""

    def __init__(
        self,
        base_url,
        api_key,
        *,
        ca_bundle=None,
        timeout=10.0,
        connect_timeout=3.05,
        max_retries=2,
        backoff=0.25,
        backoff_cap=2.0,
        retry_after_cap=5.0,
        observer=None,
        pool=None,
        breaker=None,
        breaker_scope=None,
        sleep=time.sleep,
    ):
        self.base_url = check_base_url(base_url)
        if not isinstance(api_key, str) or not HEADER_SAFE.fullmatch(api_key):
            raise errors.InvalidRequest("The API key is empty or contains characters not allowed.")
        self._api_key = api_key
        self.ca_bundle = ca_bundle
        self.verify = ca_bundle or True
        self.timeout = float(timeout)
        self.connect_timeout = min(float(connect_timeout), self.timeout)
        self.max_retries = max_retries
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        self.observer = observer
        self.pool = pool if pool is not None else default_pool
        self.breaker = breaker if breaker is not None else shared_breaker()
        # Whose calls these are, for the breaker's per-caller circuit (read timeouts): any
        # hashable label that names no secret, such as "user 7".
        self.breaker_scope = breaker_scope
        self._sleep = sleep

    def __repr__(self):
        return f"<ApiClient {self.base_url}>"

    # -- the one request path ----------------------------------------------------------------

    def request(self, method, path, *, params=None, json=None):
        """Send one call (with retries for GET); return an ApiResponse or raise an ApiError."""
        method = method.upper()
        if not path.startswith("/"):
            raise errors.InvalidRequest(f"API paths start with '/': {path!r}")
        params = {k: v for k, v in (params or {}).items() if v is not None}
        shown_path = f"{path}?{urlencode(params)}" if params else path
        may_retry = method in IDEMPOTENT_METHODS
        started = time.monotonic()
        attempts = 0
        status = request_id = trial = None
        try:
            trial = self.breaker.allow(self.base_url, self.breaker_scope)  # CircuitOpen: not sent
            while True:
                attempts += 1
                try:
                    status, headers, body = self._send(method, path, params, json)
                except errors.TransportError as exc:
                    retryable = isinstance(exc, errors.ConnectionFailed) or (
                        isinstance(exc, errors.Timeout) and exc.type == "connect_timeout"
                    )
                    if may_retry and retryable and attempts <= self.max_retries:
                        self._sleep(self._backoff_delay(attempts))
                        continue
                    raise
                request_id = headers.get("X-Request-ID") or None
                if may_retry and status in RETRY_STATUSES and attempts <= self.max_retries:
                    retry_after = parse_retry_after(headers.get("Retry-After"))
                    if retry_after is None:
                        self._sleep(self._backoff_delay(attempts))
                        continue
                    if retry_after <= self.retry_after_cap:
                        self._sleep(retry_after)
                        continue
                    # The API asks for a longer pause than a page can wait: report it.
                break
            response = self._interpret(method, path, status, headers, body)
        except errors.ApiError as exc:
            if attempts:
                self.breaker.record(
                    self.base_url, failed=outage_kind(exc), trial=trial, scope=self.breaker_scope
                )
            exc.method, exc.path = method, shown_path
            self._record(
                method, shown_path, status, started, exc.request_id or request_id, attempts, exc
            )
            raise
        except BaseException:
            if attempts:
                self.breaker.record(
                    self.base_url, failed=None, trial=trial, scope=self.breaker_scope
                )
            raise
        self.breaker.record(self.base_url, failed=False, trial=trial, scope=self.breaker_scope)
        self._record(method, shown_path, status, started, response.request_id, attempts, None)
        return response

    def _send(self, method, path, params, json_body):
        """One attempt: (status, headers, body bytes), or a TransportError."""
        session = self.pool.get(self.base_url, self.ca_bundle)
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json",
            "User-Agent": "dmportal",
        }
        attempt_deadline = time.monotonic() + self.timeout
        try:
            response = session.request(
                method,
                self.base_url + path,
                params=params,
                json=json_body,
                headers=headers,
                timeout=(self.connect_timeout, self.timeout),
                verify=self.verify,
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.SSLError as exc:
            raise errors.TLSFailure(
                f"The TLS certificate of {urlsplit(self.base_url).hostname} could not be "
                f"verified ({tls_reason(exc)}).",
                type="tls_error",
            ) from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise errors.Timeout(
                f"No connection to the API within {self.connect_timeout:g} s.",
                type="connect_timeout",
            ) from exc
        except requests.exceptions.ReadTimeout as exc:
            raise errors.Timeout(
                f"The API did not answer within {self.timeout:g} s.", type="read_timeout"
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            raise errors.ConnectionFailed(
                f"Could not connect to {urlsplit(self.base_url).netloc} "
                f"({connection_reason(exc)}).",
                # Refused or unresolved: the request never left; otherwise it may have arrived.
                type="connect_error" if never_connected(exc) else "connection_error",
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise errors.TransportError(
                f"The request could not be sent ({type(exc).__name__}).", type="transport_error"
            ) from exc
        try:
            body = self._read_body(response, attempt_deadline)
        except BaseException:
            response.close()  # drop the connection: its state is unknown
            raise
        response.raw.release_conn()  # fully read: the connection goes back to the pool
        return response.status_code, response.headers, body

    def _read_body(self, response, attempt_deadline):
        """The body, read as it arrives: refused past MAX_BODY_BYTES (announced or counted,
        after decompression) and cut at the attempt's deadline."""
        chunks = []
        size = 0
        raw = response.raw
        declared = response.headers.get("Content-Length", "")
        if (parse_number(declared) or 0) > MAX_BODY_BYTES:
            raise too_large(response)  # refused before reading any of it
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        deadline_bound = False  # whether the read under way ends at the deadline
        try:
            while True:
                remaining = attempt_deadline - time.monotonic()
                if remaining <= 0:
                    raise self._past_deadline()
                if sock is not None:
                    # No read may outlast the deadline: bytes trickling in just under the read
                    # timeout would otherwise stretch the call by up to one more read timeout.
                    # (urllib3 sets the timeout again when the connection is reused.)
                    deadline_bound = remaining < self.timeout
                    sock.settimeout(remaining if deadline_bound else self.timeout)
                chunk = raw.read1(READ_CHUNK, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise too_large(response)
                chunks.append(chunk)
        except urllib3.exceptions.ReadTimeoutError as exc:
            if deadline_bound:
                raise self._past_deadline() from exc
            raise errors.Timeout(
                f"The API stopped sending within {self.timeout:g} s.", type="read_timeout"
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.ConnectionFailed(
                "The connection broke before the whole response arrived.",
                type="connection_error",
                request_id=response.headers.get("X-Request-ID"),
            ) from exc
        return b"".join(chunks)

    def _past_deadline(self):
        return errors.Timeout(
            f"The whole response did not arrive within {self.timeout:g} s.", type="read_timeout"
        )

    def _interpret(self, method, path, status, headers, body):
        request_id = headers.get("X-Request-ID") or None
        if 200 <= status <= 299:
            if status == 204 or (not body and method in ("DELETE", "HEAD")):
                return ApiResponse(status, None, request_id)
            content_type = headers.get("Content-Type", "")
            if not is_json_type(content_type):
                raise errors.MalformedResponse(
                    f"The API answered {status} with {clean_text(content_type, 60) or 'no'} "
                    f"content type instead of JSON ({len(body)} bytes).",
                    status=status,
                    request_id=request_id,
                )
            try:
                data = decode_json(body)
            except ValueError as exc:
                raise errors.MalformedResponse(
                    f"The API answered {status} with a body that is not valid JSON "
                    f"({len(body)} bytes).",
                    status=status,
                    request_id=request_id,
                ) from exc
            return ApiResponse(status, data, request_id)
        raise error_from_response(status, headers, body)

    def _backoff_delay(self, attempt):
        delay = min(self.backoff_cap, self.backoff * (2 ** (attempt - 1)))
        # Jitter spreads the retries of many clients; not a security use of randomness.
        return delay * (0.5 + random.random() / 2)  # noqa: S311

    def _record(self, method, path, status, started, request_id, attempts, error):
        duration_ms = (time.monotonic() - started) * 1000
        record = CallRecord(
            method=method,
            path=path,
            status=status,
            duration_ms=round(duration_ms, 1),
            request_id=request_id,
            attempts=attempts,
            error=type(error).__name__ if error else None,
        )
        outcome = f", {record.error}" if error else ""
        if isinstance(error, errors.MalformedResponse | errors.TransportError):
            # dmportal's own words (content type and size, never the body; the network
            # reason), where an upstream error's message would be the API's text.
            outcome += f": {error.message}"
        # A failed call is a WARNING: a rejected key (401), a refusal (403) and a certificate
        # that does not verify are security events, and any failure is worth seeing.
        log.log(
            logging.WARNING if error else logging.INFO,
            "%s %s -> %s in %.0f ms, upstream request id %s, %d attempt%s%s",
            method,
            path,
            status if status is not None else "no answer",
            duration_ms,
            request_id or "-",
            attempts,
            "" if attempts == 1 else "s",
            outcome,
            extra={  # fields of their own in JSON logs (LOG_FORMAT=json)
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": record.duration_ms,
                "upstream_request_id": request_id,
                "attempts": attempts,
                "error": record.error,
            },
        )
        if self.observer is not None:
            try:
                self.observer(record)
            except Exception:
                log.exception("The API call observer failed")

    # -- conveniences used by the resource functions ----------------------------------------

    def get(self, path, params=None):
        response = self.request("GET", path, params=params)
        return as_record(response)

    def send(self, method, path, body=None):
        """A write (POST/PUT/DELETE): returns a Record (empty for 204), never retried."""
        response = self.request(method, path, json=body)
        return as_record(response)

    def page(
        self,
        path,
        *,
        filters=None,
        limit=None,
        order=None,
        after=None,
        include_total=False,
        params=None,
    ):
        """One page of a list endpoint."""
        query = dict(params or {})
        query.update(encode_filters(filters))
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int):
                raise errors.InvalidRequest("The page size must be a whole number.")
            if not MIN_LIMIT <= limit <= MAX_LIMIT:
                raise errors.InvalidRequest(
                    f"The page size must be between {MIN_LIMIT} and {MAX_LIMIT} (got {limit})."
                )
            query["limit"] = limit
        if order is not None:
            if order not in ("ASC", "DESC"):
                raise errors.InvalidRequest(f"The order must be ASC or DESC (got {order!r}).")
            query["order"] = order
        if after is not None:
            if not is_cursor(after):
                raise errors.InvalidRequest("The cursor is not an id.")
            query["after"] = after
        if include_total:
            query["include"] = "total_count"
        response = self.request("GET", path, params=query)
        return Page.from_body(response.data, request_id=response.request_id, after=after)


def outage_kind(exc):
    """What a failed call says, for the breaker (which every user of the host shares):

    - True, the host is down: no connection (refused, reset, a connect timeout, DNS, TLS, a
      truncated body), or a gateway's 502, 503 or 504;
    - CALLER, maybe only this caller's call: a read timeout (the host took the request and
      did not answer in time; one user's unusually large or heavy page does that);
    - False: any other answer is about one request and says the service is up: a 4xx, an
      unreadable 2xx, and a 500, 501 or other 5xx (a buggy endpoint answering one user's
      writes with 500 must not make every user's pages fail fast)."""
    if isinstance(exc, errors.Timeout) and exc.type == "read_timeout":
        return CALLER
    if isinstance(exc, errors.TransportError):
        return True
    return isinstance(exc, errors.ResponseError) and exc.status in OUTAGE_STATUSES


def is_outage(exc):
    """Whether a failed call says the host itself is down (`outage_kind` True)."""
    return outage_kind(exc) is True


def too_large(response):
    return errors.MalformedResponse(
        f"The response is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB; dmportal did "
        "not read it.",
        status=response.status_code,
        request_id=response.headers.get("X-Request-ID"),
    )


def as_record(response):
    if response.data is None:
        return Record({}, request_id=response.request_id)
    if not isinstance(response.data, dict):
        raise errors.MalformedResponse(
            "The API answered with JSON that is not an object.",
            status=response.status,
            request_id=response.request_id,
        )
    return Record(response.data, request_id=response.request_id)


def decode_json(body):
    """An answer's JSON: orjson (about twice as fast as the standard library on a page of
    devices: 1.5 vs 2.9 ms for 1,000), and the standard library for what orjson refuses and
    it accepts (NaN, Infinity). One difference: orjson reads an integer beyond 64 bits as a
    float (the API sends none: its numbers are counts and sizes). Invalid JSON raises
    ValueError either way."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def is_json_type(content_type):
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def error_from_response(status, headers, body):
    """The typed error for a non-2xx answer, from the error object when there is one."""
    header_id = headers.get("X-Request-ID") or None
    payload = None
    if body:
        try:
            payload = decode_json(body)
        except ValueError:
            payload = None
    kwargs = {"status": status, "request_id": header_id}
    if isinstance(payload, dict):
        kwargs["type"] = payload.get("type") if isinstance(payload.get("type"), str) else None
        message = payload.get("message")
        message = message if isinstance(message, str) else None
        kwargs["fields"] = parse_fields(payload.get("fields"))
        if isinstance(payload.get("request_id"), str) and payload["request_id"]:
            kwargs["request_id"] = payload["request_id"]
    else:
        media = clean_text(headers.get("Content-Type", ""), 60) or "no content type"
        message = f"The API answered {status} without an error object ({media}, {len(body)} bytes)."
    if 300 <= status <= 399:
        message = f"The API answered with a redirect ({status}), which is never followed."
    cls = errors.error_class_for_status(status)
    if cls is errors.RateLimited:
        kwargs["retry_after"] = parse_retry_after(headers.get("Retry-After"))
    return cls(message, **kwargs)


def parse_fields(value):
    """[(name, message), ...] from the error object's `fields` (also the `field` variant)."""
    if not isinstance(value, list):
        return ()
    fields = []
    for item in value[:50]:
        if not isinstance(item, dict):
            continue
        name = item.get("name", item.get("field"))
        if isinstance(name, str) and name:
            fields.append((clean_text(name, 100), clean_text(item.get("message")) or "is invalid"))
    return tuple(fields)


def parse_retry_after(value, now=None):
    """Seconds to wait from a Retry-After header (seconds or HTTP date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    seconds = parse_number(value)
    if seconds is not None:
        return float(seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def tls_reason(exc):
    text = str(exc)
    match = re.search(r"certificate verify failed: ([^()'\"]+)", text)
    if match:
        return "certificate verify failed: " + clean_text(match.group(1), 80)
    if "hostname" in text.lower():
        return "the certificate does not match the host name"
    return "TLS handshake failed"


def never_connected(exc):
    """Whether a requests ConnectionError happened before a connection existed."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def connection_reason(exc):
    text = str(exc).lower()
    for needle, reason in (
        ("name or service not known", "the host name could not be resolved"),
        ("nodename nor servname", "the host name could not be resolved"),
        ("failed to resolve", "the host name could not be resolved"),
        ("connection refused", "connection refused"),
        ("reset by peer", "connection reset"),
        ("remote end closed", "the server closed the connection"),
        ("timed out", "timed out"),
    ):
        if needle in text:
            return reason
    return "network error"
