"""The HTTPS server: TLS on a plain-HTTP-aware socket, dispatch, faults, latency and statistics.

One ``ThreadingHTTPServer`` (HTTP/1.1 keep-alive, a daemon thread per connection). Each accepted
connection is peeked at: a TLS ClientHello starts with byte 0x16 and is wrapped with the server
context (TLS >= 1.2); anything else is answered with a single HTTP/1.1 403 ``invalid_request``
error and closed, so plain HTTP never returns data.

Every response, success or error, carries ``X-Request-ID`` (uuid4 hex, 32 characters); on errors
it equals the body's ``request_id``. Control endpoints under ``/_simulator/`` need no API key,
answer loopback clients only, and are neither delayed, faulted nor counted:

``GET /_simulator/stats``          counters since start or the last reset (see ``Stats``)
``POST /_simulator/stats/reset``   zero the counters and the call log
``GET /_simulator/calls``          the call log: the last ``CALL_LOG_SIZE`` API calls, in order
``GET|POST|DELETE /_simulator/faults``  the fault plan (see ``faults.py``)
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import random
import socket
import socketserver
import ssl
import struct
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import StreamRequestHandler
from urllib.parse import parse_qsl, unquote

from . import devices as _device_routes  # noqa: F401 - importing registers the routes
from . import errors, faults, ids, routes, tls
from . import iam as _iam_routes  # noqa: F401 - importing registers the routes
from . import metrics as _metric_routes  # noqa: F401 - importing registers the routes
from . import queries as _query_routes  # noqa: F401 - importing registers the routes
from .errors import ApiError, error_body
from .routes import Api, Request, Response
from .seed import build as build_data

log = logging.getLogger("dmportal.simulator")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = PROJECT_ROOT / "var" / "simulator"
IDLE_TIMEOUT = 120.0  # seconds a keep-alive connection may sit idle
HANDSHAKE_TIMEOUT = 10.0
MAX_BODY = routes.MAX_BODY
DRAIN_LIMIT = 64 * MAX_BODY
HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>awselb/2.0</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
HTML_200 = (
    b"<!DOCTYPE html><html><head><title>Maintenance</title></head>"
    b"<body><p>Back soon.</p></body></html>"
)
NO_BODY = {204, 304}
CALL_LOG_SIZE = 5000


def new_request_id() -> str:
    return uuid.uuid4().hex


class Stats:
    """Counters since start or the last reset (thread-safe).

    ``requests``: API calls by ``"METHOD /path/template"`` (every call that reached the API
    part, faulted or not; control endpoints are never counted). ``writes``: the POST, PUT,
    PATCH and DELETE calls among them, same keys, so "the dry run made no write" is
    ``stats()["writes_total"] == 0``. ``writes_applied``: the writes whose handler answered
    2xx, i.e. that changed the data (a write hit by a fault changed nothing, unless the fault
    was ``applied``). ``statuses``: what clients were answered (a ``stall``/``reset`` answers
    nothing). ``faults``: injected faults by name. The call log keeps the last
    ``CALL_LOG_SIZE`` calls, numbered from 1 since the reset: ``{"n", "method", "path",
    "query", "template", "status", "fault"}``.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.started = time.time()
            self.requests = Counter()
            self.writes = Counter()
            self.writes_applied = Counter()
            self.statuses = Counter()
            self.faults = Counter()
            self.connections = 0
            self.tls_handshakes = 0
            self.plain_http = 0
            self.calls: deque[dict] = deque(maxlen=CALL_LOG_SIZE)
            self.call_count = 0

    def add(self, name: str, key: str | None = None) -> None:
        with self._lock:
            if name == "connection":
                self.connections += 1
            elif name == "handshake":
                self.tls_handshakes += 1
            elif name == "plain_http":
                self.plain_http += 1
            else:
                getattr(self, name)[key] += 1

    def call(self, method: str, template: str, path: str, query: str) -> dict:
        """Count one API call and open its entry in the call log (filled in by ``done``)."""
        key = f"{method} {template}"
        with self._lock:
            self.requests[key] += 1
            if method in faults.WRITE_METHODS:
                self.writes[key] += 1
            self.call_count += 1
            entry = {
                "n": self.call_count,
                "method": method,
                "path": path,
                "query": query,
                "template": template,
                "status": None,
                "fault": None,
            }
            self.calls.append(entry)
            return entry

    def handled(self, entry: dict, status: int) -> None:
        """The handler ran and answered ``status`` (whatever the client was then sent)."""
        if entry["method"] in faults.WRITE_METHODS and 200 <= status < 300:
            with self._lock:
                self.writes_applied[f"{entry['method']} {entry['template']}"] += 1

    def answered(self, entry: dict, status: int | None, fault=None) -> None:
        with self._lock:
            entry["status"] = status
            entry["fault"] = None if fault is None else str(fault)
            if status is not None:
                self.statuses[status] += 1
            if fault is not None:
                self.faults[str(fault)] += 1

    def call_log(self) -> dict:
        with self._lock:
            calls = [dict(c) for c in self.calls]
            return {"calls": calls, "dropped": self.call_count - len(calls)}

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "since": datetime.fromtimestamp(self.started, UTC).isoformat(),
                "requests_total": sum(self.requests.values()),
                "requests": dict(sorted(self.requests.items())),
                "writes_total": sum(self.writes.values()),
                "writes": dict(sorted(self.writes.items())),
                "writes_applied_total": sum(self.writes_applied.values()),
                "writes_applied": dict(sorted(self.writes_applied.items())),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "faults": dict(sorted(self.faults.items())),
                "connections": self.connections,
                "tls_handshakes": self.tls_handshakes,
                "plain_http_rejected": self.plain_http,
            }


