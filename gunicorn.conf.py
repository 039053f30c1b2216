"""gunicorn settings for dmportal: `gunicorn -c gunicorn.conf.py dmportal.wsgi`.

Every value can be changed with an environment variable; the defaults are the documented
production settings, and what `make run` and `make benchmark` use.

    DMPORTAL_BIND            address to listen on                      127.0.0.1:8000
    DMPORTAL_WORKERS         worker processes                          one per CPU core (min 2)
    DMPORTAL_THREADS         threads per worker                        8
    DMPORTAL_WORKER_TIMEOUT  seconds before a silent worker is killed  60
    DMPORTAL_KEEPALIVE       seconds an idle browser connection stays  5
    DMPORTAL_ACCESS_LOG      access log file, "-" for stdout, "" none  -
    DMPORTAL_REUSE_PORT      one listening socket per worker           true

Why threads: a dmportal request spends most of its time waiting for the Device Management
API (the API's latency, typically tens of milliseconds), not computing. A thread that waits
holds no CPU, so a worker with several threads keeps its core busy while other requests
wait for the API. Processes (one per core) get around the GIL for the part that computes.

Why 8 threads: measured with `make benchmark` on a 2-core machine, the simulator answering
after 50 ms, 50 concurrent clients clicking "load more", 2 workers (requests/s; latency ms):

    threads per worker     4      8      12     16     24
    requests per second    126    203    222    212    190
    median latency         392    247    215    204    187
    p99 latency            497    369    467    1115   2021

With 50 ms of latency one thread serves at most ~17 requests/s, so few threads leave the
cores idle and requests queue for a thread. Past ~8 the two cores are saturated (dmportal
needs ~7 ms of CPU per "load more" under load, the simulator and the load generator share
the same cores): more threads only contend for the GIL, the slowest requests wait longer
(p99) and throughput falls. 8 gives ~92% of the best throughput with the best p99.
The right number grows with the API's latency: roughly latency / CPU per request, per core;
behind a slower API (100-200 ms) set DMPORTAL_THREADS higher.

Each thread keeps at most one pooled, kept-alive TLS connection to the API host (the client's
pool allows 32 per worker), so the API sees at most workers x threads connections.

The worker timeout is above the API client's deadline (DMPORTAL_API_TIMEOUT, 10 s, and its
retries for reads) and above htmx's own request timeout (30 s, templates/_base.html), so a
slow API produces an error page, never a killed worker.
"""

import gc
import os

from gunicorn.glogging import Logger

from dmportal.core.logging import redact


def _int(name, default):
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number (got {value!r}).") from None
    if number < 1 and name != "DMPORTAL_KEEPALIVE":
        raise SystemExit(f"{name} must be at least 1 (got {number}).")
    return number


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 2


wsgi_app = "dmportal.wsgi:application"
bind = os.environ.get("DMPORTAL_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = _int("DMPORTAL_WORKERS", max(2, _cores()))
threads = _int("DMPORTAL_THREADS", 8)
timeout = _int("DMPORTAL_WORKER_TIMEOUT", 60)
graceful_timeout = 30
keepalive = _int("DMPORTAL_KEEPALIVE", 5)
# Each worker listens on its own socket (SO_REUSEPORT) and the kernel spreads new connections
# evenly over them. With one shared socket, whichever worker wakes first accepts; browsers
# and proxies keep their connections alive, so one worker could end up serving nearly all
# of them on one core while the other idled (seen in `make benchmark`: 154 instead of 300
# requests per second). DMPORTAL_REUSE_PORT=false turns it off.
reuse_port = os.environ.get("DMPORTAL_REUSE_PORT", "true").strip().lower() not in (
    "0",
    "false",
    "no",
)
accesslog = os.environ.get("DMPORTAL_ACCESS_LOG", "-") or None


class RedactingLogger(Logger):
    """gunicorn's own logger, with key-shaped text redacted from every access-log field.

    The access log prints each request line and Referer as received, before dmportal sees the
    request: a key that someone pasted into a filter box travels in the URL's query string
    (dmportal refuses to search for it, but the line is already written). Same rule as
    dmportal's own log lines (dmportal.core.logging.redact)."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            name: redact(value) if isinstance(value, str) else value
            for name, value in atoms.items()
        }


logger_class = RedactingLogger
# No runtime control socket: dmportal does not use `gunicornc`, and its default path is shared
# by every gunicorn of the user, so two instances on one host would fight over it.
control_socket_disable = True
# The heartbeat file each worker touches on every loop: in memory, not on a disk where each
# touch is an inode write (gunicorn's own advice for containers).
if os.path.isdir("/dev/shm"):  # noqa: S108 - a file only this worker opens, already unlinked
    worker_tmp_dir = "/dev/shm"  # noqa: S108


def when_ready(server):
    """Say where dmportal listens. With SO_REUSEPORT each worker opens its own socket, so
    gunicorn's own "Listening at:" line has no address to show."""
    addresses = ", ".join(f"http://{address}" for address in server.cfg.bind)
    sockets = "one socket per worker" if server.cfg.reuse_port else "one shared socket"
    server.log.info("dmportal listening at: %s (%s)", addresses, sockets)


def post_worker_init(worker):
    """Once the worker has loaded dmportal: move everything loaded so far out of the garbage
    collector's reach. A full collection otherwise walks those ~70,000 objects (Django, the
    templates, the URL configuration) again and again, ~15 ms each time, during some
    unlucky request and with all of the worker's threads stopped."""
    gc.collect()
    gc.freeze()
