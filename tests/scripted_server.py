"""A scripted HTTPS server for client tests that `responses` cannot fake: connection resets,
stalls, slow drips, truncated bodies, huge streamed bodies, redirects, TLS failures and
connection reuse.

    server = ScriptedServer()            # trustme CA; server.ca_path to trust it
    server.script([Reply(503), Reply(200, body=b'{"a":1}')])
    ... client.get(...)
    server.requests                       # what arrived: method, path, headers
    server.connections                    # TCP connections accepted
    server.bytes_sent                     # body bytes written (a "flood" stops when cut off)

    ScriptedServer(cert_hosts=["api.other.test"])   # a certificate for another host name
    ScriptedServer(cert_expired=True)               # a certificate that expired yesterday
"""

import contextlib
import datetime
import json
import os
import socket
import ssl
import struct
import tempfile
import threading
import time
from dataclasses import dataclass, field

import trustme


@dataclass
class Reply:
    status: int = 200
    body: bytes | dict | list | None = None
    headers: dict = field(default_factory=dict)
    action: str | None = None  # "reset", "stall", "drip", "truncate", "flood", "flood_unsized"
    delay: float = 0.0
    size: int = 0  # "flood*": this many bytes of body, streamed, never held in memory

    def payload(self):
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode()
        return self.body or b""


@dataclass
class Received:
    method: str
    path: str
    headers: dict


class ScriptedServer:
    def __init__(self, *, hostname="127.0.0.1", ca=None, cert_hosts=None, cert_expired=False):
        self.ca = ca or trustme.CA()
        validity = {}
        if cert_expired:
            now = datetime.datetime.now(datetime.UTC)
            validity = {
                "not_before": now - datetime.timedelta(days=30),
                "not_after": now - datetime.timedelta(days=1),
            }
        cert = self.ca.issue_cert(*(cert_hosts or (hostname, "localhost")), **validity)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self.context)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.base_url = f"https://{hostname}:{self.port}"
        self._replies = []
        self._lock = threading.Lock()
        self.requests = []
        self.connections = 0
        self.bytes_sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as handle:
            handle.write(self.ca.cert_pem.bytes())
        self.ca_path = handle.name

    def script(self, replies):
        with self._lock:
            self._replies = list(replies)

    def _next(self):
        with self._lock:
            if self._replies:
                return self._replies.pop(0)
        return Reply(200, {"object": "list", "data": [], "has_more": False})

    def close(self):
        self._stop.set()
        self.sock.close()
        os.unlink(self.ca_path)

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, raw):
        try:
            conn = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        stream = conn.makefile("rb")
        try:
            while not self._stop.is_set():
                line = stream.readline()
                if not line:
                    return
                method, path, _ = line.decode().split(" ", 2)
                headers = {}
                while True:
                    h = stream.readline().decode()
                    if h in ("\r\n", "\n", ""):
                        break
                    name, value = h.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                if length:
                    stream.read(length)
                self.requests.append(Received(method, path, headers))
                reply = self._next()
                if reply.delay:
                    time.sleep(reply.delay)
                if not self._send(conn, reply):
                    return
        except (OSError, ValueError):
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _send(self, conn, reply):
        """Write one reply; False when the connection must end."""
        if reply.action == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if reply.action == "stall":
            self._stop.wait(30)
            return False
        if reply.action in ("flood", "flood_unsized"):
            return self._flood(conn, reply)
        body = reply.payload()
        headers = {"Content-Type": "application/json", **reply.headers}
        declared = len(body) + (1000 if reply.action == "truncate" else 0)
        head = f"HTTP/1.1 {reply.status} X\r\nContent-Length: {declared}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        conn.sendall(head.encode())
        if reply.action == "drip":
            for byte in body:
                if self._stop.is_set():
                    return False
                conn.sendall(bytes([byte]))
                time.sleep(0.3)
            return True
        conn.sendall(body)
        self.bytes_sent += len(body)
        return reply.action != "truncate"

    def _flood(self, conn, reply):
        """A `reply.size` byte answer, written 64 KiB at a time from one reused chunk; with
        "flood_unsized" no Content-Length says how long (the body ends when the server closes)."""
        head = f"HTTP/1.1 {reply.status} X\r\nContent-Type: application/json\r\n"
        if reply.action == "flood":
            head += f"Content-Length: {reply.size}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items()) + "\r\n"
        conn.sendall(head.encode())
        chunk = b" " * 65536
        left = reply.size
        while left > 0 and not self._stop.is_set():
            piece = chunk if left >= len(chunk) else chunk[:left]
            conn.sendall(piece)  # OSError once the client hangs up: the caller ends
            self.bytes_sent += len(piece)
            left -= len(piece)
        return False