@dataclass(frozen=True)
class SeedKeysView:
    admin: str
    developer: str


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, sim: Simulator):
        self.sim = sim
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _ApiHandler)

    def server_bind(self):
        # HTTPServer.server_bind resolves the host's FQDN, a reverse DNS lookup that can stall
        # start-up on a machine without DNS; the name is only used in CGI environments.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def get_request(self):
        sock, addr = super().get_request()
        # Headers and body go out in separate writes; without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every response.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sim._stats.add("connection")
        return sock, addr

    def finish_request(self, request, client_address):
        sim = self.sim
        sim._track(request)
        conn = request
        try:
            request.settimeout(HANDSHAKE_TIMEOUT)
            first = request.recv(1, socket.MSG_PEEK)
            if not first:
                return
            if first[0] != 0x16:
                sim._stats.add("plain_http")
                _PlainHttpHandler(request, client_address, self)
                return
            conn = sim._ssl_context.wrap_socket(request, server_side=True)
            sim._track(conn)
            sim._stats.add("handshake")
            _ApiHandler(conn, client_address, self)
        except (OSError, ssl.SSLError) as exc:
            log.debug("connection from %s ended: %s", client_address, exc)
        finally:
            sim._untrack(request)
            if conn is not request:
                sim._untrack(conn)
                _quiet_close(conn)

    def handle_error(self, request, client_address):
        log.exception("unhandled error on connection from %s", client_address)


def _quiet_close(sock) -> None:
    with contextlib.suppress(OSError):
        sock.close()


class _PlainHttpHandler(StreamRequestHandler):
    """One answer to a plain-HTTP request on the TLS port: 403, JSON error, then close."""

    timeout = 10

    def handle(self):
        try:
            for _ in range(200):  # request line and headers, bounded
                line = self.rfile.readline(8192)
                if not line or line in (b"\r\n", b"\n"):
                    break
        except OSError:
            return
        rid = new_request_id()
        body = error_body(
            403,
            "invalid_request",
            "HTTPS is required: this API does not serve plain HTTP requests.",
            rid,
        )
        head = (
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-Request-ID: {rid}\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(OSError):
            self.wfile.write(head.encode() + body)


class _ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The base class answers an unparsable request line as HTTP/0.9: a bare body with no
    # status line or headers. Answer every client with status, headers and X-Request-ID.
    default_request_version = "HTTP/1.1"
    server_version = "dmportal-simulator"
    sys_version = ""
    timeout = IDLE_TIMEOUT

    # --- plumbing ---------------------------------------------------------------------------------
    def log_message(self, format, *args):
        log.debug("%s %s", self.address_string(), format % args)

    def send_error(self, code, message=None, explain=None):
        """Protocol-level errors (bad request line, oversized headers...) as JSON error objects."""
        rid = new_request_id()
        type_ = "method_not_supported" if code == 501 else "bad_request"
        self.close_connection = True
        self._write(code, error_body(code, type_, message or "Bad request.", rid), rid)

    def _write(self, status, body, rid, content_type="application/json", headers=None):
        self.send_response(status)
        if status not in NO_BODY:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-ID", rid)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if status not in NO_BODY and self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    # --- one request ------------------------------------------------------------------------------
    def _serve(self):
        sim: Simulator = self.server.sim
        rid = new_request_id()
        raw_path, _, raw_query = self.path.partition("?")
        path = unquote(raw_path)
        method = self.command
        try:
            body = self._read_body()
        except ApiError as exc:
            self.close_connection = True
            self._write(exc.status, exc.body(rid), rid, headers=exc.headers)
            return
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        req = Request(method, path, query, self.headers, body)

        if path.startswith("/_simulator/"):
            self._control(sim, req, rid)
            return

        template = routes.template_for(method, path) or "unmatched"
        entry = sim._stats.call(method, template, path, raw_query)
        fault = self._fault(sim)
        sim._delay()

        if fault is not None and fault.applied:
            # Carried out first: the change is made, then the answer is lost or replaced.
            done = self._dispatch(sim, req, rid)
            sim._stats.handled(entry, done.status)
        if fault is not None and fault.name in ("stall", "reset"):
            sim._stats.answered(entry, None, fault)
            self._drop(sim, fault)
            return
        if fault is not None and fault.name not in ("truncated", "wrong_content_type"):
            resp = _fault_response(fault, rid)
        else:
            resp = self._dispatch(sim, req, rid)
            sim._stats.handled(entry, resp.status)
        sim._stats.answered(entry, resp.status, fault)
        if fault is not None and fault.name == "truncated":
            self._truncated(resp, rid)
            return
        content_type = "text/html" if fault and fault.name == "wrong_content_type" else None
        self._write(
            resp.status,
            resp.body,
            rid,
            content_type or resp.content_type,
            resp.headers,
        )

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding"):
            raise errors.bad_request(
                "Chunked request bodies are not supported; send Content-Length."
            )
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            raise errors.bad_request("Invalid Content-Length.") from None
        if length < 0:
            raise errors.bad_request("Invalid Content-Length.")
        if length > MAX_BODY:
            # Read and drop the body (up to a bound) so the client, still sending, receives the
            # 400 rather than a reset connection.
            remaining = length if length <= DRAIN_LIMIT else 0
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                remaining -= len(chunk)
            raise errors.bad_request(f"Request body too large (limit {MAX_BODY} bytes).")
        return self.rfile.read(length)

    def _fault(self, sim: Simulator):
        header = self.headers.get("X-Simulator-Fault")
        if header:
            try:
                return faults.parse(header)
            except ValueError:
                log.warning("ignoring unknown X-Simulator-Fault %r", header)
        return sim.faults.pick(self.command, unquote(self.path.partition("?")[0]))

    def _dispatch(self, sim: Simulator, req: Request, rid: str) -> Response:
        try:
            route, params = routes.match(req.method, req.path)
            req.template, req.params, req.route_facts = route.template, params, route.facts
            principal = sim._api.authenticate(req.headers.get("Authorization"))
            req.principal = principal
            if route.admin_only and not principal.is_admin:
                raise errors.access_denied("This operation is restricted to administrators.")
            if not principal.groups and route.template != "/v3/api-keys/me":
                raise errors.access_denied("This key belongs to no group and has no rights.")
            return route.handler(sim._api, req)
        except ApiError as exc:
            return Response(exc.status, exc.body(rid), dict(exc.headers))
        except Exception:
            log.exception("handler error, request %s %s, request_id=%s", req.method, req.path, rid)
            return Response(
                500,
                error_body(500, "internal_server_error", "Internal server error.", rid),
            )

    def _drop(self, sim: Simulator, fault) -> None:
        sock = self.connection
        self.close_connection = True
        if fault.name == "reset":
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # The read buffer holds a reference to the socket: release it so close() really
                # closes the descriptor now, which with linger 0 sends RST.
                self.rfile.close()
                sock.close()
            except OSError:
                pass
            return
        # stall: hold the connection, answer nothing, until the peer goes or we stop.
        sock.settimeout(0.25)
        while not sim._stopping.is_set():
            try:
                if not sock.recv(4096):
                    break
            except TimeoutError:
                continue
            except (OSError, ssl.SSLError):
                break

    def _truncated(self, resp: Response, rid: str) -> None:
        body = resp.body or b'{"object":"list","data":[]}'
        self.close_connection = True
        self.send_response(resp.status if resp.status not in NO_BODY else 200)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(body) + 1024))
        self.send_header("X-Request-ID", rid)
        self.end_headers()
        self.wfile.write(body[: max(1, len(body) // 2)])

    # --- control endpoints ------------------------------------------------------------------------
    def _control(self, sim: Simulator, req: Request, rid: str) -> None:
        try:
            if not ipaddress.ip_address(self.client_address[0]).is_loopback:
                raise errors.access_denied("Simulator control is available from loopback only.")
            resp = _control(sim, req)
        except ApiError as exc:
            resp = Response(exc.status, exc.body(rid), dict(exc.headers))
        self._write(resp.status, resp.body, rid, resp.content_type, resp.headers)


def _fault_response(fault, rid: str) -> Response:
    name = fault.name
    if name == "502_html":
        return Response(502, HTML_502, content_type="text/html")
    if name == "non_json":
        return Response(200, HTML_200, content_type="text/html; charset=utf-8")
    if name == "empty":
        return Response(200, b"")
    status, type_, message = {
        "500": (500, "internal_server_error", "Simulated internal error."),
        "503": (503, "system_unavailable", "Service temporarily unavailable."),
        "429": (429, "rate_limit_exceeded", "Too many requests."),
        "401": (401, "invalid_auth", "Authentication failure (simulated)."),
        "403": (403, "access_denied", "Access denied (simulated)."),
        "404": (404, "not_found", "Not found (simulated)."),
    }[name]
    headers = {"Retry-After": str(fault.retry_after)} if name in ("503", "429") else {}
    return Response(status, error_body(status, type_, message, rid), headers)


def _control(sim: Simulator, req: Request) -> Response:
    key = (req.method, req.path.rstrip("/"))
    if key == ("GET", "/_simulator/stats"):
        return routes.json_response(200, sim.stats())
    if key == ("POST", "/_simulator/stats/reset"):
        sim.reset_stats()
        return routes.no_content()
    if key == ("GET", "/_simulator/calls"):
        return routes.json_response(200, sim.calls())
    if key == ("GET", "/_simulator/faults"):
        return routes.json_response(200, {"rules": sim.faults.rules()})
    if key == ("DELETE", "/_simulator/faults"):
        sim.faults.clear()
        return routes.no_content()
    if key == ("POST", "/_simulator/faults"):
        data = req.json()
        allowed = {
            "fault",
            "path_prefix",
            "method",
            "count",
            "rate",
            "at_call",
            "on_write",
            "applied",
        }
        try:
            if "fault" not in data:
                raise ValueError("fault is required")
            rule = sim.faults.add(**{k: v for k, v in data.items() if k in allowed})
        except (ValueError, TypeError) as exc:
            raise errors.validation([errors.field("fault", str(exc))]) from None
        return routes.json_response(201, rule.as_dict())
    raise errors.not_found("Simulator control endpoint")


class Simulator:
    """The simulated Device Management API, served over HTTPS in background threads.

    >>> sim = Simulator(devices=200, seed=1).start()
    >>> sim.base_url, sim.ca_cert_path, sim.keys.admin
    >>> sim.faults.add(fault="503", at_call=37)     # see faults.py
    >>> sim.reset_stats(); ...; sim.stats()["writes_total"], sim.calls()["calls"]
    >>> sim.stop()

    ``now`` anchors the seeded data (default: the start of the current hour); the simulated
    clock never runs behind it. ``latency_ms`` and ``jitter_ms`` may be changed while running.
    """

    def __init__(
        self,
        devices: int = 2000,
        seed: int = 1,
        latency_ms: float = 0,
        jitter_ms: float = 0,
        state_dir: Path | str | None = None,
        now: datetime | None = None,
    ):
        if now is None:
            # The data's "now": the start of the current hour, so the data is the same for an
            # hour and no seeded timestamp (last bootstrap, recent failures...) is in the future.
            now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.devices = devices
        self.seed = seed
        self.latency_ms = latency_ms
        self.jitter_ms = jitter_ms
        self.state_dir = Path(state_dir) if state_dir else DEFAULT_STATE_DIR
        self.now = now
        anchor_ms = ids.to_ms(now)
        started = time.perf_counter()
        store, keys = build_data(devices, seed, anchor_ms)
        self.load_seconds = time.perf_counter() - started
        # The simulated clock never runs behind the data's "now" anchor.
        offset = max(0, anchor_ms - int(time.time() * 1000))
        self._api = Api(store, offset)
        self.keys = SeedKeysView(keys.admin, keys.developer)
        self.faults = faults.FaultPlan(seed)
        self._stats = Stats()
        self._rng = random.Random(seed)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._sockets: set = set()
        self._sockets_lock = threading.Lock()
        self._ssl_context: ssl.SSLContext | None = None
        self.ca_cert_path: Path | None = None
        self.base_url = ""

    @property
    def store(self):
        return self._api.store

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> Simulator:
        if self._server is not None:
            raise RuntimeError("simulator already started")
        cert_paths = tls.ensure_certificates(self.state_dir)
        self._ssl_context = tls.server_context(cert_paths)
        self.ca_cert_path = cert_paths.ca_cert.resolve()
        self._stopping.clear()
        self._server = _Server((host, port), self)
        bound_port = self._server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"https://{shown}:{bound_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"dm-simulator:{bound_port}",
            daemon=True,
        )
        self._thread.start()
        log.info("simulator serving %s (%d devices)", self.base_url, self.devices)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        # Close open keep-alive and stalled connections so their threads end too.
        with self._sockets_lock:
            live = list(self._sockets)
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        return self.start() if self._server is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- statistics -------------------------------------------------------------------------------
    def stats(self) -> dict:
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        """Zero the counters and the call log (the fault plan is not touched)."""
        self._stats.reset()

    def calls(self) -> dict:
        """The call log: ``{"calls": [{"n", "method", "path", "query", "template", "status",
        "fault"}, ...], "dropped": <older calls no longer kept>}``."""
        return self._stats.call_log()

    # --- internals used by the server -------------------------------------------------------------
    def _delay(self) -> None:
        if self.latency_ms <= 0 and self.jitter_ms <= 0:
            return
        jitter = self._rng.uniform(-self.jitter_ms, self.jitter_ms) if self.jitter_ms else 0.0
        time.sleep(max(0.0, self.latency_ms + jitter) / 1000)

    def _track(self, sock) -> None:
        with self._sockets_lock:
            self._sockets.add(sock)

    def _untrack(self, sock) -> None:
        with self._sockets_lock:
            self._sockets.discard(sock)
